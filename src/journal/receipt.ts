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
import { createPublicKey, verify } from "node:crypto";
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
  readonly payload: string;
  readonly signature: string;
}

export interface Signer {
  sign(bytes: Uint8Array): string;
  readonly fingerprint: string;
}

/** The exact bytes a receipt signs for these claims. */
export function receiptBytes(claims: ReceiptClaims): Buffer {
  return Buffer.from(canonicalJson({ receipt: "standing/1", ...claims }), "utf8");
}

export function signReceipt(claims: ReceiptClaims, signer: Signer): Receipt {
  const bytes = receiptBytes(claims);
  return { format: RECEIPT_FORMAT, alg: "Ed25519", fingerprint: signer.fingerprint, payload: bytes.toString("base64"), signature: signer.sign(bytes) };
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
  let good: boolean;
  try {
    good = verify(null, bytes, key, Buffer.from(r.signature, "base64"));
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
