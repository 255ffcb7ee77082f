// `standing store copy --from sqlite:PATH --to postgres://…`: moves an embedded database
// to PostgreSQL with everything it holds, the journal and its signed checkpoints
// included, row for row. The tables have the same columns and storage classes on both
// (postgres/schema.ts), so every row hashes the same and the copied journal verifies
// on the copy. The journal key goes along: the copy's checkpoints were signed with it.
//
// Resumable: rows are inserted in key order, in batches, ON CONFLICT DO NOTHING, and a
// table with a whole-number key starts after the highest key the copy already has, so
// a copy that was cut off (a crash, ^C) is finished by running the same command again.
// The copy is not a store to serve from until the command has finished: its journal is
// copied last.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { StandingError } from "../../errors.js";
import { parseStoreUrl } from "../open.js";
import { PgStore, defaultKeyFile, redact } from "./store.js";
import { keyFileFor } from "../sqlite/journal.js";

/** Tables in an order that satisfies every foreign key; the journal last. */
const ORDER = [
  "meta",
  "policies",
  "catalogues",
  "policy_proposals",
  "sessions",
  "ingest_outcomes",
  "subjects",
  "identifiers",
  "records",
  "quarantine",
  "states",
  "keys",
  "decisions",
  "screenings",
  "disputes",
  "dispute_actions",
  "applications",
  "notices",
  "outbox",
  "deliveries",
  "journal",
  "journal_checkpoints",
];
/**
 * Not copied: the change feed's outbox says what changed for processes following that
 * database, and partition fences order the evaluators of a cluster that has not started yet.
 */
const SKIPPED = new Set(["changes", "partition_fences"]);

export interface CopyProgress {
  readonly table: string;
  readonly done: number;
  readonly total: number;
}

export interface CopyOptions {
  /** The target's journal key file (default as the PostgreSQL store's). */
  readonly keyFile?: string;
  readonly batch?: number;
  readonly onProgress?: (p: CopyProgress) => void;
}

export interface CopyResult {
  readonly tables: Record<string, number>;
  readonly rows: number;
  readonly keyFile: string;
}

