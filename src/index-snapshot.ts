// A checkpoint's decision index kept on disk, so that a restart reads one file instead of
// every state with a measure (1 M restricted subjects: about 25 s from SQLite, a second
// or two from the file). The file is a cache, never the truth: it names the change feed
// position it is current to, and a start from it applies every change after that
// position before it answers. It is signed with the store's journal key, so a file
// altered or written by anyone without that key is refused (and the index is read from
// the store as usual), as is one too old for the feed to cover, or from another store.
//
// Layout: a first line naming the format, a second line of JSON (the header), then the
// index image's arrays, raw, in the order the header lists them.
import { createHash, verify } from "node:crypto";
import { open, readFile, rename, rm } from "node:fs/promises";
import { canonicalJson } from "./canonical.js";
import { DecisionIndex, type IndexImage } from "./engine/decision-index.js";
import { parsePublicKey } from "./journal/keys.js";
import type { JournalPort } from "./store/types.js";

const FORMAT = "standing-index-snapshot/1";
/** The outbox keeps a week of changes (both stores): a file older than this margin inside it is not used. */
export const SNAPSHOT_MAX_AGE_MS = 6 * 24 * 3600_000;
/** Further behind the feed than this, reading the states again is as quick as applying the changes. */
export const SNAPSHOT_MAX_BEHIND = 200_000;

type ArrayName = "words" | "slots" | "filter" | "subjects" | "blocks";
const ARRAYS: readonly ArrayName[] = ["words", "slots", "filter", "subjects", "blocks"];

interface Header {
  readonly format: typeof FORMAT;
  /** The change feed position the index is current to. */
  readonly position: number;
  readonly writtenAt: number;
  readonly meta: IndexImage["meta"];
  /** Byte length of each array, in ARRAYS order. */
  readonly lengths: Record<ArrayName, number>;
  /** sha256 of the arrays' bytes, in order. */
  readonly digest: string;
  readonly fingerprint: string;
  /**
   * The journal's head when the file was written: the store it came from has that hash at
   * that seq. A file beside a database that was replaced (a new one, an older backup)
   * fails this even where the key file was kept.
   */
  readonly journal: { readonly seq: number; readonly hash: string } | null;
}

interface SignedHeader extends Header {
  readonly signature: string;
}

/** The reason given when there is no file yet: the ordinary first start, not worth a word. */
export const NO_SNAPSHOT_YET = "none written yet";

/** Why a snapshot was not used (said once at start), or what it gave. */
export type SnapshotRead = { readonly ok: true; readonly index: DecisionIndex; readonly position: number; readonly writtenAt: number } | { readonly ok: false; readonly why: string };

