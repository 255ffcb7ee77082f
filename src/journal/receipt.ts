// Signed receipts: what a person affected holds as proof of what was decided about
// them, when, why, and under which journal head. A receipt is checkable with nothing
// but the journal's public key and standard Ed25519 tools (docs/journal.md, "Receipts").
//
//   {
//     "format": "standing-receipt/1",
//     "alg": "Ed25519",
//     "fingerprint": "<sha256 of the signing key's DER SubjectPublicKeyInfo, hex>",
//     "payload": "<base64 of the signed bytes>",
//     "signature": "<base64 Ed25519 signature over exactly those bytes>"
//   }
//
// The signed bytes are the UTF-8 of the RFC 8785 canonical JSON of the claims. The
// claims always have "receipt": "standing/1" (so a receipt can never be mistaken for a
// signed journal head, whose payload has other keys), "type", "id", "at" and "head".
import { createPublicKey, hash, verify } from "node:crypto";
import { canonicalJson } from "../canonical.js";
import { fingerprintOfKey } from "./keys.js";

export const RECEIPT_FORMAT = "standing-receipt/1";

/** A head as a receipt names it: the decision was made under the journal up to this entry. */
export interface ReceiptHead {
  readonly seq: number;
  readonly hash: string;
}

/** What a check receipt states. */
export interface CheckClaims {
  readonly type: "check";
  /** The decision id (the decision log's key). */
  readonly id: string;
  readonly subject: { readonly scheme: string; readonly value: string };
  readonly context: string;
  readonly answer: "allow" | "deny";
  readonly codes: readonly string[];
  readonly policy: string;
  readonly at: string;
  readonly head: ReceiptHead | null;
}

/** What a notice or statement receipt states: which document, about whom, and its digest. */
export interface DocumentClaims {
  readonly type: "notice" | "statement";
  readonly id: string;
  readonly subject: number;
  /** sha256 (hex) of the canonical JSON of the document the receipt accompanies. */
  readonly digest: string;
  readonly at: string;
  readonly head: ReceiptHead | null;
}

export type ReceiptClaims = CheckClaims | DocumentClaims;

export interface Receipt {
  readonly format: typeof RECEIPT_FORMAT;
  readonly alg: "Ed25519";
  readonly fingerprint: string;
  /** base64 of the claims' bytes. */
  readonly payload: string;
  /** base64 Ed25519 over the payload's bytes, or, in a batch, over batch.signed's bytes. */
  readonly signature: string;
  /** When signed in a batch: the signed root and this receipt's place under it. */
  readonly batch?: ReceiptBatch;
}

/**
 * A batch of receipts signed at once: a Merkle tree over their payloads, whose root is
 * signed. leaf = sha256(0x00 ‖ payload bytes); node = sha256(0x01 ‖ left ‖ right); a
 * node without a right sibling moves up a level unchanged.
 */
export interface ReceiptBatch {
  /** base64 of canonical JSON {"at", "receipts": "standing/1", "root", "size"}: what the signature covers. */
  readonly signed: string;
  /** This receipt's leaf index, 0-based. */
  readonly index: number;
  /** Sibling hashes (hex) from the leaf up, one per level where the node has a sibling. */
  readonly path: readonly string[];
}

export interface Signer {
  sign(bytes: Uint8Array): string;
  readonly fingerprint: string;
}

/** The exact bytes a receipt signs for these claims. */
export function receiptBytes(claims: ReceiptClaims): Buffer {
  return Buffer.from(receiptText(claims), "utf8");
}

function receiptText(claims: ReceiptClaims): string {
  return claims.type === "check" ? checkReceiptText(claims) : canonicalJson({ receipt: "standing/1", ...claims });
}

const str = JSON.stringify;

/**
 * The canonical JSON (RFC 8785) of a check receipt's claims, written out in its keys'
 * sorted order: every HTTP check signs one, and the general canonicaliser (a sort of
 * the keys of every object, a walk of every value) was a twentieth of the check path.
 * RFC 8785 writes strings and integers as JSON.stringify does, so only the order of the
 * keys needs spelling out; a property test holds it equal to canonicalJson.
 */
