// Which store a URL names: `sqlite:PATH` (or a bare path, the default) for the embedded
// store. A PostgreSQL store is a sibling that will answer `postgres://…` here.
import { StandingError } from "../errors.js";
import type { VerifyReport } from "../journal/report.js";
import { auditSqliteFile, sqliteFileHead, type AuditFileOptions } from "./sqlite/audit.js";

export type { AuditFileOptions };
import { SqliteStore, type SqliteStoreOptions } from "./sqlite/store.js";
import type { Store } from "./types.js";

export interface StoreLocation {
  readonly kind: "sqlite";
  /** The file (":memory:" for a throwaway store). */
  readonly path: string;
}

export function parseStoreUrl(url: string): StoreLocation {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") throw new StandingError("bad-request", `store URL ${url} names no file`, { store: url });
    return { kind: "sqlite", path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new StandingError("bad-request", `no store for ${url.split(":")[0]}: URLs; this build keeps its data in SQLite (sqlite:PATH)`, { store: url });
  }
  return { kind: "sqlite", path: url };
}

export function openStore(url: string, options: SqliteStoreOptions = {}): Store {
  const loc = parseStoreUrl(url);
  switch (loc.kind) {
    case "sqlite":
      return new SqliteStore(loc.path, options);
    default: {
      const never: never = loc.kind;
      throw new Error(`unknown store kind ${String(never)}`);
    }
  }
}

/** Verifies a store as an auditor finds it, read-only (standing audit verify). */
export function auditStore(url: string, options: AuditFileOptions = {}): VerifyReport {
  const loc = parseStoreUrl(url);
  switch (loc.kind) {
    case "sqlite":
      return auditSqliteFile(loc.path, options);
    default: {
      const never: never = loc.kind;
      throw new Error(`unknown store kind ${String(never)}`);
    }
  }
}

/** The latest signed head of a store as found, read-only (standing audit witness DB). */
export function storeHead(url: string, since?: number): ReturnType<typeof sqliteFileHead> {
  const loc = parseStoreUrl(url);
  switch (loc.kind) {
    case "sqlite":
      return sqliteFileHead(loc.path, since);
    default: {
      const never: never = loc.kind;
      throw new Error(`unknown store kind ${String(never)}`);
    }
  }
}