function bytesOf(a: Int32Array | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** What the signature covers: the header without the signature, as canonical JSON. */
function signedBytes(h: Header): Buffer {
  return Buffer.from(canonicalJson(h), "utf8");
}

/**
 * Writes the index as of feed `position` to `file` (a temporary file renamed over it, so
 * a reader never sees half a file). The image is copied before this returns its promise,
 * so the index may change while the file is written.
 */
export function writeIndexSnapshot(file: string, index: DecisionIndex, position: number, journal: JournalPort, now: number = Date.now()): Promise<void> {
  // Copied now, synchronously: the caller's position is the one this image is current to.
  const img = index.image();
  return writeImage(file, img, position, journal, now);
}

async function writeImage(file: string, img: IndexImage, position: number, journal: JournalPort, now: number): Promise<void> {
  const head = await journal.head();
  const parts = ARRAYS.map((name) => bytesOf(img[name]));
  const hash = createHash("sha256");
  for (const p of parts) hash.update(p);
  const signer = journal.signer();
  const header: Header = {
    format: FORMAT,
    position,
    writtenAt: now,
    meta: img.meta,
    lengths: Object.fromEntries(ARRAYS.map((name, i) => [name, (parts[i] as Uint8Array).byteLength])) as Record<ArrayName, number>,
    digest: hash.digest("hex"),
    fingerprint: signer.fingerprint,
    journal: head ? { seq: head.seq, hash: head.hash } : null,
  };
  const signed: SignedHeader = { ...header, signature: signer.sign(signedBytes(header)) };
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.write(`${FORMAT}\n${JSON.stringify(signed)}\n`);
    for (const p of parts) await fh.write(p);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Reads `file` and restores the index from it, if it is whole, signed by this store's
 * journal key, at most SNAPSHOT_MAX_AGE_MS old, and neither ahead of the feed's end
 * `feedEnd` nor more than SNAPSHOT_MAX_BEHIND behind it. Otherwise says why not.
 */
export async function readIndexSnapshot(file: string, journal: JournalPort, feedEnd: number, now: number = Date.now()): Promise<SnapshotRead> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    return { ok: false, why: (e as NodeJS.ErrnoException).code === "ENOENT" ? NO_SNAPSHOT_YET : `unreadable (${(e as Error).message})` };
  }
  const first = buf.indexOf(10);
  const second = first < 0 ? -1 : buf.indexOf(10, first + 1);
  if (second < 0 || buf.toString("utf8", 0, first) !== FORMAT) return { ok: false, why: "not a snapshot of this format" };
  let h: SignedHeader;
  try {
    h = JSON.parse(buf.toString("utf8", first + 1, second)) as SignedHeader;
  } catch {
    return { ok: false, why: "its header is not JSON" };
  }
  if (typeof h !== "object" || h === null || Array.isArray(h)) return { ok: false, why: "its header is not a JSON object" };
  const { signature, ...header } = h;
  const signedByStore = (): boolean => {
    try {
      return typeof signature === "string" && verify(null, signedBytes(header), parsePublicKey(journal.publicKey().publicKey), Buffer.from(signature, "base64"));
    } catch {
      return false;
    }
  };
  if (!signedByStore()) return { ok: false, why: "not signed by this store's journal key" };
  if (!(now - h.writtenAt <= SNAPSHOT_MAX_AGE_MS)) return { ok: false, why: `written ${new Date(h.writtenAt).toISOString()}, older than the change feed is kept` };
  if (!(h.position <= feedEnd)) return { ok: false, why: `at feed position ${h.position}, past the store's ${feedEnd} (another store, or a restored backup)` };
  if (feedEnd - h.position > SNAPSHOT_MAX_BEHIND) return { ok: false, why: `${feedEnd - h.position} changes behind the feed` };
  const lineage = h.journal === null ? await journal.head() : await journal.hashAt(h.journal.seq);
  if (h.journal === null ? lineage !== undefined : lineage !== h.journal.hash) return { ok: false, why: "from another store: its journal differs from this one's" };
  const body = buf.subarray(second + 1);
  if (createHash("sha256").update(body).digest("hex") !== h.digest) return { ok: false, why: "its contents do not match their digest" };
  const arrays: Partial<Record<ArrayName, Int32Array | Float64Array>> = {};
  let at = 0;
  for (const name of ARRAYS) {
    const n = h.lengths[name];
    if (!Number.isInteger(n) || n < 0 || at + n > body.length) return { ok: false, why: "its arrays do not fit the file" };
    // Copied into a buffer of their own: the file's bytes need not be aligned for a typed array.
    const copy = new ArrayBuffer(n);
    new Uint8Array(copy).set(body.subarray(at, at + n));
    arrays[name] = name === "subjects" ? new Float64Array(copy) : new Int32Array(copy);
    at += n;
  }
  try {
    const index = DecisionIndex.fromImage({ meta: h.meta, words: arrays.words as Int32Array, slots: arrays.slots as Int32Array, filter: arrays.filter as Int32Array, subjects: arrays.subjects as Float64Array, blocks: arrays.blocks as Int32Array });
    return { ok: true, index, position: h.position, writtenAt: h.writtenAt };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
}
