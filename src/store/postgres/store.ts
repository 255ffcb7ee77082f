// The PostgreSQL store: one database for several servers and CLI commands. Same port,
// same contract, same journal as the embedded store (see ARCHITECTURE.md, "PostgreSQL").
//
// - A transaction is one pooled connection from BEGIN to COMMIT; every read and write
//   inside it goes through its `tx`. Reads outside a transaction go through the pool
//   and see the last commit.
// - Writers take one advisory transaction lock (the write lock) at BEGIN, so that
//   transactions that write run one after another across every process, as they do
//   on SQLite under BEGIN IMMEDIATE: a read-modify-write anywhere in the shell stays
//   correct without retry loops. `lockSubjects` takes per-subject advisory locks as
//   well, so the subject locking the contract asks for is in place when the write lock
//   is narrowed.
// - The journal is kept by the write methods (journal.ts): each returns the row it
//   wrote, hashes it and queues an entry; at commit the entries are chained, inserted
//   and the new head is signed. Change events are inserted at commit too, under the same
//   lock, so the outbox's seq order is commit order and a poller never skips an event
//   that commits late.
import { NewestAbout, screeningBucket, screeningRows, type ScreeningLogBatch } from "../screening-log.js";
import pg from "pg";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { StandingError } from "../../errors.js";
import type { SubjectState } from "../../engine/types.js";
import type { KeyRow } from "../../auth/principals.js";
import { batchEntry, batchRow, sortBatch } from "../../journal/hash.js";
import type { VerifyReport } from "../../journal/report.js";
import type {
  ApplicationRow,
  AuditOptions,
  CatalogueRow,
  OutcomeRow,
  ChangeRow,
  DecisionLogRow,
  DisputeActionRow,
  DisputeRow,
  DisputeStatus,
  ExclusiveLease,
  Identifier,
  JournalPort,
  ListCount,
  MeasureCount,
  NewChange,
  NewQuarantine,
  NewRecord,
  NoticeRow,
  OutboxRow,
  PageReaderSpec,
  PolicyProposalRow,
  PolicyRow,
  QuarantineRow,
  SessionRow,
  RecordRow,
  SignedHead,
  StateRow,
  StateText,
  LinkedIdentifier,
  RecordKey,
  Store,
  StoredInputs,
  StoreReads,
  StoreTx,
  SubjectId,
} from "../types.js";
import { kindOf, type RowOp } from "./journal-kinds.js";
import { PgJournal, eventData, hashRow, journaledTables, keyOf, latestHead, sqlValue, type JournaledTable, type PendingEntry } from "./journal.js";
import { readPage } from "./reader.js";
import { recordCols, toProposal, toSession, toOutcome, toCatalogue, toDecision, toDispute, toKey, toNotice, toOutbox, toPolicy, toQuarantine, toRecord, toState, type Row } from "./rows.js";
import { PgLease } from "./lease.js";
import { migrate } from "./schema.js";
import { verifyPostgres } from "./verify.js";

type Queryable = Pick<pg.PoolClient, "query">;

/** The write lock every writing transaction takes at BEGIN: "ST" "WR". */
const WRITE_LOCK = [0x5354, 0x5752] as const;
/** The class of per-subject advisory locks: "SU". */
const SUBJECT_LOCK_CLASS = 0x5355;

/** How long the change feed's outbox keeps an event (as the embedded store). */
/** The columns the decision log and the screenings log are written with, besides their batch column. */
const DECISION_COLUMNS = ["id", "at", "key_id", "asked_by", "scheme", "value", "context", "decision", "codes"] as const;
const SCREENING_COLUMNS = ["id", "at", "key_id", "asked_by", "context", "bucket", "lines", "entries"] as const;
const CHANGE_RETENTION_MS = 7 * 24 * 3600_000;

const quarantineCols = "seq, source, record_id, scheme, value, body, hash, received_at, reason, released_at";

/** Whole numbers (int8: ids, seqs, epoch ms, counts) come back as JavaScript numbers, as SQLite's do. */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === 20) return (v: string) => Number(v);
    return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

export interface PgStoreOptions {
  /** The journal's Ed25519 key file (default: $STANDING_JOURNAL_KEY_FILE, else data/postgres-<host>-<port>-<db>.journal-key.pem). */
  readonly keyFile?: string;
  /** Open for reading and verifying only: no migrations, no key created, nothing written. */
  readonly readOnly?: boolean;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** Create the database when the server has none by that name (default: yes, unless read-only). */
  readonly createDatabase?: boolean;
}

/** Where the journal key of a database lives unless configured. */
export function defaultKeyFile(url: string): string {
  const env = process.env.STANDING_JOURNAL_KEY_FILE;
  if (env) return env;
  let name = "postgres";
  try {
    const u = new URL(url);
    name = `postgres-${u.hostname || "local"}-${u.port || "5432"}-${decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres"}`;
  } catch {
    // a URL pg accepts but URL does not: the plain name
  }
  return join(process.cwd(), "data", `${name.replace(/[^\w.-]/g, "_")}.journal-key.pem`);
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://…";
  }
}

/** What a writing transaction collects until it commits. */
interface TxState {
  readonly entries: PendingEntry[];
  readonly changes: { kind: string; ref: string; at: number }[];
}

/**
 * Every operation of the store on one connection: a transaction's client (with its
 * TxState) or the pool (reads only).
 */
class PgOps implements StoreTx {
  constructor(
    private readonly db: Queryable,
    private readonly tx: TxState | undefined,
    private readonly tables: ReadonlyMap<string, JournaledTable>,
  ) {}

