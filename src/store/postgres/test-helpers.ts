// For tests on PostgreSQL: a fresh, uniquely named database per test (or per file),
// created on the server the machine runs ($STANDING_TEST_PG, default the loopback one)
// and dropped afterwards. No test shares a database with another.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export const PG_ADMIN_URL = process.env.STANDING_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";

let n = 0;
const created: string[] = [];
const keyDir = mkdtempSync(join(tmpdir(), "standing-pg-keys-"));

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The URL of a database on the test server named `name`. */
export function urlOf(name: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates an empty database; returns its URL, its name and a key file of its own. */
export async function freshDatabase(label = "t"): Promise<{ url: string; name: string; keyFile: string }> {
  const name = `standing_${label.replace(/\W/g, "_").slice(0, 20)}_${process.pid}_${Date.now().toString(36)}_${n++}`.toLowerCase();
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`));
  created.push(name);
  return { url: urlOf(name), name, keyFile: join(keyDir, `${name}.pem`) };
}

/** Drops a database (ending its sessions). */
export async function dropDatabase(name: string): Promise<void> {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const i = created.indexOf(name);
  if (i >= 0) created.splice(i, 1);
}

/** Drops every database this process created and has not dropped yet (an afterEach). */
export async function dropDatabases(): Promise<void> {
  for (const name of [...created]) await dropDatabase(name);
}

/** Drops what is left and the key files (an afterAll). */
export async function dropCreated(): Promise<void> {
  await dropDatabases();
  rmSync(keyDir, { recursive: true, force: true });
}

/** Runs SQL as another program would: its own connection, no Standing in between. */
export async function behindTheBack(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}
