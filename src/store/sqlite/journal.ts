// The journal: an append-only, hash-chained log of every change to the database, with
// Ed25519-signed checkpoints. See docs/journal.md for what it proves and what it cannot.
//
// How entries are written: installJournal() creates, on the connection it is given,
// TEMP triggers (AFTER INSERT/UPDATE/DELETE) on every table of the main schema except
// the journal's own. Each trigger appends one entry in the same statement, hence the
// same transaction, as the change; the hashes are computed by functions registered on
// that connection (db.function), so the only JavaScript that runs per row is the
// hashing: no per-row SELECT from JS. The tables are read from sqlite_schema when the
// journal is installed (every time a store is opened), so tables added to the schema
// later are journaled without changes here.
//
// The triggers are TEMP on purpose: they live in the connection, not in the file. A
// write through any other connection (the sqlite3 shell, a script with its own
// better-sqlite3 handle) therefore succeeds but leaves no entry, and `audit verify`
// finds the row that no longer matches its latest entry and names it. (Persistent
// triggers would call functions that exist only in this process: a shell write would
// fail until the attacker dropped them, and a database carrying them could not be
// written by any other tool; detection would be the same.)
//
// One exception: tables in `batchedTables` (the decision log) get no triggers. Their
// writer inserts a batch of rows and, in the same transaction, one entry whose row
// hash covers them all (Journal.appendBatch); each row carries that entry's seq in its
// batch column. A logged check is a row, and one entry per row was most of its cost.
import type Database from "better-sqlite3";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { existsSync, linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { canonicalJson } from "../../canonical.js";
import { StandingError } from "../../errors.js";
import { GENESIS, batchEntry, batchRow, entryHash, headPayload, rotationPayload, rowHash, sortBatch, type BatchRow, type SqlValue } from "../../journal/hash.js";
import { kindExpr } from "./journal-kinds.js";

type Db = Database.Database;

/**
 * Tables never journaled: the journal's own, and the change feed's outbox, which says
 * only which subject, policy or key changed (never what it became: readers take that
 * from journaled rows), so a forged or deleted event can make a process re-read a row
 * or miss a refresh until its next snapshot, never change an answer's source of truth.
 * Web sessions are not journaled either: they are short-lived credentials (a hash of a
 * random token) that answer no question about anyone, each page view may move one's
 * last-seen time, and a session is only ever good while the key it was opened with is.
 * Nor are a cluster's line outcomes and partition fences: an outcome repeats what the
 * journaled rows and the batch's refusal entry say, and a fence only orders evaluators.
 */
export const journalTables: readonly string[] = ["journal", "journal_checkpoints", "changes", "sessions", "ingest_outcomes", "partition_fences"];

export const DEFAULT_CHECKPOINT_EVERY = 1000;

/** The journal's own tables (the schema check expects them too). */
export const journalDdl = `
CREATE TABLE IF NOT EXISTS journal (
  seq INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  tbl TEXT,
  key TEXT,
  row_hash TEXT,
  data TEXT,
  prev TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal_checkpoints (
  seq INTEGER PRIMARY KEY,
  head_hash TEXT NOT NULL,
  at INTEGER NOT NULL,
  signature TEXT NOT NULL,
  public_key TEXT NOT NULL
);
`;

export interface JournalOptions {
  /** The database file; the signing key is kept beside it. ":memory:" gets an ephemeral key. */
  readonly path?: string;
  /** Where the private key is kept (default `<path>.journal-key.pem`). */
  readonly keyFile?: string;
  /** Sign a checkpoint every this many entries (default 1000). */
  readonly checkpointEvery?: number;
  /**
   * For `audit verify`: register the hash functions and load the key if there is one,
   * but create nothing (no tables, no key file, no triggers) and never sign.
   */
  readonly readOnly?: boolean;
}

export interface JournaledTable {
  readonly name: string;
  /** Column names, sorted (the order the row hash uses); never the batch column. */
  readonly columns: readonly string[];
  /** Primary-key columns in key order; ["rowid"] for a table without one. */
  readonly key: readonly string[];
  /** For a table journaled per batch: its batch column and the kind of its entries. */
  readonly batch?: { readonly column: string; readonly kind: string };
}

/**
 * Tables journaled one entry per batch of inserted rows instead of one per row, and
 * the column each row names its batch entry's seq in. The batch column is not part of
 * the row hash, so a row hashes as it did when it was journaled per row. A table is
 * treated so only while it has that column and a primary key of its own.
 */
export const batchedTables: Readonly<Record<string, { readonly column: string; readonly kind: string }>> = {
  decisions: { column: "batch", kind: "decisions.batch" },
  screenings: { column: "batch", kind: "screenings.batch" },
};

export interface CheckpointRow {
  readonly seq: number;
  readonly headHash: string;
  readonly at: number;
  /** The seq of the signed head before it (0 for the first): part of what is signed, not stored. */
  readonly prev: number;
  readonly signature: string;
  readonly publicKey: string;
}

export interface JournalHead {
  readonly seq: number;
  readonly hash: string;
}

const registry = new WeakMap<Db, Journal>();

export function quoteId(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLit(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Default key file of a database path; null for in-memory databases. */
export function keyFileFor(path: string | undefined): string | null {
  if (path === undefined || path === "" || path === ":memory:" || path.startsWith("file::memory:")) return null;
  return `${path}.journal-key.pem`;
}

export function fingerprintOf(publicKey: KeyObject): string {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex");
}

const pemPrints = new Map<string, string>();

/** fingerprintOf an SPKI PEM (remembered: a database carries few keys). */
export function fingerprintOfPem(pem: string): string {
  let f = pemPrints.get(pem);
  if (f === undefined) {
    f = fingerprintOf(createPublicKey(pem));
    if (pemPrints.size < 64) pemPrints.set(pem, f);
  }
  return f;
}

/** Every table the journal covers, read from the schema now. */
export function journaledTables(db: Db): JournaledTable[] {
  const names = db
    .prepare(
      `SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name`,
    )
    .pluck()
    .all() as string[];
  return names
    .filter((n) => !journalTables.includes(n))
    .map((name) => {
      const info = db.prepare(`PRAGMA main.table_info(${quoteId(name)})`).all() as { name: string; pk: number }[];
      const key = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      const batch = batchedTables[name];
      if (batch && key.length > 0 && info.some((c) => c.name === batch.column) && !key.includes(batch.column)) {
        return { name, columns: info.map((c) => c.name).filter((c) => c !== batch.column).sort(), key, batch };
      }
      return { name, columns: info.map((c) => c.name).sort(), key: key.length > 0 ? key : ["rowid"] };
    });
}

function col(ref: string, name: string): string {
  const id = name === "rowid" ? "rowid" : quoteId(name);
  return ref ? `${ref}.${id}` : id;
}

/** SQL for a row's key: a JSON array of its primary-key values, e.g. [42] or ["passport","X1"]. */
export function keySql(t: JournaledTable, ref = ""): string {
  return `json_array(${t.key.map((c) => col(ref, c)).join(", ")})`;
}

/** SQL for a row's hash, through the journal_row_hash function. */
export function rowHashSql(t: JournaledTable, ref = ""): string {
  if (t.columns.length > 63) throw new Error(`table ${t.name} has ${t.columns.length} columns; the journal hashes at most 63`);
  return `journal_row_hash(${t.columns.map((c) => `${quoteLit(c)}, ${col(ref, c)}`).join(", ")})`;
}

/**
 * One INSERT appending an entry; its seq and prev come from the current head. A VALUES
 * row, not INSERT … SELECT: a SELECT that reads the journal while inserting into it
 * makes SQLite stage the rows in a temporary table, which costs more than evaluating
 * the (indexed, O(log n)) head lookups twice. The row hash is evaluated twice as well;
 * journal_row_hash remembers its last answer, so it is computed once.
 */
function entrySql(kind: string, tbl: string, key: string, rh: string, data: string): string {
  const seq = "(SELECT coalesce(max(seq), 0) + 1 FROM journal)";
  const prev = `coalesce((SELECT hash FROM journal ORDER BY seq DESC LIMIT 1), '${GENESIS}')`;
  return `INSERT INTO journal (seq, kind, tbl, key, row_hash, data, prev, hash)
  VALUES (${seq}, ${kind}, ${tbl}, ${key}, ${rh}, ${data}, ${prev}, journal_hash(${prev}, ${seq}, ${kind}, ${tbl}, ${key}, ${rh}, ${data}))`;
}

function triggerName(op: string, table: string): string {
  return quoteId(`journal_${op}_${table}`);
}

/** The TEMP triggers that journal one table. */
export function triggersFor(t: JournaledTable): string[] {
  const tbl = quoteLit(t.name);
  const on = `main.${quoteId(t.name)}`;
  return [
    `CREATE TEMP TRIGGER ${triggerName("ai", t.name)} AFTER INSERT ON ${on} BEGIN
  ${entrySql(kindExpr(t.name, "insert", t.columns), tbl, keySql(t, "NEW"), rowHashSql(t, "NEW"), "NULL")};
END`,
    // An update that changes the primary key: first the old key is journaled as gone
    // (BEFORE, in the same statement, so it rolls back with it), then the new row.
    `CREATE TEMP TRIGGER ${triggerName("bk", t.name)} BEFORE UPDATE ON ${on} WHEN ${keySql(t, "OLD")} IS NOT ${keySql(t, "NEW")} BEGIN
  ${entrySql(quoteLit(`delete:${t.name}`), tbl, keySql(t, "OLD"), "NULL", "NULL")};
END`,
    `CREATE TEMP TRIGGER ${triggerName("au", t.name)} AFTER UPDATE ON ${on} BEGIN
  ${entrySql(kindExpr(t.name, "update", t.columns), tbl, keySql(t, "NEW"), rowHashSql(t, "NEW"), "NULL")};
END`,
    `CREATE TEMP TRIGGER ${triggerName("ad", t.name)} AFTER DELETE ON ${on} BEGIN
  ${entrySql(kindExpr(t.name, "delete", t.columns), tbl, keySql(t, "OLD"), "NULL", "NULL")};
END`,
  ];
}

function checkpointTrigger(every: number): string {
  return `CREATE TEMP TRIGGER "journal_checkpoint" AFTER INSERT ON main.journal WHEN NEW.seq % ${every} = 0 BEGIN
  INSERT OR IGNORE INTO journal_checkpoints (seq, head_hash, at, signature, public_key)
  SELECT NEW.seq, NEW.hash, a, journal_sign(NEW.seq, NEW.hash, a, p), journal_public_key()
  FROM (SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER) AS a, (SELECT coalesce(max(seq), 0) FROM journal_checkpoints) AS p LIMIT -1 OFFSET 0);
END`;
}

function loadKey(file: string | null, create: boolean): KeyObject | null {
  if (file === null) return create ? generateKeyPairSync("ed25519").privateKey : null;
  if (existsSync(file)) return createPrivateKey(readFileSync(file, "utf8"));
  if (!create) return null;
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  // Written aside and linked into place: another process opening the same new database
  // at the same moment either wins (and we read its key) or loses; nobody reads half a file.
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

/** The journal of one connection. Created by installJournal(). */
export class Journal {
  publicKey: KeyObject | null;
  /** SPKI PEM of the checkpoint key, or null when no key is available (read-only, no key file). */
  publicKeyPem: string | null;
  /** sha256 (hex) of the DER SubjectPublicKeyInfo. */
  fingerprint: string | null;
  readonly checkpointEvery: number;
  /** Entries appended through this connection since it was opened. */
  appended = 0;
  private eventStmt: Database.Statement | undefined;
  private batchStmt: Database.Statement | undefined;
  private nextSeqStmt: Database.Statement | undefined;
  private readonly batched = new Map<string, JournaledTable>();

  private headStmt: Database.Statement | undefined;
  private lastSignedStmt: Database.Statement | undefined;
  private insertHeadStmt: Database.Statement | undefined;

  constructor(
    readonly db: Db,
    private privateKey: KeyObject | null,
    readonly keyFile: string | null,
    readonly readOnly: boolean,
    checkpointEvery: number,
  ) {
    this.publicKey = privateKey ? createPublicKey(privateKey) : null;
    this.publicKeyPem = this.publicKey ? (this.publicKey.export({ type: "spki", format: "pem" }) as string) : null;
    this.fingerprint = this.publicKey ? fingerprintOf(this.publicKey) : null;
    this.checkpointEvery = checkpointEvery;
  }

  /** Signs arbitrary bytes with the journal key (receipts, rotation endorsements): base64 Ed25519. */
  sign(bytes: Uint8Array): string {
    if (!this.privateKey || this.readOnly) throw new StandingError("not-found", "this store keeps no signing key (read-only, or no key file)");
    return sign(null, bytes, this.privateKey).toString("base64");
  }

  /** Signature (base64) of checkpoint {seq, headHash, at}. */
  signCheckpoint(seq: number, headHash: string, at: number, prev: number): string {
    if (!this.privateKey || this.readOnly) throw new Error("this connection has no journal signing key");
    return sign(null, Buffer.from(headPayload(seq, headHash, at, prev), "utf8"), this.privateKey).toString("base64");
  }

  /** Signs bytes with the journal key (base64 Ed25519): receipts and signed heads. */
  signBytes(bytes: Uint8Array): string {
    if (!this.privateKey || this.readOnly) throw new StandingError("not-found", "this store keeps no signing key");
    return sign(null, bytes, this.privateKey).toString("base64");
  }

  /** Appends an event that has no row of its own (see journalEvent). Returns its seq. */
  event(kind: string, data: unknown): number {
    if (this.readOnly) throw new Error("the journal was opened read-only");
    if (typeof kind !== "string" || kind.length === 0 || kind.length > 200) throw new Error("a journal event needs a kind (1–200 characters)");
    this.eventStmt ??= this.db.prepare(entrySql("@kind", "NULL", "NULL", "NULL", "@data"));
    const info = this.eventStmt.run({ kind, data: data === undefined ? null : canonicalJson(data) });
    return Number(info.lastInsertRowid);
  }

  /** A table journaled per batch, as the schema has it now; throws for any other table. */
  batchedTable(table: string): JournaledTable {
    let t = this.batched.get(table);
    if (!t) {
      t = journaledTables(this.db).find((x) => x.name === table && x.batch);
      if (!t) throw new Error(`table ${table} is not journaled per batch`);
      this.batched.set(table, t);
    }
    return t;
  }

  /**
   * Journals rows inserted into a table journaled per batch as one entry, in the
   * caller's transaction. `insert(seq)` inserts the rows with their batch column set to
   * `seq` (the seq the entry will get) and returns each inserted row's columns in
   * `batchedTable(table).columns` order, as stored (INSERT … RETURNING, safe integers).
   * Returns the entry's seq, or null when no row was inserted (no entry then).
   */
  appendBatch(table: string, insert: (seq: number) => readonly (readonly SqlValue[])[]): number | null {
    if (this.readOnly) throw new Error("the journal was opened read-only");
    // Outside a transaction another connection could append between reading the head and appending.
    if (!this.db.inTransaction) throw new Error("appendBatch must run inside a transaction");
    const t = this.batchedTable(table);
    this.nextSeqStmt ??= this.db.prepare("SELECT coalesce(max(seq), 0) + 1 FROM journal").pluck();
    const seq = Number(this.nextSeqStmt.get());
    const inserted = insert(seq);
    if (inserted.length === 0) return null;
    const rows: BatchRow[] = inserted.map((values) => batchRow(t.columns, t.key, values));
    const { rowHash: rh, data } = batchEntry(sortBatch(rows));
    this.batchStmt ??= this.db.prepare(entrySql("@kind", "@tbl", "NULL", "@rh", "@data"));
    const got = Number(this.batchStmt.run({ kind: t.batch?.kind, tbl: t.name, rh, data }).lastInsertRowid);
    // The rows already name `seq`; any other seq would orphan them, so the caller's transaction must roll back.
    if (got !== seq) throw new Error(`journal: batch entry got seq ${got}, its rows name ${seq}`);
    return seq;
  }

  head(): JournalHead | null {
    const r = this.db.prepare("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").get() as JournalHead | undefined;
    return r ?? null;
  }

  checkpoints(): CheckpointRow[] {
    return this.db
      .prepare("SELECT seq, head_hash AS headHash, at, coalesce(lag(seq) OVER (ORDER BY seq), 0) AS prev, signature, public_key AS publicKey FROM journal_checkpoints ORDER BY seq")
      .all() as CheckpointRow[];
  }

  /**
   * Inside a write transaction, before writing: throws unless every entry is covered by
   * a signed head. Every commit ends with one, so an entry after the last head was
   * appended outside Standing (or its head removed); signing a later head would sign it
   * too, so nothing more is written until an auditor has looked (docs/journal.md).
   */
  assertSigned(): void {
    if (this.readOnly || !this.db.open) return;
    this.headStmt ??= this.db.prepare("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1");
    this.lastSignedStmt ??= this.db.prepare("SELECT max(seq) FROM journal_checkpoints").pluck();
    const head = this.headStmt.get() as JournalHead | undefined;
    if (!head) return;
    const last = (this.lastSignedStmt.get() as number | null) ?? 0;
    if (head.seq > last) {
      throw new StandingError(
        "journal-inconsistent",
        `the journal has ${head.seq - last} entr${head.seq - last === 1 ? "y" : "ies"} after its last signed head (#${last}) that Standing did not sign: appended outside Standing, or a head was removed; nothing more is written until \`standing audit verify\` has been run and the store restored`,
        { head: head.seq, lastSigned: last },
      );
    }
  }

  /**
   * Inside the caller's write transaction: signs the current head unless it is signed
   * already. Every transaction that appended entries calls it just before COMMIT, so
   * no acknowledged entry is ever unsigned (docs/journal.md, "Signed heads").
   */
  signHead(at: number = Date.now()): CheckpointRow | null {
    if (this.readOnly || !this.privateKey || !this.db.open) return null;
    this.headStmt ??= this.db.prepare("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1");
    this.lastSignedStmt ??= this.db.prepare("SELECT max(seq) FROM journal_checkpoints").pluck();
    this.insertHeadStmt ??= this.db.prepare("INSERT INTO journal_checkpoints (seq, head_hash, at, signature, public_key) VALUES (?, ?, ?, ?, ?)");
    const head = this.headStmt.get() as JournalHead | undefined;
    if (!head) return null;
    const last = this.lastSignedStmt.get() as number | null;
    if (last !== null && last >= head.seq) return null;
    const prev = last ?? 0;
    const row: CheckpointRow = { seq: head.seq, headHash: head.hash, at, prev, signature: this.signCheckpoint(head.seq, head.hash, at, prev), publicKey: this.publicKeyPem as string };
    this.insertHeadStmt.run(row.seq, row.headHash, row.at, row.signature, row.publicKey);
    return row;
  }

  /** The latest signed head in the database (any writer's). */
  latestHead(): CheckpointRow | null {
    const r = this.db
      .prepare(
        "SELECT seq, head_hash AS headHash, at, coalesce((SELECT max(p.seq) FROM journal_checkpoints AS p WHERE p.seq < c.seq), 0) AS prev, signature, public_key AS publicKey FROM journal_checkpoints AS c ORDER BY seq DESC LIMIT 1",
      )
      .get() as CheckpointRow | undefined;
    return r ?? null;
  }

  /** The hash of entry `seq`, or undefined when there is none. */
  hashAt(seq: number): string | undefined {
    return this.db.prepare("SELECT hash FROM journal WHERE seq = ?").pluck().get(seq) as string | undefined;
  }

  /**
   * Signs the current head unless it is signed already, in a transaction of its own.
   * Returns the new checkpoint, or null when there was nothing to sign (or no key, or
   * read-only).
   */
  checkpoint(): CheckpointRow | null {
    if (this.readOnly || !this.privateKey || !this.db.open) return null;
    if (this.db.inTransaction) return this.signHead();
    return this.db.transaction((): CheckpointRow | null => this.signHead()).immediate();
  }

  /** A read-only journal on another connection of the same store follows the writer's key after a rotation. */
  followKey(publicKey: KeyObject): void {
    if (!this.readOnly) throw new Error("only a read-only journal follows another's key");
    this.publicKey = publicKey;
    this.publicKeyPem = publicKey.export({ type: "spki", format: "pem" }) as string;
    this.fingerprint = fingerprintOf(publicKey);
  }

  /**
   * Replaces the journal key: a `journal.key-rotated` event naming the new key,
   * endorsed by the old key, whose head the old key signs; every later head is signed
   * by the new key, which replaces the key file. Writers in other processes keep the
   * old key in memory, so rotate with the service stopped. Returns both fingerprints.
   */
  rotateKey(at: number = Date.now()): { from: string; to: string; seq: number } {
    if (this.readOnly || !this.privateKey || !this.publicKeyPem || !this.fingerprint) throw new StandingError("bad-request", "this store has no journal key to rotate");
    const next = generateKeyPairSync("ed25519").privateKey;
    const nextPublic = createPublicKey(next);
    const nextPem = nextPublic.export({ type: "spki", format: "pem" }) as string;
    const from = this.fingerprint;
    const to = fingerprintOf(nextPublic);
    const pending = this.keyFile ? `${this.keyFile}.next` : null;
    if (pending) writeFileSync(pending, next.export({ type: "pkcs8", format: "pem" }) as string, { mode: 0o600 });
    const seq = this.db
      .transaction((): number => {
        this.assertSigned();
        const endorsement = this.sign(Buffer.from(rotationPayload(from, to, nextPem, at), "utf8"));
        const s = this.event("journal.key-rotated", { at, from, to, publicKey: nextPem, endorsement });
        this.signHead(at);
        return s;
      })
      .immediate();
    if (pending && this.keyFile) renameSync(pending, this.keyFile);
    this.privateKey = next;
    this.publicKey = nextPublic;
    this.publicKeyPem = nextPem;
    this.fingerprint = to;
    return { from, to, seq };
  }

  /**
   * At shutdown: nothing to sign. Every transaction signed its own head; signing here
   * would sign whatever someone appended behind this connection's back since.
   */
  close(): void {}

  /** Re-creates the TEMP triggers from the schema as it is now (after a migration on this connection). */
  installTriggers(): void {
    if (this.readOnly) return;
    const db = this.db;
    db.transaction(() => {
      const old = db.prepare("SELECT name FROM temp.sqlite_schema WHERE type = 'trigger' AND name LIKE 'journal\\_%' ESCAPE '\\'").pluck().all() as string[];
      for (const name of old) db.exec(`DROP TRIGGER IF EXISTS temp.${quoteId(name)}`);
      for (const t of journaledTables(db)) if (!t.batch) for (const sql of triggersFor(t)) db.exec(sql);
      db.exec(checkpointTrigger(this.checkpointEvery));
    })();
  }

  /** Journals every existing row (when the journal starts on a database that already has data). */
  baseline(): number {
    const stmt = this.db.prepare(entrySql("'baseline'", "@tbl", "@key", "@rh", "NULL"));
    let n = 0;
    for (const t of journaledTables(this.db)) {
      // A baselined row is journaled by its own entry; a batch number left from an
      // earlier journal could name an unrelated entry of this one. (Not hashed.)
      if (t.batch) this.db.exec(`UPDATE main.${quoteId(t.name)} SET ${quoteId(t.batch.column)} = NULL WHERE ${quoteId(t.batch.column)} IS NOT NULL`);
      const rows = this.db.prepare(`SELECT ${keySql(t)} AS key, ${rowHashSql(t)} AS rh FROM main.${quoteId(t.name)} ORDER BY ${t.key.map((c) => col("", c)).join(", ")}`).all() as { key: string; rh: string }[];
      for (const r of rows) {
        stmt.run({ tbl: t.name, key: r.key, rh: r.rh });
        n++;
      }
    }
    return n;
  }
}

function registerFunctions(db: Db, j: Journal): void {
  // A pure function, so remembering the last call is always right; each entry asks twice.
  let lastArgs: unknown[] = [];
  let lastHash = "";
  db.function("journal_row_hash", { varargs: true, deterministic: true, safeIntegers: true }, (...args: unknown[]) => {
    if (args.length === lastArgs.length && args.every((v, i) => v === lastArgs[i])) return lastHash;
    lastHash = rowHash(args as SqlValue[]);
    lastArgs = args;
    return lastHash;
  });
  db.function(
    "journal_hash",
    { deterministic: true },
    (prev: unknown, seq: unknown, kind: unknown, tbl: unknown, key: unknown, rh: unknown, data: unknown) => {
      j.appended++;
      return entryHash(String(prev), {
        seq: Number(seq),
        kind: String(kind),
        tbl: (tbl as string | null) ?? null,
        key: (key as string | null) ?? null,
        rowHash: (rh as string | null) ?? null,
        data: (data as string | null) ?? null,
      });
    },
  );
  db.function("journal_sign", (seq: unknown, head: unknown, at: unknown, prev: unknown) => j.signCheckpoint(Number(seq), String(head), Number(at), Number(prev)));
  db.function("journal_public_key", () => {
    if (!j.publicKeyPem) throw new Error("this connection has no journal signing key");
    return j.publicKeyPem;
  });
}

/**
 * Installs the journal on a connection: its tables, its functions and its triggers,
 * the checkpoint key (created on first use beside the database file), and, when the
 * journal starts on a database that already holds rows, one "baseline" entry per row.
 * Idempotent: installing again re-creates the triggers from the current schema.
 */
export function installJournal(db: Db, options: JournalOptions = {}): Journal {
  const existing = registry.get(db);
  if (existing) {
    existing.installTriggers();
    return existing;
  }
  const readOnly = options.readOnly ?? false;
  const keyFile = options.keyFile ?? keyFileFor(options.path ?? db.name);
  const every = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
  if (!Number.isInteger(every) || every < 1) throw new Error(`checkpointEvery must be a positive whole number, not ${every}`);
  const j = new Journal(db, loadKey(keyFile, !readOnly), keyFile, readOnly, every);
  registerFunctions(db, j);
  registry.set(db, j);
  if (readOnly) return j;
  // So that a row removed by INSERT OR REPLACE (a conflict on another unique column)
  // fires its delete trigger too; without it SQLite deletes it silently.
  db.pragma("recursive_triggers = ON");
  const started = db
    .transaction(() => {
      const had = db.prepare("SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = 'journal'").get() !== undefined;
      db.exec(journalDdl);
      return had ? 0 : j.baseline();
    })
    .immediate();
  j.installTriggers();
  if (started > 0) j.checkpoint();
  return j;
}

/** The journal installed on a connection, if any. */
export function journalFor(db: Db): Journal | undefined {
  return registry.get(db);
}

/** What GET /v1/journal/key serves: the key that signs checkpoints, for pinning elsewhere. */
export function journalPublicKey(j: Journal): { algorithm: "Ed25519"; publicKey: string; fingerprint: string } {
  if (!j.publicKeyPem || !j.fingerprint) throw new StandingError("not-found", "this store keeps no signed journal");
  return { algorithm: "Ed25519", publicKey: j.publicKeyPem, fingerprint: j.fingerprint };
}