  private async rows(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.db.query<Row>(sql, params)).rows;
  }

  private async one(sql: string, params: unknown[] = []): Promise<Row | undefined> {
    return (await this.db.query<Row>(sql, params)).rows[0];
  }

  private state(): TxState {
    if (!this.tx) throw new Error("a write outside a transaction: use store.transaction()");
    return this.tx;
  }

  /** Runs a write that RETURNs the rows it wrote (all columns, plus `inserted__` for an upsert), and journals each. */
  private async journaled(table: string, op: RowOp | "upsert", sql: string, params: unknown[], orderBy?: string): Promise<Row[]> {
    const st = this.state();
    const written = await this.rows(sql, params);
    // A multi-row write's RETURNING order is not promised: its entries follow the given column.
    if (orderBy !== undefined) written.sort((a, b) => Number(a[orderBy]) - Number(b[orderBy]));
    const t = this.tables.get(table);
    if (!t) throw new Error(`table ${table} is not known to the journal`);
    for (const row of written) {
      const o: RowOp = op === "upsert" ? (row.inserted__ === true ? "insert" : "update") : op;
      st.entries.push({ kind: kindOf(table, o, row), tbl: table, key: keyOf(t, row), rowHash: o === "delete" ? null : hashRow(t, row), data: null });
    }
    return written;
  }

  async lockSubjects(ids: readonly SubjectId[]): Promise<void> {
    this.state();
    if (ids.length === 0) return;
    // In ascending order, so two transactions locking overlapping sets cannot deadlock.
    const sorted = [...new Set(ids)].sort((a, b) => a - b);
    await this.db.query("SELECT pg_advisory_xact_lock($1, (x % 2147483647)::int) FROM unnest($2::bigint[]) AS x ORDER BY x", [SUBJECT_LOCK_CLASS, sorted]);
  }

  async addPolicy(p: Omit<PolicyRow, "seq">): Promise<PolicyRow> {
    const [r] = await this.journaled(
      "policies",
      "insert",
      "INSERT INTO policies (ref, policy_id, version, text, hash, effective, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
      [p.ref, p.policyId, p.version, p.text, p.hash, p.effective, p.publishedAt],
    );
    return { ...p, seq: Number(r?.seq) };
  }

  async policies(): Promise<PolicyRow[]> {
    return (await this.rows("SELECT * FROM policies ORDER BY seq")).map(toPolicy);
  }

  async catalogues(): Promise<CatalogueRow[]> {
    return (await this.rows("SELECT * FROM catalogues ORDER BY seq")).map(toCatalogue);
  }

  async addCatalogue(c: Omit<CatalogueRow, "seq">): Promise<CatalogueRow> {
    const [r] = await this.journaled(
      "catalogues",
      "insert",
      "INSERT INTO catalogues (catalogue_id, version, hash, text, adopted_at, adopted_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
      [c.catalogueId, c.version, c.hash, c.text, c.adoptedAt, c.adoptedBy],
    );
    return { ...c, seq: Number(r?.seq) };
  }

  async policyProposals(): Promise<PolicyProposalRow[]> {
    return (await this.rows("SELECT * FROM policy_proposals ORDER BY proposed_at, id")).map(toProposal);
  }

  async putPolicyProposal(row: PolicyProposalRow): Promise<void> {
    await this.journaled(
      "policy_proposals",
      "upsert",
      `INSERT INTO policy_proposals (id, ref, text, hash, proposed_by, proposed_at, status, decided_by, decided_at, note)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (id) DO UPDATE SET ref = excluded.ref, text = excluded.text, hash = excluded.hash, proposed_by = excluded.proposed_by,
         proposed_at = excluded.proposed_at, status = excluded.status, decided_by = excluded.decided_by, decided_at = excluded.decided_at, note = excluded.note
       RETURNING *, (xmax = 0) AS inserted__`,
      [row.id, row.ref, row.text, row.hash, row.proposedBy, row.proposedAt, row.status, row.decidedBy, row.decidedAt, row.note],
    );
  }

  async sessionByHash(hash: string): Promise<SessionRow | undefined> {
    const r = await this.one("SELECT * FROM sessions WHERE hash = $1", [hash]);
    return r ? toSession(r) : undefined;
  }

  async outcomesOf(receipt: string, afterLine: number, limit: number): Promise<OutcomeRow[]> {
    return (await this.rows("SELECT * FROM ingest_outcomes WHERE receipt = $1 AND line > $2 ORDER BY line LIMIT $3", [receipt, afterLine, limit])).map(toOutcome);
  }

  async outcomesFor(receipt: string, lines: readonly number[]): Promise<OutcomeRow[]> {
    if (lines.length === 0) return [];
    return (await this.rows("SELECT * FROM ingest_outcomes WHERE receipt = $1 AND line = ANY($2::int[]) ORDER BY line", [receipt, [...lines]])).map(toOutcome);
  }

  async outcomeOfRecord(source: string, recordId: string): Promise<OutcomeRow | undefined> {
    const r = await this.one("SELECT * FROM ingest_outcomes WHERE source = $1 AND record_id = $2 ORDER BY at DESC, receipt DESC, line DESC LIMIT 1", [source, recordId]);
    return r ? toOutcome(r) : undefined;
  }

  // Outcomes and fences are not journaled (schema.ts, machineryTables).
  async putOutcomes(rows: readonly OutcomeRow[]): Promise<void> {
    this.state();
    if (rows.length === 0) return;
    await this.db.query(
      `INSERT INTO ingest_outcomes (receipt, line, source, record_id, status, detail, at)
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) ON CONFLICT DO NOTHING`,
      [rows.map((r) => r.receipt), rows.map((r) => r.line), rows.map((r) => r.source), rows.map((r) => r.recordId), rows.map((r) => r.status), rows.map((r) => r.detail), rows.map((r) => r.at)],
    );
  }

  async fencePartition(partition: number, epoch: number): Promise<boolean> {
    this.state();
    const r = await this.db.query(
      `INSERT INTO partition_fences (partition, epoch) VALUES ($1, $2)
       ON CONFLICT (partition) DO UPDATE SET epoch = excluded.epoch WHERE partition_fences.epoch <= excluded.epoch`,
      [partition, epoch],
    );
    return (r.rowCount ?? 0) > 0;
  }

  // Sessions are not journaled (schema.ts, machineryTables).
  async addSession(row: SessionRow): Promise<void> {
    this.state();
    await this.db.query("INSERT INTO sessions (hash, key_id, created_at, last_seen_at, expires_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6)", [
      row.hash,
      row.keyId,
      row.createdAt,
      row.lastSeenAt,
      row.expiresAt,
      row.endedAt,
    ]);
  }

  async touchSession(hash: string, at: number): Promise<void> {
    this.state();
    await this.db.query("UPDATE sessions SET last_seen_at = $1 WHERE hash = $2 AND ended_at IS NULL AND last_seen_at < $1", [at, hash]);
  }

  async endSession(hash: string, at: number): Promise<boolean> {
    this.state();
    return ((await this.db.query("UPDATE sessions SET ended_at = $1 WHERE hash = $2 AND ended_at IS NULL", [at, hash])).rowCount ?? 0) > 0;
  }

  async pruneSessions(before: number): Promise<number> {
    this.state();
    return (await this.db.query("DELETE FROM sessions WHERE expires_at < $1 OR (ended_at IS NOT NULL AND ended_at < $1)", [before])).rowCount ?? 0;
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.one("SELECT value FROM meta WHERE key = $1", [key]))?.value as string | undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.journaled(
      "meta",
      "upsert",
      "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING *, (xmax = 0) AS inserted__",
      [key, value],
    );
  }

  async createSubject(at: number): Promise<SubjectId> {
    const [r] = await this.journaled("subjects", "insert", "INSERT INTO subjects (created_at) VALUES ($1) RETURNING *", [at]);
    return Number(r?.id);
  }

  async resolve(id: Identifier): Promise<SubjectId | undefined> {
    const r = await this.one("SELECT subject_id FROM identifiers WHERE scheme = $1 AND value = $2", [id.scheme, id.value]);
    return r ? Number(r.subject_id) : undefined;
  }

  async link(subjectId: SubjectId, id: Identifier, at: number): Promise<void> {
    const existing = await this.resolve(id);
    if (existing === subjectId) return;
    if (existing !== undefined) {
      throw new StandingError("identifier-conflict", `${id.scheme}:${id.value} already belongs to another subject`, { identifier: id });
    }
    await this.journaled("identifiers", "insert", "INSERT INTO identifiers (scheme, value, subject_id, linked_at) VALUES ($1, $2, $3, $4) RETURNING *", [
      id.scheme,
      id.value,
      subjectId,
      at,
    ]);
  }

  async resolveAll(ids: readonly Identifier[]): Promise<LinkedIdentifier[]> {
    if (ids.length === 0) return [];
    return (
      await this.rows("SELECT i.scheme, i.value, i.subject_id FROM identifiers i JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS u(scheme, value)) u USING (scheme, value)", [
        ids.map((i) => i.scheme),
        ids.map((i) => i.value),
      ])
    ).map((r) => ({ scheme: r.scheme as string, value: r.value as string, subjectId: Number(r.subject_id) }));
  }

  async identifiersOfAll(ids: readonly SubjectId[]): Promise<LinkedIdentifier[]> {
    if (ids.length === 0) return [];
    return (await this.rows("SELECT scheme, value, subject_id FROM identifiers WHERE subject_id = ANY($1::bigint[]) ORDER BY subject_id, scheme, value", [[...new Set(ids)]])).map((r) => ({
      scheme: r.scheme as string,
      value: r.value as string,
      subjectId: Number(r.subject_id),
    }));
  }

  async createSubjects(count: number, at: number): Promise<SubjectId[]> {
    if (count <= 0) return [];
    const rows = await this.journaled("subjects", "insert", "INSERT INTO subjects (created_at) SELECT $1::bigint FROM generate_series(1, $2::int) RETURNING *", [at, count], "id");
    return rows.map((r) => Number(r.id));
  }

  async linkAll(ids: readonly LinkedIdentifier[], at: number): Promise<void> {
    if (ids.length === 0) return;
    const known = new Map((await this.resolveAll(ids)).map((l) => [`${l.scheme}\u0000${l.value}`, l.subjectId]));
    const fresh: LinkedIdentifier[] = [];
    for (const id of ids) {
      const k = `${id.scheme}\u0000${id.value}`;
      const existing = known.get(k);
      if (existing === id.subjectId) continue;
      if (existing !== undefined) throw new StandingError("identifier-conflict", `${id.scheme}:${id.value} already belongs to another subject`, { identifier: { scheme: id.scheme, value: id.value } });
      known.set(k, id.subjectId);
      fresh.push(id);
    }
    if (fresh.length === 0) return;
    await this.journaled(
      "identifiers",
      "insert",
      `INSERT INTO identifiers (scheme, value, subject_id, linked_at)
       SELECT scheme, value, subject_id, $4 FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(scheme, value, subject_id, n) ORDER BY n RETURNING *`,
      [fresh.map((i) => i.scheme), fresh.map((i) => i.value), fresh.map((i) => i.subjectId), at],
    );
  }

  async identifiersOf(subjectId: SubjectId): Promise<Identifier[]> {
    return (await this.rows("SELECT scheme, value FROM identifiers WHERE subject_id = $1 ORDER BY scheme, value", [subjectId])) as unknown as Identifier[];
  }

  async subjectExists(subjectId: SubjectId): Promise<boolean> {
    return (await this.one("SELECT 1 AS x FROM subjects WHERE id = $1", [subjectId])) !== undefined;
  }

  async countSubjects(): Promise<number> {
    return Number((await this.one("SELECT count(*) AS n FROM subjects"))?.n ?? 0);
  }

  async findRecord(source: string, recordId: string): Promise<RecordRow | undefined> {
    const r = await this.one(`SELECT ${recordCols} FROM records WHERE source = $1 AND record_id = $2`, [source, recordId]);
    return r ? toRecord(r) : undefined;
  }

  async appendRecord(r: NewRecord): Promise<RecordRow> {
    const [row] = await this.journaled(
      "records",
      "insert",
      "INSERT INTO records (source, record_id, subject_id, type, occurred_at, received_at, retracts, body, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
      [r.source, r.recordId, r.subjectId, r.type, r.occurredAt, r.receivedAt, r.retracts, r.body, r.hash],
    );
    return { ...r, seq: Number(row?.seq) };
  }

  async findRecords(keys: readonly RecordKey[]): Promise<RecordRow[]> {
    if (keys.length === 0) return [];
    return (
      await this.rows(
        `SELECT ${recordCols.split(", ").map((c) => `r.${c}`).join(", ")} FROM records r JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS u(source, record_id)) u USING (source, record_id)`,
        [keys.map((k) => k.source), keys.map((k) => k.recordId)],
      )
    ).map(toRecord);
  }

  async appendRecords(rs: readonly NewRecord[]): Promise<RecordRow[]> {
    this.state();
    const out: RecordRow[] = [];
    // In chunks, so that one statement's arrays stay a reasonable size. Only the seqs come
    // back: the rest of each row is what was sent, and is hashed from it.
    for (let i = 0; i < rs.length; i += 5000) {
      const chunk = rs.slice(i, i + 5000);
      const seqs = await this.rows(
        `INSERT INTO records (source, record_id, subject_id, type, occurred_at, received_at, retracts, body, hash)
         SELECT source, record_id, subject_id, type, occurred_at, received_at, retracts, body, hash
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[])
           WITH ORDINALITY AS u(source, record_id, subject_id, type, occurred_at, received_at, retracts, body, hash, n)
         ORDER BY n RETURNING seq, source, record_id`,
        [
          chunk.map((r) => r.source),
          chunk.map((r) => r.recordId),
          chunk.map((r) => r.subjectId),
          chunk.map((r) => r.type),
          chunk.map((r) => r.occurredAt),
          chunk.map((r) => r.receivedAt),
          chunk.map((r) => r.retracts),
          chunk.map((r) => r.body),
          chunk.map((r) => r.hash),
        ],
      );
      const seqOf = new Map(seqs.map((r) => [`${r.source as string}\u0000${r.record_id as string}`, Number(r.seq)]));
      const rows = chunk.map((r) => ({ ...r, seq: seqOf.get(`${r.source}\u0000${r.recordId}`) as number }));
      this.journalWritten(
        "records",
        "insert",
        rows.map((r) => ({ seq: r.seq, source: r.source, record_id: r.recordId, subject_id: r.subjectId, type: r.type, occurred_at: r.occurredAt, received_at: r.receivedAt, retracts: r.retracts, body: r.body, hash: r.hash })),
      );
      out.push(...rows);
    }
    return out;
  }

  async recordsOf(subjectId: SubjectId): Promise<RecordRow[]> {
    return (await this.rows(`SELECT ${recordCols} FROM records WHERE subject_id = $1 ORDER BY seq`, [subjectId])).map(toRecord);
  }

  async countRecords(): Promise<number> {
    return Number((await this.one("SELECT count(*) AS n FROM records"))?.n ?? 0);
  }

  async findQuarantined(source: string, recordId: string): Promise<QuarantineRow | undefined> {
    const r = await this.one(`SELECT ${quarantineCols} FROM quarantine WHERE source = $1 AND record_id = $2`, [source, recordId]);
    return r ? toQuarantine(r) : undefined;
  }

  async quarantine(q: NewQuarantine): Promise<QuarantineRow> {
    const [r] = await this.journaled(
      "quarantine",
      "insert",
      "INSERT INTO quarantine (source, record_id, scheme, value, body, hash, received_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
      [q.source, q.recordId, q.scheme, q.value, q.body, q.hash, q.receivedAt, q.reason],
    );
    return { ...q, seq: Number(r?.seq), releasedAt: null };
  }

  async findQuarantinedAll(keys: readonly RecordKey[]): Promise<QuarantineRow[]> {
    if (keys.length === 0) return [];
    return (
      await this.rows(
        `SELECT ${quarantineCols.split(", ").map((c) => `q.${c}`).join(", ")} FROM quarantine q JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS u(source, record_id)) u USING (source, record_id)`,
        [keys.map((k) => k.source), keys.map((k) => k.recordId)],
      )
    ).map(toQuarantine);
  }

  async quarantineAll(qs: readonly NewQuarantine[]): Promise<QuarantineRow[]> {
    if (qs.length === 0) return [];
    const rows = await this.journaled(
      "quarantine",
      "insert",
      `INSERT INTO quarantine (source, record_id, scheme, value, body, hash, received_at, reason)
       SELECT source, record_id, scheme, value, body, hash, received_at, reason
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
         WITH ORDINALITY AS u(source, record_id, scheme, value, body, hash, received_at, reason, n)
       ORDER BY n RETURNING *`,
      [qs.map((q) => q.source), qs.map((q) => q.recordId), qs.map((q) => q.scheme), qs.map((q) => q.value), qs.map((q) => q.body), qs.map((q) => q.hash), qs.map((q) => q.receivedAt), qs.map((q) => q.reason)],
      "seq",
    );
    return rows.map(toQuarantine);
  }

  async quarantinedFor(id: Identifier): Promise<QuarantineRow[]> {
    return (await this.rows(`SELECT ${quarantineCols} FROM quarantine WHERE scheme = $1 AND value = $2 AND released_at IS NULL ORDER BY seq`, [id.scheme, id.value])).map(toQuarantine);
  }

  async listQuarantine(limit: number): Promise<QuarantineRow[]> {
    return (await this.rows(`SELECT ${quarantineCols} FROM quarantine WHERE released_at IS NULL ORDER BY seq LIMIT $1`, [limit])).map(toQuarantine);
  }

  async releaseQuarantined(seq: number, at: number): Promise<void> {
    const rows = await this.rows("UPDATE quarantine SET released_at = $1 WHERE seq = $2 AND released_at IS NULL RETURNING *", [at, seq]);
    this.journalRows("quarantine", "record.released", rows);
  }

  /** Journals rows a statement wrote, given as the columns and values written (all of them). */
  private journalWritten(table: string, op: RowOp, rows: readonly Row[]): void {
    const st = this.state();
    const t = this.tables.get(table);
    if (!t) throw new Error(`table ${table} is not known to the journal`);
    for (const row of rows) st.entries.push({ kind: kindOf(table, op, row), tbl: table, key: keyOf(t, row), rowHash: hashRow(t, row), data: null });
  }

  /** Journals rows an UPDATE returned, under a kind the caller knows. */
  private journalRows(table: string, kind: string, rows: readonly Row[]): void {
    const st = this.state();
    const t = this.tables.get(table) as JournaledTable;
    for (const row of rows) st.entries.push({ kind, tbl: table, key: keyOf(t, row), rowHash: hashRow(t, row), data: null });
  }

  private async upsertState(subjectId: number, policyRef: string, evaluatedAt: number, nextChangeAt: number | null, hasMeasures: number, json: string): Promise<void> {
    await this.journaled(
      "states",
      "update", // insert or update, both state.changed (a partitioned table has no xmax to tell them apart)
      `INSERT INTO states (subject_id, policy_ref, evaluated_at, next_change_at, has_measures, state) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (subject_id) DO UPDATE SET policy_ref = excluded.policy_ref, evaluated_at = excluded.evaluated_at,
         next_change_at = excluded.next_change_at, has_measures = excluded.has_measures, state = excluded.state
       RETURNING *`,
      [subjectId, policyRef, evaluatedAt, nextChangeAt, hasMeasures, json],
    );
  }

  async putState(row: StateRow): Promise<void> {
    await this.upsertState(row.subjectId, row.policyRef, row.evaluatedAt, row.nextChangeAt, row.state.measures.length > 0 ? 1 : 0, JSON.stringify(row.state));
  }

  async putStates(rows: readonly StateRow[]): Promise<void> {
    this.state();
    for (let i = 0; i < rows.length; i += 5000) {
      const chunk = rows.slice(i, i + 5000).map((r) => ({
        subject_id: r.subjectId,
        policy_ref: r.policyRef,
        evaluated_at: r.evaluatedAt,
        next_change_at: r.nextChangeAt,
        has_measures: r.state.measures.length > 0 ? 1 : 0,
        state: JSON.stringify(r.state),
      }));
      // Replaced as a delete and an insert: on the hash-partitioned table, an upsert or
      // an UPDATE … FROM of thousands of rows costs about three times as much. Nothing
      // comes back: each row is what was sent, and is hashed from it.
      const ids = chunk.map((r) => r.subject_id);
      await this.db.query("DELETE FROM states WHERE subject_id = ANY($1::bigint[])", [ids]);
      // The states as parameters of their own (a text array would have every quote of their JSON escaped).
      for (let j = 0; j < chunk.length; j += 1000) {
        const part = chunk.slice(j, j + 1000);
        await this.db.query(
          `INSERT INTO states (subject_id, policy_ref, evaluated_at, next_change_at, has_measures, state) VALUES ${part.map((_, k) => `($${k * 6 + 1}::bigint, $${k * 6 + 2}, $${k * 6 + 3}::bigint, $${k * 6 + 4}::bigint, $${k * 6 + 5}::bigint, $${k * 6 + 6})`).join(", ")}`,
          part.flatMap((r) => [r.subject_id, r.policy_ref, r.evaluated_at, r.next_change_at, r.has_measures, r.state]),
        );
      }
      this.journalWritten("states", "update", chunk); // insert or update, both state.changed (as upsertState)
    }
  }

  async putStateText(row: StateText): Promise<void> {
    await this.upsertState(row.subjectId, row.policyRef, row.evaluatedAt, row.nextChangeAt, row.hasMeasures ? 1 : 0, row.json);
  }

  async getState(subjectId: SubjectId): Promise<StateRow | undefined> {
    const r = await this.one("SELECT * FROM states WHERE subject_id = $1", [subjectId]);
    return r ? toState(r) : undefined;
  }

  async evaluationInputs(ids: readonly SubjectId[]): Promise<StoredInputs[]> {
    return readPage(this.db, ids);
  }

  async dueSubjects(at: number, limit: number): Promise<SubjectId[]> {
    return (await this.rows("SELECT subject_id FROM states WHERE next_change_at IS NOT NULL AND next_change_at <= $1 ORDER BY next_change_at, subject_id LIMIT $2", [at, limit])).map((r) =>
      Number(r.subject_id),
    );
  }

  async subjectsWithRecords(afterId: SubjectId, limit: number): Promise<SubjectId[]> {
    return (await this.rows("SELECT DISTINCT subject_id FROM records WHERE subject_id > $1 ORDER BY subject_id LIMIT $2", [afterId, limit])).map((r) => Number(r.subject_id));
  }

  async countSubjectsWithRecords(): Promise<number> {
    return Number((await this.one("SELECT count(DISTINCT subject_id) AS n FROM records"))?.n ?? 0);
  }

  async statesWithMeasures(afterId: SubjectId, limit: number): Promise<{ subjectId: SubjectId; identifiers: Identifier[]; state: SubjectState }[]> {
    const rows = await this.rows("SELECT subject_id, state FROM states WHERE has_measures = 1 AND subject_id > $1 ORDER BY subject_id LIMIT $2", [afterId, limit]);
    if (rows.length === 0) return [];
    const ids = new Map<number, Identifier[]>();
    for (const r of rows) ids.set(Number(r.subject_id), []);
    const lo = Number(rows[0]?.subject_id);
    const hi = Number(rows[rows.length - 1]?.subject_id);
    for (const i of await this.rows("SELECT subject_id, scheme, value FROM identifiers WHERE subject_id BETWEEN $1 AND $2 ORDER BY subject_id, scheme, value", [lo, hi])) {
      ids.get(Number(i.subject_id))?.push({ scheme: i.scheme as string, value: i.value as string });
    }
    return rows.map((r) => ({ subjectId: Number(r.subject_id), identifiers: ids.get(Number(r.subject_id)) ?? [], state: JSON.parse(r.state as string) as SubjectState }));
  }

  async earliestChange(): Promise<number | null> {
    const v = (await this.one("SELECT min(next_change_at) AS m FROM states WHERE next_change_at IS NOT NULL"))?.m;
    return v === null || v === undefined ? null : Number(v);
  }

  async addKey(row: KeyRow): Promise<void> {
    await this.journaled(
      "keys",
      "insert",
      "INSERT INTO keys (key_id, hash, role, label, source, contexts, subject_id, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
      [row.keyId, row.hash, row.role, row.label, row.source, JSON.stringify(row.contexts), row.subjectId, row.createdAt, row.revokedAt],
    );
  }

  async keyById(keyId: string): Promise<KeyRow | undefined> {
    const r = await this.one("SELECT * FROM keys WHERE key_id = $1", [keyId]);
    return r ? toKey(r) : undefined;
  }

  async listKeys(): Promise<KeyRow[]> {
    return (await this.rows("SELECT * FROM keys ORDER BY created_at, key_id")).map(toKey);
  }

  async revokeKey(keyId: string, at: number): Promise<boolean> {
    const rows = await this.rows("UPDATE keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL RETURNING *", [at, keyId]);
    this.journalRows("keys", "key.revoked", rows);
    return rows.length > 0;
  }

  async decisionsAbout(ids: readonly Identifier[], limit: number): Promise<DecisionLogRow[]> {
    const all: DecisionLogRow[] = [];
    for (const i of ids) {
      all.push(...(await this.rows("SELECT * FROM decisions WHERE scheme = $1 AND value = $2 ORDER BY at DESC, id LIMIT $3", [i.scheme, i.value, limit])).map(toDecision));
    }
    // The compact log (screenings, checks): the rows of each identifier's bucket, newest first, a page at a time, while they can hold one of the `limit` newest.
    for (const who of ids) {
      const about = new NewestAbout(who, limit);
      const PAGE = 64;
      pages: for (let offset = 0; ; offset += PAGE) {
        const rows = await this.rows("SELECT id, at, key_id, asked_by, context, bucket, lines, entries FROM screenings WHERE bucket = $1 ORDER BY at DESC, id LIMIT $2 OFFSET $3", [screeningBucket(who.scheme, who.value), PAGE, offset]);
        for (const r of rows) {
          const row = { id: r.id as string, at: Number(r.at), keyId: r.key_id as string, askedBy: r.asked_by as string, context: r.context as string, bucket: Number(r.bucket), lines: Number(r.lines), entries: r.entries as string };
          if (about.done(row.at)) break pages;
          all.push(...about.take(row));
        }
        if (rows.length < PAGE) break;
      }
    }
    return all.sort((a, b) => b.at - a.at || (a.id < b.id ? -1 : 1)).slice(0, limit);
  }

  async countDecisions(): Promise<number> {
    return Number((await this.one("SELECT (SELECT count(*) FROM decisions) + (SELECT coalesce(sum(lines), 0) FROM screenings) AS n"))?.n ?? 0);
  }

  /**
   * Rows of a table journaled per batch (the decision log, screenings) and one entry
   * covering them (see the embedded store's appendLogBatch). The commit does not wait for
   * the disk (docs/journal.md, "The decision log"): a crash of the database server can
   * lose the last moments of log, never corrupt it or any other table, and every other
   * transaction still commits durably.
   */
  async appendLogBatch(table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<void> {
    const st = this.state();
    const t = this.tables.get(table);
    if (!t?.batch) throw new Error(`table ${table} is not journaled per batch`);
    if (st.entries.length > 0) throw new Error(`a ${table} batch must be its transaction's only entry`);
    await this.rows("SET LOCAL synchronous_commit = off");
    const seq = await PgJournal.nextSeq(this.db);
    const all = [...columns, t.batch.column];
    const inserted: Row[] = [];
    // A statement takes at most 65,535 parameters.
    const per = Math.floor(60_000 / all.length);
    for (let i = 0; i < rows.length; i += per) {
      const chunk = rows.slice(i, i + per);
      const values = chunk.map((_, j) => `(${all.map((_, k) => `$${j * all.length + k + 1}`).join(", ")})`).join(", ");
      const params = chunk.flatMap((r) => [...r, seq]);
      inserted.push(...(await this.rows(`INSERT INTO ${table} (${all.join(", ")}) VALUES ${values} ON CONFLICT (id) DO NOTHING RETURNING *`, params)));
    }
    if (inserted.length === 0) return;
    const batch = sortBatch(inserted.map((r) => batchRow(t.columns, t.key, t.columns.map((c) => sqlValue(t, c, r[c])))));
    const { rowHash, data } = batchEntry(batch);
    st.entries.push({ kind: t.batch.kind, tbl: t.name, key: null, rowHash, data, seq });
  }

  async listCounts(): Promise<ListCount[]> {
    return (
      await this.rows(
        `SELECT l->>'list' AS list, l->>'effect' AS effect, count(*) AS members
         FROM states, jsonb_array_elements(CASE WHEN jsonb_typeof(states.state::jsonb -> 'lists') = 'array' THEN states.state::jsonb -> 'lists' ELSE '[]'::jsonb END) AS l
         GROUP BY 1, 2 ORDER BY (l->>'list') COLLATE "C", (l->>'effect') COLLATE "C"`,
      )
    ).map((r) => ({ list: r.list as string, effect: r.effect as "restrict" | "privilege", members: Number(r.members) }));
  }

  async measureCounts(): Promise<MeasureCount[]> {
    return (
      await this.rows(
        `SELECT m->>'context' AS context, m->>'measure' AS measure, m->>'effect' AS effect,
                sum(CASE WHEN m->>'status' = 'active' THEN 1 ELSE 0 END) AS active, sum(CASE WHEN m->>'status' = 'pending' THEN 1 ELSE 0 END) AS pending
         FROM states, jsonb_array_elements(CASE WHEN jsonb_typeof(states.state::jsonb -> 'measures') = 'array' THEN states.state::jsonb -> 'measures' ELSE '[]'::jsonb END) AS m
         WHERE states.has_measures = 1 GROUP BY 1, 2, 3 ORDER BY (m->>'context') COLLATE "C", (m->>'measure') COLLATE "C", (m->>'effect') COLLATE "C"`,
      )
    ).map((r) => ({
      context: r.context as string,
      measure: r.measure as string,
      effect: r.effect as "deny" | "privilege",
      active: Number(r.active),
      pending: Number(r.pending),
    }));
  }

  async noticeTimes(): Promise<number[]> {
    return (await this.rows("SELECT created_at FROM notices")).map((r) => Number(r.created_at));
  }

  async putDispute(row: DisputeRow): Promise<void> {
    await this.journaled(
      "disputes",
      "upsert",
      `INSERT INTO disputes (id, subject_id, source, record_id, grounds, evidence, opened_by, opened_at, deadline_at, suspend, status, answer_note, answered_at, decided_by, reason, closed_at, counts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, answer_note = excluded.answer_note, answered_at = excluded.answered_at,
         decided_by = excluded.decided_by, reason = excluded.reason, closed_at = excluded.closed_at, counts = excluded.counts
       RETURNING *, (xmax = 0) AS inserted__`,
      [
        row.id,
        row.subjectId,
        row.source,
        row.recordId,
        row.grounds,
        row.evidence,
        row.openedBy,
        row.openedAt,
        row.deadlineAt,
        row.suspend ? 1 : 0,
        row.status,
        row.answerNote,
        row.answeredAt,
        row.decidedBy,
        row.reason,
        row.closedAt,
        row.counts === null ? null : row.counts ? 1 : 0,
      ],
    );
  }

  async addDisputeAction(row: DisputeActionRow): Promise<void> {
    await this.journaled("dispute_actions", "insert", "INSERT INTO dispute_actions (dispute_id, action, actor, at, note) VALUES ($1, $2, $3, $4, $5) RETURNING *", [
      row.disputeId,
      row.action,
      row.actor,
      row.at,
      row.note,
    ]);
  }

  async disputeActions(disputeId: string): Promise<DisputeActionRow[]> {
    return (await this.rows("SELECT dispute_id, action, actor, at, note FROM dispute_actions WHERE dispute_id = $1 ORDER BY seq", [disputeId])).map((r) => ({
      disputeId: r.dispute_id as string,
      action: r.action as DisputeActionRow["action"],
      actor: r.actor as string,
      at: Number(r.at),
      note: (r.note as string | null) ?? null,
    }));
  }

  async getDispute(id: string): Promise<DisputeRow | undefined> {
    const r = await this.one("SELECT * FROM disputes WHERE id = $1", [id]);
    return r ? toDispute(r) : undefined;
  }

  async disputesOf(subjectId: SubjectId): Promise<DisputeRow[]> {
    return (await this.rows("SELECT * FROM disputes WHERE subject_id = $1 ORDER BY opened_at, id", [subjectId])).map(toDispute);
  }

  async listDisputes(filter: { status?: DisputeStatus; source?: string; limit: number }): Promise<DisputeRow[]> {
    return (
      await this.rows("SELECT * FROM disputes WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR source = $2) ORDER BY deadline_at, id LIMIT $3", [
        filter.status ?? null,
        filter.source ?? null,
        filter.limit,
      ])
    ).map(toDispute);
  }

  async expiredDisputes(at: number): Promise<DisputeRow[]> {
    return (await this.rows("SELECT * FROM disputes WHERE status = 'open' AND deadline_at <= $1 ORDER BY deadline_at, id", [at])).map(toDispute);
  }

  async addApplication(row: ApplicationRow): Promise<void> {
    await this.journaled("applications", "insert", "INSERT INTO applications (id, subject_id, list, applied_at, applied_by) VALUES ($1, $2, $3, $4, $5) RETURNING *", [
      row.id,
      row.subjectId,
      row.list,
      row.appliedAt,
      row.appliedBy,
    ]);
  }

  async applicationsOf(subjectId: SubjectId): Promise<ApplicationRow[]> {
    return (await this.rows("SELECT * FROM applications WHERE subject_id = $1 ORDER BY applied_at, id", [subjectId])).map((r) => ({
      id: r.id as string,
      subjectId: Number(r.subject_id),
      list: r.list as string,
      appliedAt: Number(r.applied_at),
      appliedBy: r.applied_by as string,
    }));
  }

  async addNotice(row: NoticeRow): Promise<boolean> {
    const added = await this.journaled(
      "notices",
      "insert",
      "INSERT INTO notices (id, subject_id, measure, effective_from, created_at, body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING *",
      [row.id, row.subjectId, row.measure, row.effectiveFrom, row.createdAt, row.body],
    );
    if (added.length === 0) return false;
    await this.journaled("outbox", "insert", "INSERT INTO outbox (notice_id, attempts, next_attempt_at, delivered_at, last_error) VALUES ($1, 0, $2, NULL, NULL) RETURNING *", [
      row.id,
      row.createdAt,
    ]);
    return true;
  }

  async addNotices(rows: readonly NoticeRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const added = await this.journaled(
      "notices",
      "insert",
      `INSERT INTO notices (id, subject_id, measure, effective_from, created_at, body)
       SELECT id, subject_id, measure, effective_from, created_at, body
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[]) WITH ORDINALITY AS u(id, subject_id, measure, effective_from, created_at, body, n)
       ORDER BY n ON CONFLICT DO NOTHING RETURNING *`,
      [rows.map((r) => r.id), rows.map((r) => r.subjectId), rows.map((r) => r.measure), rows.map((r) => r.effectiveFrom), rows.map((r) => r.createdAt), rows.map((r) => r.body)],
    );
    if (added.length === 0) return 0;
    await this.journaled(
      "outbox",
      "insert",
      "INSERT INTO outbox (notice_id, attempts, next_attempt_at, delivered_at, last_error) SELECT id, 0, at, NULL, NULL FROM unnest($1::text[], $2::bigint[]) AS u(id, at) RETURNING *",
      [added.map((r) => r.id), added.map((r) => Number(r.created_at))],
    );
    return added.length;
  }

  async noticesOf(subjectId: SubjectId): Promise<NoticeRow[]> {
    return (await this.rows("SELECT * FROM notices WHERE subject_id = $1 ORDER BY created_at, id", [subjectId])).map(toNotice);
  }

  async getNotice(id: string): Promise<NoticeRow | undefined> {
    const r = await this.one("SELECT * FROM notices WHERE id = $1", [id]);
    return r ? toNotice(r) : undefined;
  }

  async dueOutbox(at: number, limit: number): Promise<OutboxRow[]> {
    return (await this.rows("SELECT * FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, notice_id LIMIT $2", [at, limit])).map(toOutbox);
  }

  async markDelivered(noticeId: string, at: number): Promise<void> {
    const rows = await this.rows("UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE notice_id = $2 AND delivered_at IS NULL RETURNING *", [at, noticeId]);
    this.journalRows("outbox", "notice.delivered", rows);
  }

  async markFailed(noticeId: string, error: string, nextAttemptAt: number): Promise<void> {
    const rows = await this.rows("UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE notice_id = $3 AND delivered_at IS NULL RETURNING *", [
      error.slice(0, 2000),
      nextAttemptAt,
      noticeId,
    ]);
    this.journalRows("outbox", "notice.attempted", rows);
  }

  async outboxOf(noticeId: string): Promise<OutboxRow | undefined> {
    const r = await this.one("SELECT * FROM outbox WHERE notice_id = $1", [noticeId]);
    return r ? toOutbox(r) : undefined;
  }

  async deliveredChannels(noticeId: string): Promise<string[]> {
    return (await this.rows("SELECT channel FROM deliveries WHERE notice_id = $1 ORDER BY channel", [noticeId])).map((r) => r.channel as string);
  }

  async markChannelDelivered(noticeId: string, channel: string, at: number): Promise<void> {
    await this.journaled("deliveries", "insert", "INSERT INTO deliveries (notice_id, channel, delivered_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING *", [
      noticeId,
      channel,
      at,
    ]);
  }

  pageReader(): PageReaderSpec | undefined {
    return undefined;
  }

  async journalEvent(kind: string, data: unknown): Promise<void> {
    if (typeof kind !== "string" || kind.length === 0 || kind.length > 200) throw new Error("a journal event needs a kind (1–200 characters)");
    this.state().entries.push({ kind, tbl: null, key: null, rowHash: null, data: eventData(data) });
  }

  async emit(change: NewChange): Promise<void> {
    this.state().changes.push({ kind: change.kind, ref: change.ref, at: Date.now() });
  }

  async changesSince(afterSeq: number, limit: number): Promise<ChangeRow[]> {
    return (await this.rows("SELECT seq, kind, ref, origin, at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2", [afterSeq, limit])).map((r) => ({
      seq: Number(r.seq),
      kind: r.kind as ChangeRow["kind"],
      ref: r.ref as string,
      origin: r.origin as string,
      at: Number(r.at),
    }));
  }

  async lastChange(): Promise<number> {
    return Number((await this.one("SELECT coalesce(max(seq), 0) AS n FROM changes"))?.n ?? 0);
  }
}

