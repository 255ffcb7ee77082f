// A witness keeps the signed heads it has seen of one journal, outside the operator's
// reach, and refuses a head that does not extend the last one it saw: the check a
// Certificate Transparency monitor makes. With a hash chain, "extends" means the new
// chain still holds the old head: entry #old.seq of the journal that signed the new
// head must still hash to old.hash. A rollback of the file (restoring a copy, or
// cutting the last commands off) fails that check, and `audit verify --witness` fails
// on it too, since the recorded head is no longer in the store's history.
import { createPublicKey, verify } from "node:crypto";
import { headPayload } from "./hash.js";
import { fingerprintOfKey } from "./keys.js";

/** A signed head as the store serves it (GET /v1/journal/head). */
export interface Head {
  readonly seq: number;
  readonly hash: string;
  readonly at: number;
  /** The seq of the signed head before it. */
  readonly prev: number;
  /** base64 Ed25519 over headPayload(seq, hash, at, prev). */
  readonly signature: string;
  readonly fingerprint: string;
}

/** A head the witness accepted, and when it saw it. */
export interface WitnessedRecord extends Head {
  readonly seenAt: string;
}

/** The witness's state file. */
export interface WitnessState {
  readonly format: "standing-witness/1";
  /** Where heads are fetched from (a URL or a database). */
  readonly source: string;
  /** The journal key (SPKI PEM) the witness trusts: pinned on its first run. */
  readonly publicKey: string;
  readonly fingerprint: string;
  /** Every head accepted, oldest first. */
  readonly heads: readonly WitnessedRecord[];
}

export type WitnessVerdict = { readonly ok: true; readonly extended: boolean } | { readonly ok: false; readonly message: string };

/** Does `head`'s signature verify with the key? */
export function headSignatureValid(head: Head, publicKeyPem: string): boolean {
  try {
    return verify(null, Buffer.from(headPayload(head.seq, head.hash, head.at, head.prev), "utf8"), createPublicKey(publicKeyPem), Buffer.from(head.signature, "base64"));
  } catch {
    return false;
  }
}

/** Reads and checks a state file's JSON; throws a readable Error on anything else. */
export function parseWitnessState(text: string, file: string): WitnessState {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not a witness state file (not JSON)`);
  }
  const s = o as Partial<WitnessState>;
  if (!s || s.format !== "standing-witness/1" || typeof s.publicKey !== "string" || !Array.isArray(s.heads)) throw new Error(`${file} is not a witness state file (format standing-witness/1)`);
  for (const h of s.heads) {
    if (!h || !Number.isSafeInteger(h.seq) || typeof h.hash !== "string" || !/^[0-9a-f]{64}$/.test(h.hash)) throw new Error(`${file}: a recorded head is malformed`);
  }
  return s as WitnessState;
}

/**
 * Whether `head` may follow what the witness saw. `hashAtLast` is the hash the source
 * gives now for the entry at the last recorded head's seq (undefined: it has none).
 */
export function checkAdvance(state: WitnessState, head: Head, hashAtLast: string | undefined): WitnessVerdict {
  if (!headSignatureValid(head, state.publicKey)) {
    const other = head.fingerprint !== state.fingerprint ? ` (it names key ${head.fingerprint.slice(0, 16)}…, the witness pinned ${state.fingerprint.slice(0, 16)}…)` : "";
    return { ok: false, message: `head #${head.seq} is not signed by the journal key the witness pinned${other}` };
  }
  const last = state.heads[state.heads.length - 1];
  if (!last) return { ok: true, extended: true };
  if (head.seq < last.seq) return { ok: false, message: `head #${head.seq} is older than head #${last.seq} (${last.hash.slice(0, 16)}…) seen ${last.seenAt}: the journal was rolled back` };
  if (head.seq === last.seq) {
    if (head.hash !== last.hash) return { ok: false, message: `head #${head.seq} has hash ${head.hash.slice(0, 16)}…, but the witness saw ${last.hash.slice(0, 16)}… at the same seq on ${last.seenAt}: the journal was forked` };
    return { ok: true, extended: false };
  }
  if (hashAtLast !== last.hash) {
    return {
      ok: false,
      message: `head #${head.seq} does not extend head #${last.seq} seen ${last.seenAt}: entry #${last.seq} now ${hashAtLast === undefined ? "is missing" : `hashes to ${hashAtLast.slice(0, 16)}…`}, not ${last.hash.slice(0, 16)}…: the journal was rolled back and rewritten`,
    };
  }
  return { ok: true, extended: true };
}

/** A new state file for a source, pinning its key. */
export function newWitnessState(source: string, publicKeyPem: string): WitnessState {
  return { format: "standing-witness/1", source, publicKey: publicKeyPem, fingerprint: fingerprintOfKey(publicKeyPem), heads: [] };
}

/** The state with `head` recorded. */
export function recordHead(state: WitnessState, head: Head, seenAt: Date): WitnessState {
  const rec: WitnessedRecord = { seq: head.seq, hash: head.hash, at: head.at, prev: head.prev, signature: head.signature, fingerprint: head.fingerprint, seenAt: seenAt.toISOString() };
  return { ...state, heads: [...state.heads, rec] };
}
