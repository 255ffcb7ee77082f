// Principals and least privilege. Every request is made by one principal; what it
// may do is decided here, in one table, and everything not granted is refused.
import { createHash, randomBytes } from "node:crypto";

export const roles = ["source", "checkpoint", "admin", "policy-author", "policy-approver", "reviewer", "auditor", "subject"] as const;
export type Role = (typeof roles)[number];
export const operatorRoles: readonly Role[] = ["admin", "policy-author", "policy-approver", "reviewer", "auditor"];

export type Principal =
  | { readonly kind: "anonymous" }
  | {
      readonly kind: "key";
      readonly keyId: string;
      readonly role: Role;
      readonly label: string;
      /** role source: the source id it submits as */
      readonly source: string | null;
      /** role checkpoint: the contexts it may ask about */
      readonly contexts: readonly string[];
      /** role subject: the subject whose file it may read */
      readonly subjectId: number | null;
    };

export const anonymous: Principal = { kind: "anonymous" };

export interface KeyRow {
  readonly keyId: string;
  readonly hash: string;
  readonly role: Role;
  readonly label: string;
  readonly source: string | null;
  readonly contexts: readonly string[];
  readonly subjectId: number | null;
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

/** A key is shown once; only its SHA-256 is stored. Keys are 256-bit random, so a plain hash is enough. */
export function newKey(): { key: string; keyId: string; hash: string } {
  const keyId = randomBytes(6).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  const key = `stk_${keyId}_${secret}`;
  return { key, keyId, hash: hashKey(key) };
}

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Extracts the key id from a presented key, or undefined if it is not shaped like one. */
export function keyIdOf(key: string): string | undefined {
  const m = /^stk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/.exec(key);
  return m ? m[1] : undefined;
}

export function principalFromRow(row: KeyRow): Principal {
  return { kind: "key", keyId: row.keyId, role: row.role, label: row.label, source: row.source, contexts: row.contexts, subjectId: row.subjectId };
}

export function describePrincipal(p: Principal): string {
  if (p.kind === "anonymous") return "anonymous";
  return `${p.role} key ${p.keyId}${p.label ? ` (${p.label})` : ""}`;
}