export function checkReceiptText(c: CheckClaims): string {
  let codes = "[";
  for (let i = 0; i < c.codes.length; i++) codes += (i === 0 ? "" : ",") + str(c.codes[i]);
  const head = c.head === null ? "null" : `{"hash":${str(c.head.hash)},"seq":${str(c.head.seq)}}`;
  return `{"answer":${str(c.answer)},"at":${str(c.at)},"codes":${codes}],"context":${str(c.context)},"head":${head},"id":${str(c.id)},"policy":${str(c.policy)},"receipt":"standing/1","subject":{"scheme":${str(c.subject.scheme)},"value":${str(c.subject.value)}},"type":"check"}`;
}

export function signReceipt(claims: ReceiptClaims, signer: Signer): Receipt {
  const bytes = receiptBytes(claims);
  return { format: RECEIPT_FORMAT, alg: "Ed25519", fingerprint: signer.fingerprint, payload: bytes.toString("base64"), signature: signer.sign(bytes) };
}

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(payload: Uint8Array): Buffer {
  return hash("sha256", Buffer.concat([LEAF, payload]), "buffer");
}

// One-shot hashes: a Hash object per leaf and node was a few per cent of the HTTP check path.
function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return hash("sha256", Buffer.concat([NODE, left, right]), "buffer");
}

/** The bytes a batch's signature covers. */
export function batchBytes(root: string, size: number, at: number): Buffer {
  return Buffer.from(`{"at":${String(at)},"receipts":"standing/1","root":${JSON.stringify(root)},"size":${String(size)}}`, "utf8");
}

/** Signs many claims with one signature: each receipt carries the signed root and its path to it. */
export function signReceiptBatch(batch: readonly ReceiptClaims[], signer: Signer, at: number): Receipt[] {
  // Each payload with the leaf's 0x00 in front (NUL is one byte in UTF-8): hashed as it is, sent without it.
  const framed = batch.map((c) => Buffer.from("\0" + receiptText(c), "utf8"));
  const levels: Buffer[][] = [framed.map((f) => hash("sha256", f, "buffer"))];
  for (let level = levels[0] as Buffer[]; level.length > 1; ) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? nodeHash(level[i] as Buffer, level[i + 1] as Buffer) : (level[i] as Buffer));
    levels.push(up);
    level = up;
  }
  const root = (levels[levels.length - 1] as Buffer[])[0] as Buffer;
  const signed = batchBytes(root.toString("hex"), framed.length, at);
  const signature = signer.sign(signed);
  const signedText = signed.toString("base64");
  // A node's hex is on the path of every leaf under its sibling: made once.
  const hex = levels.map((l) => new Array<string | undefined>(l.length));
  return framed.map((f, index) => {
    const path: string[] = [];
    let i = index;
    for (let l = 0; l < levels.length - 1; l++) {
      const level = levels[l] as Buffer[];
      const sibling = i % 2 === 1 ? i - 1 : i + 1;
      if (sibling < level.length) {
        const h = hex[l] as (string | undefined)[];
        path.push((h[sibling] ??= (level[sibling] as Buffer).toString("hex")));
      }
      i >>= 1;
    }
    return { format: RECEIPT_FORMAT, alg: "Ed25519", fingerprint: signer.fingerprint, payload: f.toString("base64", 1), signature, batch: { signed: signedText, index, path } };
  });
}

