// The journal on PostgreSQL: the same entries, hashes and checkpoints as the embedded
// store's (docs/journal.md), kept without triggers. Each write method of the store
// returns the row it wrote (RETURNING), hashes it in JavaScript with the pure encoders
// of src/journal/hash.ts and adds an entry to its transaction's list. At commit the
// transaction takes the journal's advisory lock, reads the head, chains its entries
// after it, inserts them in one statement and signs a head for this commit (a row of
// journal_checkpoints), all in the transaction: the chain stays one line however many
// servers write, and every commit is signed, so a PostgreSQL journal has no unsigned tail.
//
// A write behind the store's back (psql, another program) leaves no entry; verify
// finds the row whose hash no longer matches its latest entry and names it.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type pg from "pg";
import { canonicalJson } from "../../canonical.js";
import { StandingError } from "../../errors.js";
import { GENESIS, entryHash, headPayload, rowHash, type SqlValue } from "../../journal/hash.js";
import { fingerprintOf } from "../../journal/verify-core.js";
import type { Instant } from "../../time.js";
import type { SignedHead } from "../types.js";
import { machineryTables } from "./schema.js";

/** The advisory lock (two int4s, "ST" "JN") every commit that appends to the journal holds. */
export const JOURNAL_LOCK = [0x5354, 0x4a4e] as const;

type Queryable = Pick<pg.PoolClient, "query">;

export interface JournaledTable {
  readonly name: string;
  /** Column names, sorted (the order the row hash uses); never the batch column. */
  readonly columns: readonly string[];
  /** Columns holding whole numbers: hashed as SQLite INTEGERs. */
  readonly integers: ReadonlySet<string>;
  /** Primary-key columns in key order. */
  readonly key: readonly string[];
  readonly batch?: { readonly column: string; readonly kind: string };
}

/** Tables journaled one entry per batch (see the embedded store's journal.ts). */
export const batchedTables: Readonly<Record<string, { readonly column: string; readonly kind: string }>> = {
  decisions: { column: "batch", kind: "decisions.batch" },
  screenings: { column: "batch", kind: "screenings.batch" },
};

const INTEGER_TYPES = new Set(["bigint", "integer", "smallint"]);

