// The store a test runs on: SQLite unless STANDING_TEST_STORE=postgres, when the same
// test runs on a fresh PostgreSQL database of its own (created on first use, dropped by
// the run's global teardown, test/pg-setup.ts). Suites that should hold on both stores
// (the API, due process, the journal) take their store from here; `npm test` runs them
// twice (see package.json).
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { PgStore } from "./postgres/store.js";
import { SqliteStore } from "./sqlite/store.js";
import type { Store } from "./types.js";

export const testStoreKind: "sqlite" | "postgres" = process.env.STANDING_TEST_STORE === "postgres" ? "postgres" : "sqlite";

const adminUrl = process.env.STANDING_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** Every database of one run starts with this, so the teardown finds them all. */
export const testDatabasePrefix = `standing_t_${process.env.STANDING_TEST_RUN ?? String(process.pid)}_`;
let n = 0;

function urlOf(name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

function nameAt(path: string): string {
  return `${testDatabasePrefix}${createHash("sha256").update(path).digest("hex").slice(0, 16)}`;
}

function pgStore(name: string): PgStore {
  return new PgStore(urlOf(name), { keyFile: join(tmpdir(), `${name}.journal-key.pem`), poolSize: 4 });
}

/** A new, empty store: ":memory:" SQLite, or a PostgreSQL database of its own. */
export function testStore(): Store {
  if (testStoreKind === "sqlite") return new SqliteStore(":memory:");
  return pgStore(`${testDatabasePrefix}${process.pid}_${Date.now().toString(36)}_${n++}`);
}

/**
 * A store at a place: the SQLite file `path`, or the PostgreSQL database named after it,
 * so that two stores opened at one path share their data as two processes would.
 */
export function testStoreAt(path: string): Store {
  if (testStoreKind === "sqlite") return new SqliteStore(path);
  return pgStore(nameAt(path));
}

/** Runs one SQL statement on the store at `path` through a connection of its own, as another program would: no journal sees it. */
export async function sqlBehindTheBack(path: string, sql: string): Promise<void> {
  if (testStoreKind === "sqlite") {
    const db = new Database(path);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  const c = new pg.Client({ connectionString: urlOf(nameAt(path)) });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