/** The root a leaf's path leads to in a tree of `size` leaves; null when the path does not fit. */
export function rootOf(leaf: Buffer, index: number, size: number, path: readonly string[]): Buffer | null {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return null;
  let h = leaf;
  let i = index;
  let n = size;
  let k = 0;
  while (n > 1) {
    if (i % 2 === 1) {
      const s = path[k++];
      if (s === undefined || !/^[0-9a-f]{64}$/.test(s)) return null;
      h = nodeHash(Buffer.from(s, "hex"), h);
    } else if (i + 1 < n) {
      const s = path[k++];
      if (s === undefined || !/^[0-9a-f]{64}$/.test(s)) return null;
      h = nodeHash(h, Buffer.from(s, "hex"));
    }
    i >>= 1;
    n = (n + 1) >> 1;
  }
  return k === path.length ? h : null;
}

export type ReceiptCheck =
  | { readonly ok: true; readonly claims: ReceiptClaims & { readonly receipt: "standing/1" }; readonly fingerprint: string }
  | { readonly ok: false; readonly message: string };

/**
 * Verifies a receipt (the object, or JSON text holding it, alone or as the `receipt`
 * field of a check answer, notice or statement) against a public key (SPKI PEM).
 */
export function verifyReceipt(input: unknown, publicKeyPem: string): ReceiptCheck {
  let o = input;
  if (typeof o === "string") {
    try {
      o = JSON.parse(o);
    } catch {
      return { ok: false, message: "not JSON" };
    }
  }
  if (o && typeof o === "object" && "receipt" in o && typeof (o as { receipt: unknown }).receipt === "object") o = (o as { receipt: unknown }).receipt;
  const r = o as Partial<Receipt> | null;
  if (!r || typeof r !== "object" || r.format !== RECEIPT_FORMAT || typeof r.payload !== "string" || typeof r.signature !== "string") {
    return { ok: false, message: `not a receipt (format ${RECEIPT_FORMAT} with payload and signature)` };
  }
  let key;
  try {
    key = createPublicKey(publicKeyPem);
  } catch (e) {
    return { ok: false, message: `the public key cannot be read: ${(e as Error).message}` };
  }
  const fingerprint = fingerprintOfKey(key);
  const bytes = Buffer.from(r.payload, "base64");
  let signedBytes = bytes;
  if (r.batch !== undefined) {
    const b = r.batch as Partial<ReceiptBatch> | null;
    if (!b || typeof b.signed !== "string" || !Array.isArray(b.path) || typeof b.index !== "number") return { ok: false, message: "the receipt's batch is malformed" };
    signedBytes = Buffer.from(b.signed, "base64");
    let signed: { root?: unknown; size?: unknown; receipts?: unknown };
    try {
      signed = JSON.parse(signedBytes.toString("utf8")) as typeof signed;
    } catch {
      return { ok: false, message: "the receipt's signed batch root is not JSON" };
    }
    if (signed.receipts !== "standing/1" || typeof signed.root !== "string" || typeof signed.size !== "number") return { ok: false, message: "the receipt's signed batch root is malformed" };
    const root = rootOf(leafHash(bytes), b.index, signed.size, b.path);
    if (!root || root.toString("hex") !== signed.root) return { ok: false, message: "the payload is not under the signed batch root: the receipt was altered" };
  }
  let good: boolean;
  try {
    good = verify(null, signedBytes, key, Buffer.from(r.signature, "base64"));
  } catch {
    good = false;
  }
  if (!good) {
    return { ok: false, message: r.fingerprint && r.fingerprint !== fingerprint ? `the receipt names key ${r.fingerprint.slice(0, 16)}…, not ${fingerprint.slice(0, 16)}…, and its signature does not verify with the key given` : "the signature does not verify: the receipt was altered or not signed by this key" };
  }
  let claims: unknown;
  try {
    claims = JSON.parse(bytes.toString("utf8"));
  } catch {
    return { ok: false, message: "the signed payload is not JSON" };
  }
  const c = claims as { receipt?: unknown; type?: unknown };
  if (!c || c.receipt !== "standing/1" || (c.type !== "check" && c.type !== "notice" && c.type !== "statement")) return { ok: false, message: "the signed payload is not a Standing receipt" };
  return { ok: true, claims: claims as ReceiptClaims & { receipt: "standing/1" }, fingerprint };
}
