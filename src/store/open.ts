// Which store a URL names: `sqlite:PATH` (or a bare path, the default) for the embedded
// store, `postgres://…` (or `postgresql://…`) for the PostgreSQL store.
import { StandingError } from "../errors.js";
import type { VerifyReport } from "../journal/report.js";
import { auditSqliteFile, sqliteFileHead, type AuditFileOptions } from "./sqlite/audit.js";

export type { AuditFileOptions };
import { SqliteStore, type SqliteStoreOptions } from "./sqlite/store.js";
import { auditPostgres } from "./postgres/audit.js";
import { PgStore, type PgStoreOptions } from "./postgres/store.js";
import { PgLeaderLock } from "./postgres/leader-lock.js";
import type { LeaderLock, Store } from "./types.js";

export type StoreLocation =
  | {
      readonly kind: "sqlite";
      /** The file (":memory:" for a throwaway store). */
      readonly path: string;
    }
  | {
      readonly kind: "postgres";
      /** The connection URL, as given. */
      readonly url: string;
    };

export function parseStoreUrl(url: string): StoreLocation {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") throw new StandingError("bad-request", `store URL ${url} names no file`, { store: url });
    return { kind: "sqlite", path };
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new StandingError("bad-request", `store URL ${url.split("@").pop() ?? ""} is not a valid postgres:// URL`, { store: "postgres" });
    }
    return { kind: "postgres", url };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new StandingError("bad-request", `no store for ${url.split(":")[0]}: URLs; use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE`, { store: url.split(":")[0] });
  }
  return { kind: "sqlite", path: url };
}

export interface OpenStoreOptions extends SqliteStoreOptions {
  /** PostgreSQL: the journal key file (default $STANDING_JOURNAL_KEY_FILE, else under ./data). */
  readonly keyFile?: string;
  readonly postgres?: PgStoreOptions;
}

export function openStore(url: string, options: OpenStoreOptions = {}): Store {
  const loc = parseStoreUrl(url);
  switch (loc.kind) {
    case "sqlite":
      return new SqliteStore(loc.path, options);
    case "postgres":
      return new PgStore(loc.url, { ...options.postgres, ...(options.readOnly ? { readOnly: true } : {}), ...(options.keyFile !== undefined ? { keyFile: options.keyFile } : {}) });
    default: {
      const never: never = loc;
      throw new Error(`unknown store kind ${String(never)}`);
    }
  }
}

/**
 * The lock that makes one process of a cluster the one to act in `role`
 * (src/cluster/leader.ts). Only a PostgreSQL store can be shared by a cluster: an
 * embedded store is refused, naming what to use instead.
 */
export function openLeaderLock(url: string, role: string): LeaderLock {
  const loc = parseStoreUrl(url);
  switch (loc.kind) {
    case "sqlite":
      throw new StandingError("bad-request", `a cluster shares one PostgreSQL store; ${loc.path} is an embedded one (use --store postgres://…)`, { store: "sqlite" });
    case "postgres":
      return new PgLeaderLock(loc.url, role);
    default: {
      const never: never = loc;
      throw new Error(`unknown store kind ${String(never)}`);
    }
  }
}

/** Verifies a store as an auditor finds it, read-only (standing audit verify). */
export async function auditStore(url: string, options: AuditFileOptions = {}): Promise<VerifyReport> {
  const loc = parseStoreUrl(url);
  switch (loc.kind) {
    case "sqlite":
      return auditSqliteFile(loc.path, options);
    case "postgres":
      return auditPostgres(loc.url, options);
    default: {
      const never: never = loc;
      throw new Error(`unknown store kind ${String(never)}`);
    }
  }
}

/** The latest signed head of a store as found, read-only (standing audit witness DB). */
export async function storeHead(url: string, since?: number): Promise<ReturnType<typeof sqliteFileHead>> {
  const loc = parseStoreUrl(url);
  switch (loc.kind) {
    case "sqlite":
      return sqliteFileHead(loc.path, since);
    case "postgres": {
      const store = new PgStore(loc.url, { readOnly: true, poolSize: 1, createDatabase: false });
      try {
        await store.open();
        const head = await store.journal.head();
        let publicKey: string | null = null;
        try {
          publicKey = store.journal.publicKey().publicKey;
        } catch {
          // no key file here: the witness must be given the published key
        }
        return { head, ...(since !== undefined ? { since: { seq: since, hash: (await store.journal.hashAt(since)) ?? null } } : {}), publicKey };
      } finally {
        await store.close();
      }
    }
    default: {
      const never: never = loc;
      throw new Error(`unknown store kind ${String(never)}`);
    }
  }
}
export { copyStore } from "./postgres/copy.js";