const qi = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export async function copyStore(fromUrl: string, toUrl: string, options: CopyOptions = {}): Promise<CopyResult> {
  const from = parseStoreUrl(fromUrl);
  const to = parseStoreUrl(toUrl);
  if (from.kind !== "sqlite" || to.kind !== "postgres") throw new StandingError("bad-request", "store copy copies from sqlite:PATH to postgres://…", { from: from.kind, to: to.kind });
  if (from.path === ":memory:" || !existsSync(from.path)) throw new StandingError("not-found", `no database at ${from.path}`, { db: from.path });
  const batchSize = options.batch ?? 1000;

  // The key first: the target store must sign with the key its copied checkpoints carry.
  const sourceKey = keyFileFor(from.path);
  const keyFile = options.keyFile ?? defaultKeyFile(to.url);
  if (sourceKey && existsSync(sourceKey)) {
    if (!existsSync(keyFile)) {
      mkdirSync(dirname(keyFile), { recursive: true });
      copyFileSync(sourceKey, keyFile);
    } else if (readFileSync(keyFile, "utf8").trim() !== readFileSync(sourceKey, "utf8").trim()) {
      throw new StandingError("bad-request", `the key file ${keyFile} is not the source's journal key (${sourceKey}): give the copy its own --key-file, or remove that file`, { keyFile });
    }
  }

  const src = new Database(from.path, { readonly: true, fileMustExist: true });
  // Opening the store migrates the target (and checks the key against any head it has).
  const target = new PgStore(to.url, { keyFile });
  const client = new pg.Client({ connectionString: to.url });
  try {
    await target.open();
    await target.close();
    await client.connect();
    src.exec("BEGIN"); // one snapshot of the source
    const tables = (src.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").pluck().all() as string[]).filter((t) => !SKIPPED.has(t));
    const unknown = tables.filter((t) => !ORDER.includes(t));
    if (unknown.length > 0) throw new StandingError("bad-request", `the source has tables this build cannot copy: ${unknown.join(", ")}`, { tables: unknown });

    // Every commit signs its head, so entries after the last signed head were not written
    // by Standing: the copy would carry them on as if vouched for. Refused, naming the check.
    const lastEntry = (src.prepare("SELECT max(seq) FROM journal").pluck().get() as number | null) ?? 0;
    const lastSigned = (src.prepare("SELECT max(seq) FROM journal_checkpoints").pluck().get() as number | null) ?? 0;
    if (lastEntry > lastSigned) {
      throw new StandingError("journal-inconsistent", `the source's journal has ${lastEntry - lastSigned} entries after its last signed head (${lastSigned}): nothing was copied; run standing audit verify --store ${fromUrl} to see what changed`, { lastEntry, lastSigned });
    }

    // A target that holds another history is refused: only an empty one, or an earlier copy of this source.
    const first = src.prepare("SELECT hash FROM journal WHERE seq = 1").pluck().get() as string | undefined;
    const theirs = (await client.query<{ hash: string }>("SELECT hash FROM journal WHERE seq = 1")).rows[0]?.hash;
    if (theirs !== undefined && theirs !== first) {
      throw new StandingError("bad-request", `${redact(to.url)} already holds another journal: copy into a new, empty database`, { to: redact(to.url) });
    }

    const counts = new Map<string, number>();
    for (const t of ORDER) if (tables.includes(t)) counts.set(t, src.prepare(`SELECT count(*) FROM ${qi(t)}`).pluck().get() as number);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    let done = 0;
    const copied: Record<string, number> = {};
    for (const t of ORDER) {
      if (!counts.has(t)) continue;
      const info = src.prepare(`PRAGMA table_info(${qi(t)})`).all() as { name: string; pk: number; type: string }[];
      const cols = info.map((c) => c.name);
      const key = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      const intKey = key.length === 1 && /INT/i.test(info.find((c) => c.name === key[0])?.type ?? "");
      let after: number | null = null;
      if (intKey) {
        const m = (await client.query<{ m: string | null }>(`SELECT max(${qi(key[0] as string)})::text AS m FROM ${qi(t)}`)).rows[0]?.m;
        after = m === null || m === undefined ? null : Number(m);
      }
      const already = after === null ? 0 : (src.prepare(`SELECT count(*) FROM ${qi(t)} WHERE ${qi(key[0] as string)} <= ?`).pluck().get(after) as number);
      done += already;
      let n = already;
      const order = (key.length > 0 ? key : ["rowid"]).map((k) => (k === "rowid" ? k : qi(k))).join(", ");
      const stmt = src.prepare(`SELECT ${cols.map(qi).join(", ")} FROM ${qi(t)} ${after !== null ? `WHERE ${qi(key[0] as string)} > ?` : ""} ORDER BY ${order}`).raw(true);
      let rows: unknown[][] = [];
      const flush = async (): Promise<void> => {
        if (rows.length === 0) return;
        const values = rows.map((_, i) => `(${cols.map((__, j) => `$${i * cols.length + j + 1}`).join(", ")})`).join(", ");
        await client.query(`INSERT INTO ${qi(t)} (${cols.map(qi).join(", ")}) VALUES ${values} ON CONFLICT DO NOTHING`, rows.flat());
        n += rows.length;
        done += rows.length;
        rows = [];
        options.onProgress?.({ table: t, done, total });
      };
      const per = Math.max(1, Math.min(batchSize, Math.floor(60000 / cols.length)));
      for (const r of (after !== null ? stmt.iterate(after) : stmt.iterate()) as Iterable<unknown[]>) {
        rows.push(r.map((v) => (typeof v === "bigint" ? v.toString() : v)));
        if (rows.length >= per) await flush();
      }
      await flush();
      copied[t] = n;
      options.onProgress?.({ table: t, done, total });
    }

    // Identity columns go on from the copied rows' highest keys.
    for (const [t, c] of [["policies", "seq"], ["catalogues", "seq"], ["subjects", "id"], ["records", "seq"], ["quarantine", "seq"], ["dispute_actions", "seq"]] as const) {
      await client.query(`SELECT setval(pg_get_serial_sequence($1, $2), greatest((SELECT max(${qi(c)}) FROM ${qi(t)}), 1), (SELECT max(${qi(c)}) FROM ${qi(t)}) IS NOT NULL)`, [t, c]);
    }

    return { tables: copied, rows: done, keyFile };
  } finally {
    if (src.inTransaction) src.exec("COMMIT");
    src.close();
    await client.end().catch(() => undefined);
  }
}