/**
 * A transaction's connection, its queries queued one after another: the shell may ask
 * several reads of one transaction at once (Promise.all), and a connection runs one
 * query at a time.
 */
function serial(client: pg.PoolClient): Queryable {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    query: ((sql: string, params?: unknown[]) => {
      const run = tail.then(() => client.query(sql, params));
      tail = run.catch(() => undefined);
      return run;
    }) as Queryable["query"],
  };
}

/** Runs async critical sections one at a time, in arrival order. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => next);
    await prev;
    return release;
  }
}

export class PgStore implements Store {
  private readonly pool: pg.Pool;
  private readonly ownJournal: PgJournal;
  private startup: Promise<ReadonlyMap<string, JournaledTable>> | undefined;

  /**
   * Connected and migrated; awaited by every operation. A start that failed (the server
   * restarting, a connection cut while migrating) is forgotten, so that the next
   * operation tries again rather than failing for the life of the process.
   */
  private get ready(): Promise<ReadonlyMap<string, JournaledTable>> {
    this.startup ??= this.start().catch((e: unknown) => {
      this.startup = undefined;
      throw e;
    });
    return this.startup;
  }
  /** One writing transaction at a time from this process: the rest of the pool stays free for reads. */
  private readonly mutex = new Mutex();
  readonly origin = randomUUID();
  readonly journal: JournalPort;
  private closed = false;
  private emitted = 0;
  private lastHead: SignedHead | undefined;

  constructor(
    readonly url: string,
    private readonly options: PgStoreOptions = {},
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types, allowExitOnIdle: true, application_name: "standing", connectionTimeoutMillis: 10_000 });
    // A connection the server ended while idle (a restart, pg_terminate_backend) is
    // dropped from the pool and replaced on the next use: not a reason to crash.
    this.pool.on("error", (e) => console.error(`standing: a PostgreSQL connection was lost (${(e as Error).message}); it will be replaced`));
    // A connection that goes away while checked out fails the query or transaction under
    // way (which the caller sees); its 'error' event must not also end the process.
    this.pool.on("connect", (client) => client.on("error", () => undefined));
    const keyFile = options.keyFile ?? defaultKeyFile(url);
    this.ownJournal = PgJournal.open({ keyFile, readOnly: options.readOnly ?? false });
    // Started at once; an unused store that cannot connect must not crash the process.
    this.ready.catch(() => undefined);
    const journal = this.ownJournal;
    this.journal = {
      publicKey: () => {
        if (!journal.publicKeyPem || !journal.fingerprint) throw new StandingError("not-found", "this store keeps no signed journal");
        return { algorithm: "Ed25519", publicKey: journal.publicKeyPem, fingerprint: journal.fingerprint };
      },
      head: async () => {
        await this.ready;
        return latestHead(this.pool);
      },
      hashAt: async (seq: number) => {
        await this.ready;
        const r = await this.pool.query<{ hash: string }>("SELECT hash FROM journal WHERE seq = $1", [seq]);
        return r.rows[0]?.hash;
      },
      signer: () => {
        if (!journal.fingerprint || journal.readOnly) throw new StandingError("not-found", "this store keeps no signing key");
        return { sign: (bytes: Uint8Array) => journal.sign(bytes), fingerprint: journal.fingerprint };
      },
      // Rotation needs the verifier to follow a chain of keys, which only the embedded
      // store's does so far; refused plainly rather than half done.
      rotateKey: () => Promise.reject(new StandingError("bad-request", "key rotation is not yet available on a PostgreSQL store: stop the servers, keep the key file, and rotate after an upgrade that supports it")),
      verify: async (o: AuditOptions): Promise<VerifyReport> => {
        await this.ready;
        return verifyPostgres(this.pool, { ...o, journal });
      },
    };
  }

  private async start(): Promise<ReadonlyMap<string, JournaledTable>> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      if ((e as { code?: unknown }).code !== "3D000" || this.options.readOnly || this.options.createDatabase === false) throw unreachable(this.url, e);
      await createDatabase(this.url);
      try {
        client = await this.pool.connect();
      } catch (again) {
        throw unreachable(this.url, again);
      }
    }
    try {
      if (!this.options.readOnly) await migrate(client);
      await this.ownJournal.checkKey(client);
      return new Map((await journaledTables(client)).map((t) => [t.name, t]));
    } finally {
      client.release();
    }
  }

  /** Resolves when the database is reachable and migrated; rejects with a storage error otherwise. */
  async open(): Promise<this> {
    await this.ready;
    return this;
  }

  /** The last head this process signed (for tests and the bench). */
  get signedHead(): SignedHead | undefined {
    return this.lastHead;
  }

  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error("the store is closed");
    if (this.options.readOnly) throw new StandingError("storage-read-only", "the store was opened read-only");
    const tables = await this.ready;
    const release = await this.mutex.lock();
    let client: pg.PoolClient | undefined;
    let broken = false;
    try {
      try {
        client = await this.pool.connect();
      } catch (e) {
        throw unreachable(this.url, e);
      }
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1, $2)", [...WRITE_LOCK]);
      const st: TxState = { entries: [], changes: [] };
      const out = await fn(new PgOps(serial(client), st, tables));
      await this.finish(client, st);
      await client.query("COMMIT");
      return out;
    } catch (e) {
      if (client) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true; // the connection is gone: do not hand it back to the pool
        }
      }
      throw coded(e);
    } finally {
      client?.release(broken ? true : undefined);
      release();
    }
  }

  /** At commit: the journal's entries and signed head, then the change events, under the locks already held. */
  private async finish(client: pg.PoolClient, st: TxState): Promise<void> {
    const head = await this.ownJournal.append(client, st.entries, Date.now());
    if (head) this.lastHead = head;
    if (st.changes.length > 0) {
      const values = st.changes.map((_, i) => `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4})`).join(", ");
      await client.query(
        `INSERT INTO changes (kind, ref, origin, at) VALUES ${values}`,
        st.changes.flatMap((c) => [c.kind, c.ref, this.origin, c.at]),
      );
      const before = this.emitted;
      this.emitted += st.changes.length;
      // Now and then, in the same transaction, drop what every running process has long read.
      if (Math.floor(before / 1000) !== Math.floor(this.emitted / 1000)) {
        await client.query("DELETE FROM changes WHERE at < $1", [Date.now() - CHANGE_RETENTION_MS]);
      }
    }
  }

  async appendDecisions(rows: readonly DecisionLogRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.transaction(async (tx) => (tx as unknown as PgOps).appendLogBatch("decisions", DECISION_COLUMNS, rows.map((d) => [d.id, d.at, d.keyId, d.askedBy, d.scheme, d.value, d.context, d.decision, JSON.stringify(d.codes)])));
  }

  async appendScreenings(batches: readonly ScreeningLogBatch[]): Promise<void> {
    const rows = batches.flatMap(screeningRows);
    if (rows.length === 0) return;
    await this.transaction(async (tx) => (tx as unknown as PgOps).appendLogBatch("screenings", SCREENING_COLUMNS, rows.map((r) => [r.id, r.at, r.keyId, r.askedBy, r.context, r.bucket, r.lines, r.entries])));
  }

  async changesSince(afterSeq: number, limit: number): Promise<ChangeRow[]> {
    return (await this.reads()).changesSince(afterSeq, limit);
  }

  async lastChange(): Promise<number> {
    return (await this.reads()).lastChange();
  }

  exclusiveLease(name: string): ExclusiveLease {
    return new PgLease(this.url, name);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const release = await this.mutex.lock();
    try {
      this.closed = true;
      await this.pool.end();
    } finally {
      release();
    }
  }

  /** For this folder's tests and tools (tamper tests, store copy): a query on the pool. */
  async queryForTests(sql: string, params: unknown[] = []): Promise<Row[]> {
    await this.ready;
    return (await this.pool.query<Row>(sql, params)).rows;
  }

  private async reads(): Promise<PgOps> {
    if (this.closed) throw new Error("the store is closed");
    const tables = await this.ready;
    return new PgOps(pooled(this.pool), undefined, tables);
  }

  policies(): ReturnType<StoreReads["policies"]> {
    return this.reads().then((r) => r.policies());
  }
  policyProposals(): ReturnType<StoreReads["policyProposals"]> {
    return this.reads().then((r) => r.policyProposals());
  }
  sessionByHash(hash: string): ReturnType<StoreReads["sessionByHash"]> {
    return this.reads().then((r) => r.sessionByHash(hash));
  }
  outcomesOf(receipt: string, afterLine: number, limit: number): ReturnType<StoreReads["outcomesOf"]> {
    return this.reads().then((r) => r.outcomesOf(receipt, afterLine, limit));
  }
  outcomesFor(receipt: string, lines: readonly number[]): ReturnType<StoreReads["outcomesFor"]> {
    return this.reads().then((r) => r.outcomesFor(receipt, lines));
  }
  outcomeOfRecord(source: string, recordId: string): ReturnType<StoreReads["outcomeOfRecord"]> {
    return this.reads().then((r) => r.outcomeOfRecord(source, recordId));
  }
  catalogues(): ReturnType<StoreReads["catalogues"]> {
    return this.reads().then((r) => r.catalogues());
  }
  getMeta(key: string): ReturnType<StoreReads["getMeta"]> {
    return this.reads().then((r) => r.getMeta(key));
  }
  resolve(id: Identifier): ReturnType<StoreReads["resolve"]> {
    return this.reads().then((r) => r.resolve(id));
  }
  resolveAll(ids: readonly Identifier[]): ReturnType<StoreReads["resolveAll"]> {
    return this.reads().then((r) => r.resolveAll(ids));
  }
  identifiersOfAll(ids: readonly SubjectId[]): ReturnType<StoreReads["identifiersOfAll"]> {
    return this.reads().then((r) => r.identifiersOfAll(ids));
  }
  findRecords(keys: readonly RecordKey[]): ReturnType<StoreReads["findRecords"]> {
    return this.reads().then((r) => r.findRecords(keys));
  }
  findQuarantinedAll(keys: readonly RecordKey[]): ReturnType<StoreReads["findQuarantinedAll"]> {
    return this.reads().then((r) => r.findQuarantinedAll(keys));
  }
  identifiersOf(subjectId: SubjectId): ReturnType<StoreReads["identifiersOf"]> {
    return this.reads().then((r) => r.identifiersOf(subjectId));
  }
  subjectExists(subjectId: SubjectId): ReturnType<StoreReads["subjectExists"]> {
    return this.reads().then((r) => r.subjectExists(subjectId));
  }
  countSubjects(): ReturnType<StoreReads["countSubjects"]> {
    return this.reads().then((r) => r.countSubjects());
  }
  findRecord(source: string, recordId: string): ReturnType<StoreReads["findRecord"]> {
    return this.reads().then((r) => r.findRecord(source, recordId));
  }
  recordsOf(subjectId: SubjectId): ReturnType<StoreReads["recordsOf"]> {
    return this.reads().then((r) => r.recordsOf(subjectId));
  }
  countRecords(): ReturnType<StoreReads["countRecords"]> {
    return this.reads().then((r) => r.countRecords());
  }
  findQuarantined(source: string, recordId: string): ReturnType<StoreReads["findQuarantined"]> {
    return this.reads().then((r) => r.findQuarantined(source, recordId));
  }
  quarantinedFor(id: Identifier): ReturnType<StoreReads["quarantinedFor"]> {
    return this.reads().then((r) => r.quarantinedFor(id));
  }
  listQuarantine(limit: number): ReturnType<StoreReads["listQuarantine"]> {
    return this.reads().then((r) => r.listQuarantine(limit));
  }
  getState(subjectId: SubjectId): ReturnType<StoreReads["getState"]> {
    return this.reads().then((r) => r.getState(subjectId));
  }
  dueSubjects(at: number, limit: number): ReturnType<StoreReads["dueSubjects"]> {
    return this.reads().then((r) => r.dueSubjects(at, limit));
  }
  subjectsWithRecords(afterId: SubjectId, limit: number): ReturnType<StoreReads["subjectsWithRecords"]> {
    return this.reads().then((r) => r.subjectsWithRecords(afterId, limit));
  }
  evaluationInputs(ids: readonly SubjectId[]): ReturnType<StoreReads["evaluationInputs"]> {
    return this.reads().then((r) => r.evaluationInputs(ids));
  }
  countSubjectsWithRecords(): ReturnType<StoreReads["countSubjectsWithRecords"]> {
    return this.reads().then((r) => r.countSubjectsWithRecords());
  }
  statesWithMeasures(afterId: SubjectId, limit: number): ReturnType<StoreReads["statesWithMeasures"]> {
    return this.reads().then((r) => r.statesWithMeasures(afterId, limit));
  }
  earliestChange(): ReturnType<StoreReads["earliestChange"]> {
    return this.reads().then((r) => r.earliestChange());
  }
  keyById(keyId: string): ReturnType<StoreReads["keyById"]> {
    return this.reads().then((r) => r.keyById(keyId));
  }
  listKeys(): ReturnType<StoreReads["listKeys"]> {
    return this.reads().then((r) => r.listKeys());
  }
  decisionsAbout(ids: readonly Identifier[], limit: number): ReturnType<StoreReads["decisionsAbout"]> {
    return this.reads().then((r) => r.decisionsAbout(ids, limit));
  }
  countDecisions(): ReturnType<StoreReads["countDecisions"]> {
    return this.reads().then((r) => r.countDecisions());
  }
  listCounts(): ReturnType<StoreReads["listCounts"]> {
    return this.reads().then((r) => r.listCounts());
  }
  measureCounts(): ReturnType<StoreReads["measureCounts"]> {
    return this.reads().then((r) => r.measureCounts());
  }
  noticeTimes(): ReturnType<StoreReads["noticeTimes"]> {
    return this.reads().then((r) => r.noticeTimes());
  }
  getDispute(id: string): ReturnType<StoreReads["getDispute"]> {
    return this.reads().then((r) => r.getDispute(id));
  }
  disputesOf(subjectId: SubjectId): ReturnType<StoreReads["disputesOf"]> {
    return this.reads().then((r) => r.disputesOf(subjectId));
  }
  listDisputes(filter: { status?: DisputeStatus; source?: string; limit: number }): ReturnType<StoreReads["listDisputes"]> {
    return this.reads().then((r) => r.listDisputes(filter));
  }
  expiredDisputes(at: number): ReturnType<StoreReads["expiredDisputes"]> {
    return this.reads().then((r) => r.expiredDisputes(at));
  }
  applicationsOf(subjectId: SubjectId): ReturnType<StoreReads["applicationsOf"]> {
    return this.reads().then((r) => r.applicationsOf(subjectId));
  }
  noticesOf(subjectId: SubjectId): ReturnType<StoreReads["noticesOf"]> {
    return this.reads().then((r) => r.noticesOf(subjectId));
  }
  getNotice(id: string): ReturnType<StoreReads["getNotice"]> {
    return this.reads().then((r) => r.getNotice(id));
  }
  dueOutbox(at: number, limit: number): ReturnType<StoreReads["dueOutbox"]> {
    return this.reads().then((r) => r.dueOutbox(at, limit));
  }
  outboxOf(noticeId: string): ReturnType<StoreReads["outboxOf"]> {
    return this.reads().then((r) => r.outboxOf(noticeId));
  }
  disputeActions(disputeId: string): ReturnType<StoreReads["disputeActions"]> {
    return this.reads().then((r) => r.disputeActions(disputeId));
  }
  deliveredChannels(noticeId: string): ReturnType<StoreReads["deliveredChannels"]> {
    return this.reads().then((r) => r.deliveredChannels(noticeId));
  }
}

