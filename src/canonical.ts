import { createHash } from "node:crypto";
import canonicalizeImport from "canonicalize";

// RFC 8785 canonical JSON: the same value always gives the same bytes, which is what
// makes "byte-identical state" and hash chains meaningful.
const canonicalizeFn = canonicalizeImport as unknown as (v: unknown) => string | undefined;

export function canonicalJson(value: unknown): string {
  const out = canonicalizeFn(value);
  if (out === undefined) throw new Error("value cannot be canonicalised");
  return out;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
