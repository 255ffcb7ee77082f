// Creating, revoking and checking API keys. Keys are shown once and stored hashed.
import { StandingError } from "../errors.js";
import type { KeyStore } from "../store/types.js";
import type { CompiledPolicy } from "../policy/types.js";
import { hashesEqual, hashKey, keyIdOf, newKey, principalFromRow, roles, type KeyRow, type Principal, type Role } from "./principals.js";

export interface NewKeyRequest {
  readonly role: string;
  readonly label?: string;
  readonly source?: string;
  readonly contexts?: readonly string[];
  readonly subjectId?: number;
}

/** Validates a key request against the policy in force and stores the hashed key. */
export function createKey(store: KeyStore, policy: CompiledPolicy | undefined, req: NewKeyRequest, at: number): { key: string; row: KeyRow } {
  if (!(roles as readonly string[]).includes(req.role)) {
    throw new StandingError("bad-request", `role "${req.role}" is not one of ${roles.join(", ")}`, { role: req.role });
  }
  const role = req.role as Role;
  const aKey = `${/^[aeiou]/.test(role) ? "an" : "a"} ${role} key`; // "an admin key", "an auditor key"
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw new StandingError("bad-request", `${aKey} needs ${what}`, { role });
  };
  const refuse = (present: boolean, what: string): void => {
    if (present) throw new StandingError("bad-request", `${aKey} takes no ${what}`, { role });
  };
  refuse(role !== "source" && req.source !== undefined, "--source");
  refuse(role !== "checkpoint" && (req.contexts?.length ?? 0) > 0, "--contexts");
  refuse(role !== "subject" && req.subjectId !== undefined, "--subject");
  if (role === "source") {
    need(req.source !== undefined && req.source.length > 0, "--source ID");
    const known = policy ? [...policy.records.values()].some((r) => r.sources.includes(req.source as string)) : true;
    if (!known) throw new StandingError("bad-request", `no record type of ${policy?.ref} may be submitted by source "${req.source}"`, { source: req.source });
  }
  if (role === "checkpoint") {
    need((req.contexts?.length ?? 0) > 0, "--contexts a,b");
    for (const c of req.contexts ?? []) {
      if (policy && !policy.contexts.has(c)) throw new StandingError("unknown-context", `policy ${policy.ref} has no context "${c}"`, { context: c });
    }
  }
  if (role === "subject") need(req.subjectId !== undefined, "--subject SCHEME:VALUE");
  const k = newKey();
  const row: KeyRow = {
    keyId: k.keyId,
    hash: k.hash,
    role,
    label: req.label ?? "",
    source: role === "source" ? (req.source as string) : null,
    contexts: role === "checkpoint" ? [...new Set(req.contexts)] : [],
    subjectId: role === "subject" ? (req.subjectId as number) : null,
    createdAt: at,
    revokedAt: null,
  };
  store.addKey(row);
  return { key: k.key, row };
}

/**
 * Resolves the Authorization header to a principal. No header: anonymous. A header
 * that is malformed, unknown or revoked: unauthorized, on every route.
 */
export function authenticate(store: KeyStore, header: string | undefined): Principal {
  if (header === undefined || header === "") return { kind: "anonymous" };
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw new StandingError("unauthorized", "the Authorization header must be: Bearer <key>");
  const key = m[1] as string;
  const keyId = keyIdOf(key);
  const row = keyId ? store.keyById(keyId) : undefined;
  if (!row || !hashesEqual(row.hash, hashKey(key))) throw new StandingError("unauthorized", "unknown API key");
  if (row.revokedAt !== null) throw new StandingError("unauthorized", `API key ${row.keyId} was revoked`, { keyId: row.keyId });
  return principalFromRow(row);
}