/**
 * The driver reports a connection that went away mid-query (a server restart,
 * pg_terminate_backend) without a SQLSTATE: it is given connection_failure (08006), so
 * that it reaches the caller as storage-unavailable (failure.ts), not as a bug.
 */
function coded(e: unknown): unknown {
  if (e instanceof Error && (e as { code?: unknown }).code === undefined && /Connection terminated|connection (is )?closed|Client has encountered a connection error|not queryable/i.test(e.message)) {
    return Object.assign(e, { code: "08006" });
  }
  return e;
}

/** The pool, its errors coded as a transaction's are. */
function pooled(pool: pg.Pool): Queryable {
  return {
    query: (async (sql: string, params?: unknown[]) => {
      try {
        return await pool.query(sql, params);
      } catch (e) {
        throw coded(e);
      }
    }) as Queryable["query"],
  };
}

/** Creates the database a URL names, through the server's `postgres` database; another process creating it first is fine. */
async function createDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ""));
  u.pathname = "/postgres";
  const c = new pg.Client({ connectionString: u.toString() });
  try {
    await c.connect();
    await c.query(`CREATE DATABASE "${name.replace(/"/g, '""')}" TEMPLATE template0 ENCODING 'UTF8'`);
  } catch (e) {
    if ((e as { code?: unknown }).code !== "42P04") throw unreachable(url, e); // 42P04: it exists now
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** A database that cannot be reached: one line an operator can act on. */
function unreachable(url: string, e: unknown): StandingError {
  const msg = (e as Error)?.message ?? String(e);
  const code = (e as { code?: unknown })?.code;
  return new StandingError("storage-unavailable", `cannot reach the PostgreSQL database ${redact(url)}: ${msg}`, { cause: typeof code === "string" ? code : "connect", stage: "connect" });
}
