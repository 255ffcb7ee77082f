// Creating, revoking and checking API keys. Keys are shown once and stored hashed.
import { StandingError } from "../errors.js";
import type { KeyStore } from "../store/types.js";
import type { CompiledPolicy } from "../policy/types.js";
import { createHash, timingSafeEqual } from "node:crypto";
import { anonymous, keyIdOf, newKey, principalFromRow, roles, type KeyRow, type Principal, type Role } from "./principals.js";

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
  return authenticatorFor(store).authenticate(header);
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

interface CachedKey {
  readonly row: KeyRow;
  /** The stored SHA-256, decoded once. */
  readonly hash: Buffer;
  readonly principal: Principal;
}

/**
 * Authenticates keys against one store, remembering the key rows it has read for as
 * long as the store can prove that no key changed since. A lookup by SQL plus the hex
 * decoding was about a tenth of a check's cost over HTTP; the cache turns it into a
 * hash and a Map lookup. The presented key is still hashed and compared in constant
 * time on every request, and only keys that exist are remembered, so the cache holds
 * at most one entry per stored key and nothing an unknown key could fill.
 *
 * Revocation stays immediate: before every lookup the store is asked (cheaply) whether
 * anything may have changed, and any change at all drops the whole cache. A store that
 * cannot answer that question is read on every request, as before.
 */
export class Authenticator {
  private readonly cache = new Map<string, CachedKey>();

  constructor(
    private readonly store: KeyStore,
    /** True when the keys may have changed since the last call; undefined: never cache. */
    private readonly changed: (() => boolean) | undefined = changeProbeOf(store),
  ) {}

  authenticate(header: string | undefined): Principal {
    if (header === undefined || header === "") return anonymous;
    const m = BEARER.exec(header);
    if (!m) throw new StandingError("unauthorized", "the Authorization header must be: Bearer <key>");
    const key = m[1] as string;
    const keyId = keyIdOf(key);
    const k = keyId === undefined ? undefined : this.lookup(keyId);
    if (!k || !hashMatches(k.hash, key)) throw new StandingError("unauthorized", "unknown API key");
    if (k.row.revokedAt !== null) throw new StandingError("unauthorized", `API key ${k.row.keyId} was revoked`, { keyId: k.row.keyId });
    return k.principal;
  }

  private lookup(keyId: string): CachedKey | undefined {
    if (this.changed === undefined) return cached(this.store.keyById(keyId));
    if (this.changed()) this.cache.clear();
    let k = this.cache.get(keyId);
    if (k === undefined) {
      k = cached(this.store.keyById(keyId));
      if (k !== undefined) this.cache.set(keyId, k);
    }
    return k;
  }
}

/** The presented key against a cached row's hash, decoded from hex once when cached; constant time. */
function hashMatches(stored: Buffer, key: string): boolean {
  const presented = createHash("sha256").update(key).digest();
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}

function cached(row: KeyRow | undefined): CachedKey | undefined {
  return row === undefined ? undefined : { row, hash: Buffer.from(row.hash, "hex"), principal: principalFromRow(row) };
}

const authenticators = new WeakMap<KeyStore, Authenticator>();

/** The one authenticator of a store, so every caller (API, web pages) shares its cache. */
export function authenticatorFor(store: KeyStore): Authenticator {
  let a = authenticators.get(store);
  if (a === undefined) {
    a = new Authenticator(store);
    authenticators.set(store, a);
  }
  return a;
}

interface SqliteLike {
  prepare(sql: string): { pluck(): { get(): unknown } };
}

/**
 * For a store on a better-sqlite3 connection (`store.db`): a probe that answers whether
 * any row may have changed since its last call. total_changes() counts every row this
 * connection has changed (so a revocation through the same store is seen on the very
 * next request; so is every decision-log flush, which merely re-reads a key or two per
 * flush), and PRAGMA data_version changes whenever another connection commits (the CLI
 * revoking a key while the server runs). Together about 3 µs, against ~25 µs for the
 * lookup it saves. Undefined for any other store.
 */
export function changeProbeOf(store: KeyStore): (() => boolean) | undefined {
  const db = (store as { db?: unknown }).db;
  if (typeof db !== "object" || db === null || typeof (db as { prepare?: unknown }).prepare !== "function") return undefined;
  const own = (db as SqliteLike).prepare("SELECT total_changes()").pluck();
  const others = (db as SqliteLike).prepare("PRAGMA data_version").pluck();
  let lastOwn: unknown;
  let lastOthers: unknown;
  return () => {
    const o = own.get();
    const d = others.get();
    if (o === lastOwn && d === lastOthers) return false;
    lastOwn = o;
    lastOthers = d;
    return true;
  };
}