/** Every table the journal covers, read from the catalogue now (tables added later are covered too). */
export async function journaledTables(db: Queryable): Promise<JournaledTable[]> {
  const cols = await db.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
     JOIN pg_class k ON k.relname = c.table_name AND k.relnamespace = to_regnamespace(c.table_schema)
     WHERE c.table_schema = current_schema() AND k.relkind IN ('r', 'p') AND NOT k.relispartition
     ORDER BY c.table_name, c.column_name`,
  );
  const keys = await db.query<{ table_name: string; column_name: string; pos: number }>(
    `SELECT t.relname AS table_name, a.attname AS column_name, array_position(i.indkey::int2[], a.attnum) AS pos
     FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
     WHERE i.indisprimary AND t.relnamespace = to_regnamespace(current_schema()) AND NOT t.relispartition
     ORDER BY t.relname, pos`,
  );
  const byTable = new Map<string, { columns: string[]; integers: Set<string>; key: string[] }>();
  for (const c of cols.rows) {
    if (machineryTables.includes(c.table_name)) continue;
    let t = byTable.get(c.table_name);
    if (!t) byTable.set(c.table_name, (t = { columns: [], integers: new Set(), key: [] }));
    t.columns.push(c.column_name);
    if (INTEGER_TYPES.has(c.data_type)) t.integers.add(c.column_name);
  }
  for (const k of keys.rows) byTable.get(k.table_name)?.key.push(k.column_name);
  return [...byTable.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, t]) => {
      const batch = batchedTables[name];
      const sorted = [...t.columns].sort();
      if (batch && t.columns.includes(batch.column) && !t.key.includes(batch.column)) {
        return { name, columns: sorted.filter((c) => c !== batch.column), integers: t.integers, key: t.key, batch };
      }
      return { name, columns: sorted, integers: t.integers, key: t.key };
    });
}

/** A column value as the row hash encodes it: whole-number columns as SQLite INTEGERs. */
export function sqlValue(t: JournaledTable, column: string, v: unknown): SqlValue {
  if (v === null || v === undefined) return null;
  if (t.integers.has(column)) return typeof v === "bigint" ? v : BigInt(v as number | string);
  if (typeof v === "number") return v;
  return v as SqlValue;
}

/** A row's hash (docs/journal.md): the same bytes the embedded store hashes for the same row. */
export function hashRow(t: JournaledTable, row: Record<string, unknown>): string {
  const pairs: SqlValue[] = [];
  for (const c of t.columns) pairs.push(c, sqlValue(t, c, row[c]));
  return rowHash(pairs);
}

/** A row's key as the journal names it: a JSON array of its primary-key values, as SQLite's json_array writes it. */
export function keyOf(t: JournaledTable, row: Record<string, unknown>): string {
  return JSON.stringify(t.key.map((c) => (t.integers.has(c) ? Number(row[c]) : row[c])));
}

/** One entry waiting for its transaction to commit. */
export interface PendingEntry {
  readonly kind: string;
  readonly tbl: string | null;
  readonly key: string | null;
  readonly rowHash: string | null;
  readonly data: string | null;
  /** The seq the entry must get (a batch whose rows already name it); the commit fails otherwise. */
  readonly seq?: number;
}

export interface PgJournalOptions {
  /** The Ed25519 private key file (PKCS#8 PEM); created on first use unless read-only. */
  readonly keyFile?: string;
  /** Open for verification: load the key if there is one, never create or sign. */
  readonly readOnly?: boolean;
}

function loadKey(file: string, create: boolean): KeyObject | null {
  if (existsSync(file)) return createPrivateKey(readFileSync(file, "utf8"));
  if (!create) return null;
  mkdirSync(dirname(file), { recursive: true });
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  // Written aside and linked into place: a second server starting at the same moment reads the winner's key.
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, pem, { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  } finally {
    unlinkSync(tmp);
  }
  return createPrivateKey(readFileSync(file, "utf8"));
}

/** The signing side of a PostgreSQL store's journal. */
export class PgJournal {
  readonly publicKey: KeyObject | null;
  readonly publicKeyPem: string | null;
  readonly fingerprint: string | null;

  private constructor(
    private readonly privateKey: KeyObject | null,
    readonly keyFile: string,
    readonly readOnly: boolean,
  ) {
    this.publicKey = privateKey ? createPublicKey(privateKey) : null;
    this.publicKeyPem = this.publicKey ? (this.publicKey.export({ type: "spki", format: "pem" }) as string) : null;
    this.fingerprint = this.publicKey ? fingerprintOf(this.publicKey) : null;
  }

  static open(options: PgJournalOptions & { keyFile: string }): PgJournal {
    const readOnly = options.readOnly ?? false;
    return new PgJournal(loadKey(options.keyFile, !readOnly), options.keyFile, readOnly);
  }

  /** Signs bytes with the journal key (base64 Ed25519). */
  sign(bytes: Uint8Array): string {
    if (!this.privateKey || this.readOnly) throw new Error("this store has no journal signing key");
    return sign(null, bytes, this.privateKey).toString("base64");
  }

  /**
   * The key this database's journal was signed with so far must be the one loaded: a
   * server started with another key file would sign heads verify rejects. Checked at start.
   */
  async checkKey(db: Queryable): Promise<void> {
    if (!this.publicKey) return;
    const last = await db.query<{ public_key: string }>("SELECT public_key FROM journal_checkpoints ORDER BY seq DESC LIMIT 1");
    const pem = last.rows[0]?.public_key;
    if (pem === undefined) return;
    let fp: string;
    try {
      fp = fingerprintOf(createPublicKey(pem));
    } catch {
      return; // an unreadable stored key is verify's to report
    }
    if (fp !== this.fingerprint) {
      throw new StandingError(
        "storage-unavailable",
        `the journal key ${this.keyFile} (${(this.fingerprint ?? "").slice(0, 16)}…) is not the key this database's journal is signed with (${fp.slice(0, 16)}…): start every server with the same key file (STANDING_JOURNAL_KEY_FILE)`,
        { keyFile: this.keyFile },
      );
    }
  }

  /**
   * Appends a transaction's entries at its commit: under the journal lock, after the
   * head as it is now, then signs the new head. Runs inside the transaction, so the
   * entries, the head and the rows they describe commit together or not at all.
   */
  async append(db: Queryable, entries: readonly PendingEntry[], at: Instant): Promise<SignedHead | undefined> {
    if (entries.length === 0) return undefined;
    if (this.readOnly || !this.privateKey || !this.publicKeyPem) throw new Error("the journal was opened read-only");
    await db.query("SELECT pg_advisory_xact_lock($1, $2)", [...JOURNAL_LOCK]);
    const head = await db.query<{ seq: number; hash: string }>("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1");
    const signedHead = await db.query<{ seq: number }>("SELECT seq FROM journal_checkpoints ORDER BY seq DESC LIMIT 1");
    let seq = Number(head.rows[0]?.seq ?? 0);
    const lastSigned = Number(signedHead.rows[0]?.seq ?? 0);
    // Every commit signs its head, so entries past the last signed head were written
    // behind the store's back; signing after them would vouch for them.
    if (lastSigned !== seq) {
      throw new StandingError("journal-inconsistent", `the journal ends at entry #${seq} but its last signed head is #${lastSigned}: entries were written or heads removed behind the store's back; nothing more is written until \`standing audit verify\` is run and the database is restored`, { head: seq, signed: lastSigned });
    }
    let prev = head.rows[0]?.hash ?? GENESIS;
    const rows: unknown[][] = [];
    for (const e of entries) {
      seq++;
      if (e.seq !== undefined && e.seq !== seq) throw new Error(`journal entry ${e.kind} was prepared as #${e.seq} but would be #${seq}`);
      const hash = entryHash(prev, { seq, kind: e.kind, tbl: e.tbl, key: e.key, rowHash: e.rowHash, data: e.data });
      rows.push([seq, e.kind, e.tbl, e.key, e.rowHash, e.data, prev, hash]);
      prev = hash;
    }
    // One statement per 10,000 entries, their columns as arrays (a batch of records journals thousands).
    for (let i = 0; i < rows.length; i += 10_000) {
      const chunk = rows.slice(i, i + 10_000);
      await db.query(
        "INSERT INTO journal (seq, kind, tbl, key, row_hash, data, prev, hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])",
        Array.from({ length: 8 }, (_, k) => chunk.map((r) => r[k])),
      );
    }
    const signature = sign(null, Buffer.from(headPayload(seq, prev, at, lastSigned), "utf8"), this.privateKey).toString("base64");
    await db.query("INSERT INTO journal_checkpoints (seq, head_hash, at, signature, public_key) VALUES ($1, $2, $3, $4, $5)", [seq, prev, at, signature, this.publicKeyPem]);
    return { seq, hash: prev, at, prev: lastSigned, signature, fingerprint: this.fingerprint as string };
  }

  /** The seq the next entry will get: for a batch whose rows must name it before it is appended. Call under the journal lock. */
  static async nextSeq(db: Queryable): Promise<number> {
    await db.query("SELECT pg_advisory_xact_lock($1, $2)", [...JOURNAL_LOCK]);
    const r = await db.query<{ n: number }>("SELECT coalesce(max(seq), 0) + 1 AS n FROM journal");
    return Number(r.rows[0]?.n ?? 1);
  }
}

/** An event's data as the journal stores it (canonical JSON). */
export function eventData(data: unknown): string | null {
  return data === undefined ? null : canonicalJson(data);
}

/** The latest signed head of a database, or undefined for an empty journal. */
export async function latestHead(db: Queryable): Promise<SignedHead | undefined> {
  const r = await db.query<{ seq: number; head_hash: string; at: number; signature: string; public_key: string; prev: number }>(
    "SELECT seq, head_hash, at, signature, public_key, coalesce((SELECT max(p.seq) FROM journal_checkpoints AS p WHERE p.seq < c.seq), 0) AS prev FROM journal_checkpoints AS c ORDER BY seq DESC LIMIT 1",
  );
  const c = r.rows[0];
  if (!c) return undefined;
  let fingerprint = "";
  try {
    fingerprint = fingerprintOf(createPublicKey(c.public_key));
  } catch {
    // left empty: verify reports the unreadable key
  }
  return { seq: Number(c.seq), hash: c.head_hash, at: Number(c.at), prev: Number(c.prev), signature: c.signature, fingerprint };
}
