// Creating, revoking and checking API keys. Keys are shown once and stored hashed.
import { StandingError } from "../errors.js";
import type { StoreReads, StoreTx } from "../store/types.js";
import type { CompiledPolicy } from "../policy/types.js";
import { hash, timingSafeEqual } from "node:crypto";
import { anonymous, keyIdOf, newKey, principalFromRow, roles, type KeyRow, type Principal, type Role } from "../auth/principals.js";

export interface NewKeyRequest {
  readonly role: string;
  readonly label?: string;
  readonly source?: string;
  readonly contexts?: readonly string[];
  readonly subjectId?: number;
}

/** Validates a key request against the policy in force and stores the hashed key. */
export async function createKey(tx: StoreTx, policy: CompiledPolicy | undefined, req: NewKeyRequest, at: number): Promise<{ key: string; row: KeyRow }> {
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
  await tx.addKey(row);
  await tx.emit({ kind: "key", ref: row.keyId });
  return { key: k.key, row };
}

/** Revokes a key, in the caller's transaction; other processes drop it from their caches through the change feed. */
export async function revokeKey(tx: StoreTx, keyId: string, at: number): Promise<boolean> {
  const revoked = await tx.revokeKey(keyId, at);
  if (revoked) await tx.emit({ kind: "key", ref: keyId });
  return revoked;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

interface CachedKey {
  readonly row: KeyRow;
  /** The stored SHA-256, decoded once. */
  readonly hash: Buffer;
  readonly principal: Principal;
  /** The secret that matched the hash, once one has: later requests are compared to it. */
  verified?: string;
}

/**
 * Authenticates keys against one store, remembering the key rows it has read. A lookup
 * by SQL plus the hex decoding was about a tenth of a check's cost over HTTP; the cache
 * turns it into a Map lookup. The first secret presented for a cached key is hashed and
 * compared in constant time with the stored hash; once one has matched, it is kept in
 * the entry and later requests are compared with it, also in constant time, without
 * hashing (the hash was a twentieth of a check over HTTP). Only keys that exist are
 * remembered, one secret each, so the cache holds at most one entry per stored key and
 * nothing an unknown key could fill; a revoked or changed key leaves the cache with its
 * secret.
 *
 * The cache is a projection of the change feed: a key created or revoked by this
 * process is dropped at once (`forget`), and one revoked by another process when the
 * feed delivers its event, within the feed's bound (ARCHITECTURE.md).
 */
export class Authenticator {
  private readonly cache = new Map<string, CachedKey>();

  constructor(private readonly store: Pick<StoreReads, "keyById">) {}

  async authenticate(header: string | undefined): Promise<Principal> {
    const now = this.authenticateCached(header);
    if (now !== undefined) return now;
    // Only a well-formed key with an id that is not cached gets here.
    const { key, keyId } = presented(header as string);
    return judge(key, await this.load(keyId as string));
  }

  /**
   * The same answer without a promise when it needs no store read (no key, a malformed
   * header, a key in the cache): what every request of a busy checkpoint takes.
   * Undefined when the key must be read first (then call `authenticate`).
   */
  authenticateCached(header: string | undefined): Principal | undefined {
    if (header === undefined || header === "") return anonymous;
    const { key, keyId } = presented(header);
    if (keyId === undefined) return judge(key, undefined);
    const k = this.cache.get(keyId);
    return k === undefined ? undefined : judge(key, k);
  }

  /**
   * The principal of a key by its id, through the cache, without its secret: what a web
   * session (opened with the secret) reads on every request. Undefined once revoked.
   */
  async byKeyId(keyId: string): Promise<(Principal & { kind: "key" }) | undefined> {
    const k = this.cache.get(keyId) ?? (await this.load(keyId));
    if (!k || k.row.revokedAt !== null || k.principal.kind !== "key") return undefined;
    return k.principal;
  }

  /** A key changed (created, revoked): read it again next time. */
  forget(keyId: string): void {
    this.cache.delete(keyId);
    this.forgotten++;
  }

  clear(): void {
    this.cache.clear();
  }

  /** Counts `forget` calls: a row read while one happened may be older than the change it reported. */
  private forgotten = 0;

  private async load(keyId: string): Promise<CachedKey | undefined> {
    const before = this.forgotten;
    const k = cached(await this.store.keyById(keyId));
    // Not remembered if a change arrived during the read: the next request reads again.
    if (k !== undefined && this.forgotten === before) this.cache.set(keyId, k);
    return k;
  }
}

/** The key an Authorization header presents, and the key id it names (undefined when it names none). */
function presented(header: string): { key: string; keyId: string | undefined } {
  const m = BEARER.exec(header);
  if (!m) throw new StandingError("unauthorized", "the Authorization header must be: Bearer <key>");
  const key = m[1] as string;
  return { key, keyId: keyIdOf(key) };
}

function judge(key: string, k: CachedKey | undefined): Principal {
  if (!k || !matches(k, key)) throw new StandingError("unauthorized", "unknown API key");
  if (k.row.revokedAt !== null) throw new StandingError("unauthorized", `API key ${k.row.keyId} was revoked`, { keyId: k.row.keyId });
  return k.principal;
}

/**
 * The presented key against the secret that matched this entry before, or, until one
 * has, against its hash. Both compare in constant time. SHA-256 maps distinct secrets to
 * distinct hashes, so a secret unequal to the verified one is refused without hashing.
 */
function matches(k: CachedKey, key: string): boolean {
  if (k.verified !== undefined) return sameSecret(k.verified, key);
  if (!hashMatches(k.hash, key)) return false;
  k.verified = key;
  return true;
}

/** Equal strings, compared over their whole length whatever differs (the length of a key is no secret). */
function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The presented key against a cached row's hash, decoded from hex once when cached; constant time. */
function hashMatches(stored: Buffer, key: string): boolean {
  const presented = hash("sha256", key, "buffer");
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}

function cached(row: KeyRow | undefined): CachedKey | undefined {
  return row === undefined ? undefined : { row, hash: Buffer.from(row.hash, "hex"), principal: principalFromRow(row) };
}
