import Database from "better-sqlite3";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { StandingError } from "../../errors.js";
import type { SubjectState } from "../../engine/types.js";
import type {
  CatalogueRow,
  OutcomeRow,
  ChangeRow,
  Identifier,
  JournalPort,
  NewChange,
  PageReaderSpec,
  NewQuarantine,
  NewRecord,
  PolicyProposalRow,
  PolicyRow,
  QuarantineRow,
  SessionRow,
  RecordRow,
  StateRow,
  StateText,
  LinkedIdentifier,
  RecordKey,
  StoredInputs,
  AuditOptions,
  Store,
  StoreReads,
  StoreTx,
  SubjectId,
} from "../types.js";
import { ddl, recordSchemaVersion, upgradeSchema } from "./schema.js";
import { readPage, pageStatements, recordCols, toApplication, toDispute, toRecord, toState, type PageStatements, type Row } from "./rows.js";
import { batchedTables, installJournal, journalPublicKey, fingerprintOfPem, type CheckpointRow, type Journal, type JournalOptions } from "./journal.js";
import type { SqlValue } from "../../journal/hash.js";
import { NewestAbout, screeningBucket, screeningRows, type ScreeningLogBatch, type ScreeningRow } from "../screening-log.js";
import { randomUUID } from "node:crypto";
import { verifyJournal } from "./verify.js";
import { openReadOnlyDatabase } from "./readonly.js";
import type { VerifyReport } from "../../journal/report.js";
import type { KeyRow, Role } from "../../auth/principals.js";
import type { SignedHead } from "../types.js";
import type { ApplicationRow, DecisionLogRow, DisputeActionRow, DisputeRow, DisputeStatus, ListCount, MeasureCount, NoticeRow, OutboxRow } from "../types.js";


const quarantineCols = "seq, source, record_id, scheme, value, body, hash, received_at, reason, released_at";




function toQuarantine(r: Row): QuarantineRow {
  return {
    seq: r.seq as number,
    source: r.source as string,
    recordId: r.record_id as string,
    scheme: r.scheme as string,
    value: r.value as string,
    body: r.body as string,
    hash: r.hash as string,
    receivedAt: r.received_at as number,
    reason: r.reason as string,
    releasedAt: (r.released_at as number | null) ?? null,
  };
}

function toKey(r: Row): KeyRow {
  return {
    keyId: r.key_id as string,
    hash: r.hash as string,
    role: r.role as Role,
    label: r.label as string,
    source: (r.source as string | null) ?? null,
    contexts: JSON.parse(r.contexts as string) as string[],
    subjectId: (r.subject_id as number | null) ?? null,
    createdAt: r.created_at as number,
    revokedAt: (r.revoked_at as number | null) ?? null,
  };
}

/** The columns the decision log and the screenings log are written with, besides their batch column. */
const DECISION_COLUMNS = ["id", "at", "key_id", "asked_by", "scheme", "value", "context", "decision", "codes"] as const;
const SCREENING_COLUMNS = ["id", "at", "key_id", "asked_by", "context", "bucket", "lines", "entries"] as const;

function toScreeningRow(r: Row): ScreeningRow {
  return { id: r.id as string, at: r.at as number, keyId: r.key_id as string, askedBy: r.asked_by as string, context: r.context as string, bucket: r.bucket as number, lines: r.lines as number, entries: r.entries as string };
}

function toDecision(r: Row): DecisionLogRow {
  return {
    id: r.id as string,
    at: r.at as number,
    keyId: r.key_id as string,
    askedBy: r.asked_by as string,
    scheme: r.scheme as string,
    value: r.value as string,
    context: r.context as string,
    decision: r.decision as "allow" | "deny",
    codes: JSON.parse(r.codes as string) as string[],
  };
}


function toOutbox(r: Row): OutboxRow {
  return {
    noticeId: r.notice_id as string,
    attempts: r.attempts as number,
    nextAttemptAt: r.next_attempt_at as number,
    deliveredAt: (r.delivered_at as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
  };
}

const toNotice = (r: Row): NoticeRow => ({
  id: r.id as string,
  subjectId: r.subject_id as number,
  measure: r.measure as string,
  effectiveFrom: r.effective_from as number,
  createdAt: r.created_at as number,
  body: r.body as string,
});

function toOutcome(r: Row): OutcomeRow {
  return { receipt: r.receipt as string, line: r.line as number, source: (r.source as string | null) ?? null, recordId: (r.record_id as string | null) ?? null, status: r.status as OutcomeRow["status"], detail: r.detail as string, at: r.at as number };
}

function toProposal(r: Row): PolicyProposalRow {
  return {
    id: r.id as string,
    ref: r.ref as string,
    text: r.text as string,
    hash: r.hash as string,
    proposedBy: r.proposed_by as string,
    proposedAt: r.proposed_at as number,
    status: r.status as PolicyProposalRow["status"],
    decidedBy: (r.decided_by as string | null) ?? null,
    decidedAt: (r.decided_at as number | null) ?? null,
    note: (r.note as string | null) ?? null,
  };
}

function toPolicy(r: Row): PolicyRow {
  return {
    seq: r.seq as number,
    ref: r.ref as string,
    policyId: r.policy_id as string,
    version: r.version as string,
    text: r.text as string,
    hash: r.hash as string,
    effective: r.effective as number,
    publishedAt: r.published_at as number,
  };
}

/** How long the change feed's outbox keeps an event: a process away longer starts again from a snapshot. */
const CHANGE_RETENTION_MS = 7 * 24 * 3600_000;

function prepareAll(db: Database.Database) {
  return {
      addPolicy: db.prepare(
        "INSERT INTO policies (ref, policy_id, version, text, hash, effective, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      policies: db.prepare("SELECT * FROM policies ORDER BY seq"),
      catalogues: db.prepare("SELECT * FROM catalogues ORDER BY seq"),
      addCatalogue: db.prepare("INSERT INTO catalogues (catalogue_id, version, hash, text, adopted_at, adopted_by) VALUES (?, ?, ?, ?, ?, ?)"),
      getMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
      setMeta: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
      createSubject: db.prepare("INSERT INTO subjects (created_at) VALUES (?)"),
      resolve: db.prepare("SELECT subject_id FROM identifiers WHERE scheme = ? AND value = ?").pluck(),
      link: db.prepare("INSERT INTO identifiers (scheme, value, subject_id, linked_at) VALUES (?, ?, ?, ?)"),
      identifiersOf: db.prepare("SELECT scheme, value FROM identifiers WHERE subject_id = ? ORDER BY scheme, value"),
      subjectExists: db.prepare("SELECT 1 FROM subjects WHERE id = ?").pluck(),
      countSubjects: db.prepare("SELECT count(*) FROM subjects").pluck(),
      findRecord: db.prepare(`SELECT ${recordCols} FROM records WHERE source = ? AND record_id = ?`),
      appendRecord: db.prepare(
        "INSERT INTO records (source, record_id, subject_id, type, occurred_at, received_at, retracts, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      recordsOf: db.prepare(`SELECT ${recordCols} FROM records WHERE subject_id = ? ORDER BY seq`),
      countRecords: db.prepare("SELECT count(*) FROM records").pluck(),
      findQuarantined: db.prepare(`SELECT ${quarantineCols} FROM quarantine WHERE source = ? AND record_id = ?`),
      quarantine: db.prepare(
        "INSERT INTO quarantine (source, record_id, scheme, value, body, hash, received_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      quarantinedFor: db.prepare(
        `SELECT ${quarantineCols} FROM quarantine WHERE scheme = ? AND value = ? AND released_at IS NULL ORDER BY seq`,
      ),
      listQuarantine: db.prepare(`SELECT ${quarantineCols} FROM quarantine WHERE released_at IS NULL ORDER BY seq LIMIT ?`),
      release: db.prepare("UPDATE quarantine SET released_at = ? WHERE seq = ? AND released_at IS NULL"),
      putState: db.prepare(
        `INSERT INTO states (subject_id, policy_ref, evaluated_at, next_change_at, has_measures, state) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(subject_id) DO UPDATE SET policy_ref = excluded.policy_ref, evaluated_at = excluded.evaluated_at,
           next_change_at = excluded.next_change_at, has_measures = excluded.has_measures, state = excluded.state`,
      ),
      getState: db.prepare("SELECT * FROM states WHERE subject_id = ?"),
      due: db.prepare(
        "SELECT subject_id FROM states WHERE next_change_at IS NOT NULL AND next_change_at <= ? ORDER BY next_change_at, subject_id LIMIT ?",
      ).pluck(),
      withRecords: db.prepare("SELECT DISTINCT subject_id FROM records WHERE subject_id > ? ORDER BY subject_id LIMIT ?").pluck(),
      countWithRecords: db.prepare("SELECT count(DISTINCT subject_id) FROM records").pluck(),
      withMeasures: db.prepare("SELECT subject_id, state FROM states WHERE has_measures = 1 AND subject_id > ? ORDER BY subject_id LIMIT ?"),
      identifiersIn: db.prepare("SELECT subject_id, scheme, value FROM identifiers WHERE subject_id BETWEEN ? AND ? ORDER BY subject_id, scheme, value"),
      noticeTimes: db.prepare("SELECT created_at FROM notices").pluck(),
      emit: db.prepare("INSERT INTO changes (kind, ref, origin, at) VALUES (?, ?, ?, ?)"),
      changesSince: db.prepare("SELECT seq, kind, ref, origin, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?"),
      lastChange: db.prepare("SELECT coalesce(max(seq), 0) FROM changes").pluck(),
      pruneChanges: db.prepare("DELETE FROM changes WHERE at < ?"),
      addKey: db.prepare(
        "INSERT INTO keys (key_id, hash, role, label, source, contexts, subject_id, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      keyById: db.prepare("SELECT * FROM keys WHERE key_id = ?"),
      listKeys: db.prepare("SELECT * FROM keys ORDER BY created_at, key_id"),
      revokeKey: db.prepare("UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"),
      decisionsAbout: db.prepare("SELECT * FROM decisions WHERE scheme = ? AND value = ? ORDER BY at DESC, id LIMIT ?"),
      countDecisions: db.prepare("SELECT count(*) FROM decisions").pluck(),
      listCounts: db.prepare(
        `SELECT json_extract(l.value, '$.list') AS list, json_extract(l.value, '$.effect') AS effect, count(*) AS members
         FROM states, json_each(states.state, '$.lists') AS l GROUP BY 1, 2 ORDER BY 1`,
      ),
      measureCounts: db.prepare(
        `SELECT json_extract(m.value, '$.context') AS context, json_extract(m.value, '$.measure') AS measure,
                json_extract(m.value, '$.effect') AS effect,
                sum(json_extract(m.value, '$.status') = 'active') AS active, sum(json_extract(m.value, '$.status') = 'pending') AS pending
         FROM states, json_each(states.state, '$.measures') AS m WHERE states.has_measures = 1 GROUP BY 1, 2, 3 ORDER BY 1, 2`,
      ),
      putDispute: db.prepare(
        `INSERT INTO disputes (id, subject_id, source, record_id, grounds, evidence, opened_by, opened_at, deadline_at, suspend, status, answer_note, answered_at, decided_by, reason, closed_at, counts)
         VALUES (@id, @subjectId, @source, @recordId, @grounds, @evidence, @openedBy, @openedAt, @deadlineAt, @suspend, @status, @answerNote, @answeredAt, @decidedBy, @reason, @closedAt, @counts)
         ON CONFLICT(id) DO UPDATE SET status = excluded.status, answer_note = excluded.answer_note, answered_at = excluded.answered_at,
           decided_by = excluded.decided_by, reason = excluded.reason, closed_at = excluded.closed_at, counts = excluded.counts`,
      ),
      getDispute: db.prepare("SELECT * FROM disputes WHERE id = ?"),
      addDisputeAction: db.prepare("INSERT INTO dispute_actions (dispute_id, action, actor, at, note) VALUES (?, ?, ?, ?, ?)"),
      disputeActions: db.prepare("SELECT dispute_id, action, actor, at, note FROM dispute_actions WHERE dispute_id = ? ORDER BY seq"),
      disputesOf: db.prepare("SELECT * FROM disputes WHERE subject_id = ? ORDER BY opened_at, id"),
      listDisputes: db.prepare(
        "SELECT * FROM disputes WHERE (@status IS NULL OR status = @status) AND (@source IS NULL OR source = @source) ORDER BY deadline_at, id LIMIT @limit",
      ),
      expiredDisputes: db.prepare("SELECT * FROM disputes WHERE status = 'open' AND deadline_at <= ? ORDER BY deadline_at, id"),
      addApplication: db.prepare("INSERT INTO applications (id, subject_id, list, applied_at, applied_by) VALUES (?, ?, ?, ?, ?)"),
      applicationsOf: db.prepare("SELECT * FROM applications WHERE subject_id = ? ORDER BY applied_at, id"),
      addNotice: db.prepare("INSERT OR IGNORE INTO notices (id, subject_id, measure, effective_from, created_at, body) VALUES (?, ?, ?, ?, ?, ?)"),
      addOutbox: db.prepare("INSERT INTO outbox (notice_id, attempts, next_attempt_at, delivered_at, last_error) VALUES (?, 0, ?, NULL, NULL)"),
      noticesOf: db.prepare("SELECT * FROM notices WHERE subject_id = ? ORDER BY created_at, id"),
      getNotice: db.prepare("SELECT * FROM notices WHERE id = ?"),
      dueOutbox: db.prepare("SELECT * FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, notice_id LIMIT ?"),
      markDelivered: db.prepare("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE notice_id = ? AND delivered_at IS NULL"),
      markFailed: db.prepare("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE notice_id = ? AND delivered_at IS NULL"),
      outboxOf: db.prepare("SELECT * FROM outbox WHERE notice_id = ?"),
      deliveredChannels: db.prepare("SELECT channel FROM deliveries WHERE notice_id = ? ORDER BY channel").pluck(),
      markChannel: db.prepare("INSERT OR IGNORE INTO deliveries (notice_id, channel, delivered_at) VALUES (?, ?, ?)"),
      earliest: db.prepare("SELECT min(next_change_at) FROM states WHERE next_change_at IS NOT NULL").pluck(),
  };
}

type Statements = ReturnType<typeof prepareAll>;

/**
 * Every operation of the store on one connection. Statements run synchronously (as
 * better-sqlite3 does); the methods are async because the port is. A store holds two:
 * one on the writing connection, handed to transactions as their `tx`, and one on a
 * read-only connection for reads outside a transaction.
 */
class SqliteOps implements StoreTx {
  private readonly stmts: Statements;
  private readonly pages: PageStatements;
  private emitted = 0;

  constructor(
    readonly db: Database.Database,
    private readonly journal: Journal | undefined,
    private readonly origin: string,
    /** For transactions on a file: where workers read pages (reader.ts). */
    private readonly reader: PageReaderSpec | undefined = undefined,
  ) {
    this.stmts = prepareAll(db);
    this.pages = pageStatements(db);
  }

  private readonly lazyStmts = new Map<string, Database.Statement>();
  /**
   * Statements over the tables added after the first release (proposals, sessions),
   * prepared on first use: a read-only open of an older file, which has no such table
   * and must not be changed, still opens, and reads them as empty (`orEmpty`).
   */
  private lazy(sql: string): Database.Statement {
    let st = this.lazyStmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.lazyStmts.set(sql, st);
    }
    return st;
  }

  private orEmpty<T>(fn: () => T, empty: T): T {
    try {
      return fn();
    } catch (e) {
      if (this.db.readonly && /no such table/.test((e as Error).message)) return empty;
      throw e;
    }
  }

  async policyProposals(): Promise<PolicyProposalRow[]> {
    return this.orEmpty(() => (this.lazy("SELECT * FROM policy_proposals ORDER BY proposed_at, id").all() as Row[]).map(toProposal), []);
  }

  async putPolicyProposal(row: PolicyProposalRow): Promise<void> {
    this.lazy(
      `INSERT INTO policy_proposals (id, ref, text, hash, proposed_by, proposed_at, status, decided_by, decided_at, note)
       VALUES (@id, @ref, @text, @hash, @proposedBy, @proposedAt, @status, @decidedBy, @decidedAt, @note)
       ON CONFLICT(id) DO UPDATE SET ref = excluded.ref, text = excluded.text, hash = excluded.hash, proposed_by = excluded.proposed_by,
         proposed_at = excluded.proposed_at, status = excluded.status, decided_by = excluded.decided_by, decided_at = excluded.decided_at, note = excluded.note`,
    ).run({ ...row });
  }

  async sessionByHash(hash: string): Promise<SessionRow | undefined> {
    const r = this.orEmpty(() => this.lazy("SELECT * FROM sessions WHERE hash = ?").get(hash) as Row | undefined, undefined);
    return r === undefined
      ? undefined
      : { hash: r.hash as string, keyId: r.key_id as string, createdAt: r.created_at as number, lastSeenAt: r.last_seen_at as number, expiresAt: r.expires_at as number, endedAt: (r.ended_at as number | null) ?? null };
  }

  async addSession(row: SessionRow): Promise<void> {
    this.lazy("INSERT INTO sessions (hash, key_id, created_at, last_seen_at, expires_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)").run(row.hash, row.keyId, row.createdAt, row.lastSeenAt, row.expiresAt, row.endedAt);
  }

  async touchSession(hash: string, at: number): Promise<void> {
    this.lazy("UPDATE sessions SET last_seen_at = ? WHERE hash = ? AND ended_at IS NULL AND last_seen_at < ?").run(at, hash, at);
  }

  async endSession(hash: string, at: number): Promise<boolean> {
    return this.lazy("UPDATE sessions SET ended_at = ? WHERE hash = ? AND ended_at IS NULL").run(at, hash).changes > 0;
  }

  async pruneSessions(before: number): Promise<number> {
    return this.lazy("DELETE FROM sessions WHERE expires_at < ? OR (ended_at IS NOT NULL AND ended_at < ?)").run(before, before).changes;
  }

  async outcomesOf(receipt: string, afterLine: number, limit: number): Promise<OutcomeRow[]> {
    return this.orEmpty(() => (this.lazy("SELECT * FROM ingest_outcomes WHERE receipt = ? AND line > ? ORDER BY line LIMIT ?").all(receipt, afterLine, limit) as Row[]).map(toOutcome), []);
  }

  async outcomesFor(receipt: string, lines: readonly number[]): Promise<OutcomeRow[]> {
    if (lines.length === 0) return [];
    return this.orEmpty(() => (this.lazy("SELECT * FROM ingest_outcomes WHERE receipt = ? AND line IN (SELECT value FROM json_each(?)) ORDER BY line").all(receipt, JSON.stringify(lines)) as Row[]).map(toOutcome), []);
  }

  async outcomeOfRecord(source: string, recordId: string): Promise<OutcomeRow | undefined> {
    const r = this.orEmpty(() => this.lazy("SELECT * FROM ingest_outcomes WHERE source = ? AND record_id = ? ORDER BY at DESC, receipt DESC, line DESC LIMIT 1").get(source, recordId) as Row | undefined, undefined);
    return r === undefined ? undefined : toOutcome(r);
  }

  async putOutcomes(rows: readonly OutcomeRow[]): Promise<void> {
    const st = this.lazy("INSERT OR IGNORE INTO ingest_outcomes (receipt, line, source, record_id, status, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const r of rows) st.run(r.receipt, r.line, r.source, r.recordId, r.status, r.detail, r.at);
  }

  async fencePartition(partition: number, epoch: number): Promise<boolean> {
    return (
      this.lazy("INSERT INTO partition_fences (partition, epoch) VALUES (?, ?) ON CONFLICT(partition) DO UPDATE SET epoch = excluded.epoch WHERE partition_fences.epoch <= excluded.epoch").run(partition, epoch).changes > 0
    );
  }

  // Every subject a transaction evaluates is already under SQLite's one write lock,
  // taken by BEGIN IMMEDIATE: nothing more to lock.
  async lockSubjects(_ids: readonly SubjectId[]): Promise<void> {}

  async addPolicy(p: Omit<PolicyRow, "seq">): Promise<PolicyRow> {
    const info = this.stmts.addPolicy.run(p.ref, p.policyId, p.version, p.text, p.hash, p.effective, p.publishedAt);
    return { ...p, seq: Number(info.lastInsertRowid) };
  }

  async policies(): Promise<PolicyRow[]> {
    return (this.stmts.policies.all() as Row[]).map(toPolicy);
  }

  async catalogues(): Promise<CatalogueRow[]> {
    return (this.stmts.catalogues.all() as Row[]).map((r) => ({
      seq: r.seq as number,
      catalogueId: r.catalogue_id as string,
      version: r.version as string,
      hash: r.hash as string,
      text: r.text as string,
      adoptedAt: r.adopted_at as number,
      adoptedBy: r.adopted_by as string,
    }));
  }

  async addCatalogue(c: Omit<CatalogueRow, "seq">): Promise<CatalogueRow> {
    const info = this.stmts.addCatalogue.run(c.catalogueId, c.version, c.hash, c.text, c.adoptedAt, c.adoptedBy);
    return { ...c, seq: Number(info.lastInsertRowid) };
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (this.stmts.getMeta.get(key) as Row | undefined)?.value as string | undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.stmts.setMeta.run(key, value);
  }

  async createSubject(at: number): Promise<SubjectId> {
    return Number(this.stmts.createSubject.run(at).lastInsertRowid);
  }

  async resolve(id: Identifier): Promise<SubjectId | undefined> {
    return this.stmts.resolve.get(id.scheme, id.value) as number | undefined;
  }

  async link(subjectId: SubjectId, id: Identifier, at: number): Promise<void> {
    const existing = this.stmts.resolve.get(id.scheme, id.value) as number | undefined;
    if (existing === subjectId) return;
    if (existing !== undefined) {
      throw new StandingError("identifier-conflict", `${id.scheme}:${id.value} already belongs to another subject`, {
        identifier: id,
      });
    }
    this.stmts.link.run(id.scheme, id.value, subjectId, at);
  }

  async identifiersOf(subjectId: SubjectId): Promise<Identifier[]> {
    return this.stmts.identifiersOf.all(subjectId) as Identifier[];
  }

  // The many-row methods below run the one-row statements in a loop: in-process, a
  // statement costs microseconds, and each write fires its journal trigger as before.
  async resolveAll(ids: readonly Identifier[]): Promise<LinkedIdentifier[]> {
    const out = new Map<string, LinkedIdentifier>();
    for (const id of ids) {
      const k = `${id.scheme}\u0000${id.value}`;
      if (out.has(k)) continue;
      const subjectId = this.stmts.resolve.get(id.scheme, id.value) as number | undefined;
      if (subjectId !== undefined) out.set(k, { scheme: id.scheme, value: id.value, subjectId });
    }
    return [...out.values()];
  }

  async identifiersOfAll(ids: readonly SubjectId[]): Promise<LinkedIdentifier[]> {
    const out: LinkedIdentifier[] = [];
    for (const subjectId of [...new Set(ids)].sort((a, b) => a - b)) for (const i of this.stmts.identifiersOf.all(subjectId) as Identifier[]) out.push({ scheme: i.scheme, value: i.value, subjectId });
    return out;
  }

  async createSubjects(count: number, at: number): Promise<SubjectId[]> {
    const out: SubjectId[] = [];
    for (let i = 0; i < count; i++) out.push(Number(this.stmts.createSubject.run(at).lastInsertRowid));
    return out;
  }

  async linkAll(ids: readonly LinkedIdentifier[], at: number): Promise<void> {
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
    for (const id of fresh) this.stmts.link.run(id.scheme, id.value, id.subjectId, at);
  }

  async findRecords(keys: readonly RecordKey[]): Promise<RecordRow[]> {
    const out = new Map<string, RecordRow>();
    for (const k of keys) {
      const key = `${k.source}\u0000${k.recordId}`;
      if (out.has(key)) continue;
      const r = this.stmts.findRecord.get(k.source, k.recordId) as Row | undefined;
      if (r) out.set(key, toRecord(r));
    }
    return [...out.values()];
  }

  async appendRecords(rs: readonly NewRecord[]): Promise<RecordRow[]> {
    const out: RecordRow[] = [];
    for (const r of rs) out.push(await this.appendRecord(r));
    return out;
  }

  async findQuarantinedAll(keys: readonly RecordKey[]): Promise<QuarantineRow[]> {
    const out = new Map<string, QuarantineRow>();
    for (const k of keys) {
      const key = `${k.source}\u0000${k.recordId}`;
      if (out.has(key)) continue;
      const r = this.stmts.findQuarantined.get(k.source, k.recordId) as Row | undefined;
      if (r) out.set(key, toQuarantine(r));
    }
    return [...out.values()];
  }

  async quarantineAll(qs: readonly NewQuarantine[]): Promise<QuarantineRow[]> {
    const out: QuarantineRow[] = [];
    for (const q of qs) out.push(await this.quarantine(q));
    return out;
  }

  async putStates(rows: readonly StateRow[]): Promise<void> {
    for (const row of rows) await this.putState(row);
  }

  async addNotices(rows: readonly NoticeRow[]): Promise<number> {
    let n = 0;
    for (const row of rows) if (await this.addNotice(row)) n++;
    return n;
  }

  async subjectExists(subjectId: SubjectId): Promise<boolean> {
    return this.stmts.subjectExists.get(subjectId) !== undefined;
  }

  async countSubjects(): Promise<number> {
    return this.stmts.countSubjects.get() as number;
  }

  async findRecord(source: string, recordId: string): Promise<RecordRow | undefined> {
    const r = this.stmts.findRecord.get(source, recordId) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  async appendRecord(r: NewRecord): Promise<RecordRow> {
    const info = this.stmts.appendRecord.run(r.source, r.recordId, r.subjectId, r.type, r.occurredAt, r.receivedAt, r.retracts, r.body, r.hash);
    return { ...r, seq: Number(info.lastInsertRowid) };
  }

  async recordsOf(subjectId: SubjectId): Promise<RecordRow[]> {
    return (this.stmts.recordsOf.all(subjectId) as Row[]).map(toRecord);
  }

  async countRecords(): Promise<number> {
    return this.stmts.countRecords.get() as number;
  }

  async findQuarantined(source: string, recordId: string): Promise<QuarantineRow | undefined> {
    const r = this.stmts.findQuarantined.get(source, recordId) as Row | undefined;
    return r ? toQuarantine(r) : undefined;
  }

  async quarantine(q: NewQuarantine): Promise<QuarantineRow> {
    const info = this.stmts.quarantine.run(q.source, q.recordId, q.scheme, q.value, q.body, q.hash, q.receivedAt, q.reason);
    return { ...q, seq: Number(info.lastInsertRowid), releasedAt: null };
  }

  async quarantinedFor(id: Identifier): Promise<QuarantineRow[]> {
    return (this.stmts.quarantinedFor.all(id.scheme, id.value) as Row[]).map(toQuarantine);
  }

  async listQuarantine(limit: number): Promise<QuarantineRow[]> {
    return (this.stmts.listQuarantine.all(limit) as Row[]).map(toQuarantine);
  }

  async releaseQuarantined(seq: number, at: number): Promise<void> {
    this.stmts.release.run(at, seq);
  }

  async putState(row: StateRow): Promise<void> {
    this.stmts.putState.run(row.subjectId, row.policyRef, row.evaluatedAt, row.nextChangeAt, row.state.measures.length > 0 ? 1 : 0, JSON.stringify(row.state));
  }

  async getState(subjectId: SubjectId): Promise<StateRow | undefined> {
    const r = this.stmts.getState.get(subjectId) as Row | undefined;
    return r ? toState(r) : undefined;
  }

  async evaluationInputs(ids: readonly SubjectId[]): Promise<StoredInputs[]> {
    return readPage(this.pages, ids);
  }

  async putStateText(row: StateText): Promise<void> {
    this.stmts.putState.run(row.subjectId, row.policyRef, row.evaluatedAt, row.nextChangeAt, row.hasMeasures ? 1 : 0, row.json);
  }

  async dueSubjects(at: number, limit: number): Promise<SubjectId[]> {
    return this.stmts.due.all(at, limit) as number[];
  }

  async subjectsWithRecords(afterId: SubjectId, limit: number): Promise<SubjectId[]> {
    return this.stmts.withRecords.all(afterId, limit) as number[];
  }

  async countSubjectsWithRecords(): Promise<number> {
    return this.stmts.countWithRecords.get() as number;
  }

  async statesWithMeasures(afterId: SubjectId, limit: number): Promise<{ subjectId: SubjectId; identifiers: Identifier[]; state: SubjectState }[]> {
    const rows = this.stmts.withMeasures.all(afterId, limit) as Row[];
    if (rows.length === 0) return [];
    const ids = new Map<number, Identifier[]>();
    for (const r of rows) ids.set(r.subject_id as number, []);
    const lo = rows[0]?.subject_id as number;
    const hi = rows[rows.length - 1]?.subject_id as number;
    for (const i of this.stmts.identifiersIn.all(lo, hi) as Row[]) ids.get(i.subject_id as number)?.push({ scheme: i.scheme as string, value: i.value as string });
    return rows.map((r) => ({ subjectId: r.subject_id as number, identifiers: ids.get(r.subject_id as number) ?? [], state: JSON.parse(r.state as string) as SubjectState }));
  }

  async addKey(row: KeyRow): Promise<void> {
    this.stmts.addKey.run(row.keyId, row.hash, row.role, row.label, row.source, JSON.stringify(row.contexts), row.subjectId, row.createdAt, row.revokedAt);
  }

  async keyById(keyId: string): Promise<KeyRow | undefined> {
    const r = this.stmts.keyById.get(keyId) as Row | undefined;
    return r ? toKey(r) : undefined;
  }

  async listKeys(): Promise<KeyRow[]> {
    return (this.stmts.listKeys.all() as Row[]).map(toKey);
  }

  async revokeKey(keyId: string, at: number): Promise<boolean> {
    return this.stmts.revokeKey.run(at, keyId).changes > 0;
  }

  async decisionsAbout(ids: readonly Identifier[], limit: number): Promise<DecisionLogRow[]> {
    const all = ids.flatMap((i) => (this.stmts.decisionsAbout.all(i.scheme, i.value, limit) as Row[]).map(toDecision));
    // The compact log (screenings, checks): the rows of each identifier's bucket, newest first, while they can hold one of the `limit` newest.
    for (const who of ids) {
      const rows: Iterable<Row> = this.orEmpty((): Iterable<Row> => this.lazy("SELECT id, at, key_id, asked_by, context, bucket, lines, entries FROM screenings WHERE bucket = ? ORDER BY at DESC, id").iterate(screeningBucket(who.scheme, who.value)) as IterableIterator<Row>, []);
      const about = new NewestAbout(who, limit);
      for (const r of rows) {
        const row = toScreeningRow(r);
        if (about.done(row.at)) break; // ends the statement's iteration
        all.push(...about.take(row));
      }
    }
    return all.sort((a, b) => b.at - a.at || (a.id < b.id ? -1 : 1)).slice(0, limit);
  }

  async countDecisions(): Promise<number> {
    const screened = this.orEmpty(() => this.lazy("SELECT coalesce(sum(lines), 0) FROM screenings").pluck().get() as number, 0);
    return (this.stmts.countDecisions.get() as number) + screened;
  }

  async listCounts(): Promise<ListCount[]> {
    return (this.stmts.listCounts.all() as Row[]).map((r) => ({ list: r.list as string, effect: r.effect as "restrict" | "privilege", members: r.members as number }));
  }

  async measureCounts(): Promise<MeasureCount[]> {
    return (this.stmts.measureCounts.all() as Row[]).map((r) => ({
      context: r.context as string,
      measure: r.measure as string,
      effect: r.effect as "deny" | "privilege",
      active: r.active as number,
      pending: r.pending as number,
    }));
  }

  async noticeTimes(): Promise<number[]> {
    return (this.stmts.noticeTimes.all() as unknown[]).map(Number);
  }

  async putDispute(row: DisputeRow): Promise<void> {
    this.stmts.putDispute.run({ ...row, suspend: row.suspend ? 1 : 0, counts: row.counts === null ? null : row.counts ? 1 : 0 });
  }

  async addDisputeAction(row: DisputeActionRow): Promise<void> {
    this.stmts.addDisputeAction.run(row.disputeId, row.action, row.actor, row.at, row.note);
  }

  async disputeActions(disputeId: string): Promise<DisputeActionRow[]> {
    return (this.stmts.disputeActions.all(disputeId) as Row[]).map((r) => ({
      disputeId: r.dispute_id as string,
      action: r.action as DisputeActionRow["action"],
      actor: r.actor as string,
      at: r.at as number,
      note: (r.note as string | null) ?? null,
    }));
  }

  async getDispute(id: string): Promise<DisputeRow | undefined> {
    const r = this.stmts.getDispute.get(id) as Row | undefined;
    return r ? toDispute(r) : undefined;
  }

  async disputesOf(subjectId: SubjectId): Promise<DisputeRow[]> {
    return (this.stmts.disputesOf.all(subjectId) as Row[]).map(toDispute);
  }

  async listDisputes(filter: { status?: DisputeStatus; source?: string; limit: number }): Promise<DisputeRow[]> {
    return (this.stmts.listDisputes.all({ status: filter.status ?? null, source: filter.source ?? null, limit: filter.limit }) as Row[]).map(toDispute);
  }

  async expiredDisputes(at: number): Promise<DisputeRow[]> {
    return (this.stmts.expiredDisputes.all(at) as Row[]).map(toDispute);
  }

  async addApplication(row: ApplicationRow): Promise<void> {
    this.stmts.addApplication.run(row.id, row.subjectId, row.list, row.appliedAt, row.appliedBy);
  }

  async applicationsOf(subjectId: SubjectId): Promise<ApplicationRow[]> {
    return (this.stmts.applicationsOf.all(subjectId) as Row[]).map(toApplication);
  }

  async addNotice(row: NoticeRow): Promise<boolean> {
    const added = this.stmts.addNotice.run(row.id, row.subjectId, row.measure, row.effectiveFrom, row.createdAt, row.body).changes > 0;
    if (added) this.stmts.addOutbox.run(row.id, row.createdAt);
    return added;
  }

  async noticesOf(subjectId: SubjectId): Promise<NoticeRow[]> {
    return (this.stmts.noticesOf.all(subjectId) as Row[]).map(toNotice);
  }

  async getNotice(id: string): Promise<NoticeRow | undefined> {
    const r = this.stmts.getNotice.get(id) as Row | undefined;
    return r ? toNotice(r) : undefined;
  }

  async dueOutbox(at: number, limit: number): Promise<OutboxRow[]> {
    return (this.stmts.dueOutbox.all(at, limit) as Row[]).map(toOutbox);
  }

  async markDelivered(noticeId: string, at: number): Promise<void> {
    this.stmts.markDelivered.run(at, noticeId);
  }

  async markFailed(noticeId: string, error: string, nextAttemptAt: number): Promise<void> {
    this.stmts.markFailed.run(error.slice(0, 2000), nextAttemptAt, noticeId);
  }

  async outboxOf(noticeId: string): Promise<OutboxRow | undefined> {
    const r = this.stmts.outboxOf.get(noticeId) as Row | undefined;
    return r ? toOutbox(r) : undefined;
  }

  async deliveredChannels(noticeId: string): Promise<string[]> {
    return this.stmts.deliveredChannels.all(noticeId) as string[];
  }

  async markChannelDelivered(noticeId: string, channel: string, at: number): Promise<void> {
    this.stmts.markChannel.run(noticeId, channel, at);
  }

  async earliestChange(): Promise<number | null> {
    return (this.stmts.earliest.get() as number | null) ?? null;
  }

  pageReader(): PageReaderSpec | undefined {
    return this.reader;
  }

  async journalEvent(kind: string, data: unknown): Promise<void> {
    this.journal?.event(kind, data);
  }

  async emit(change: NewChange): Promise<void> {
    const at = Date.now();
    this.stmts.emit.run(change.kind, change.ref, this.origin, at);
    // Now and then, in the same transaction, drop what every running process has long read.
    if (++this.emitted % 1000 === 0) this.stmts.pruneChanges.run(at - CHANGE_RETENTION_MS);
  }

  changesSince(afterSeq: number, limit: number): ChangeRow[] {
    return (this.stmts.changesSince.all(afterSeq, limit) as Row[]).map((r) => ({
      seq: r.seq as number,
      kind: r.kind as ChangeRow["kind"],
      ref: r.ref as string,
      origin: r.origin as string,
      at: r.at as number,
    }));
  }

  lastChange(): number {
    return this.stmts.lastChange.get() as number;
  }
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

/** A checkpoint row as the port's SignedHead. */
function signedHeadOf(c: CheckpointRow | null): SignedHead | undefined {
  return c ? { seq: c.seq, hash: c.headHash, at: c.at, prev: c.prev, signature: c.signature, fingerprint: fingerprintOfPem(c.publicKey) } : undefined;
}

export interface SqliteStoreOptions {
  readonly journal?: JournalOptions;
  /**
   * Opens the file for reading only (`statement`, `audit verify`): nothing is created,
   * upgraded, journaled or signed, a transaction is refused, and a file on a read-only
   * mount can be read (see readonly.ts).
   */
  readonly readOnly?: boolean;
}

/**
 * The embedded store: one SQLite file (":memory:" for throwaway use), in WAL mode with
 * synchronous=FULL. Writes go through one connection, one transaction at a time in this
 * process (BEGIN IMMEDIATE takes SQLite's write lock against other processes); reads
 * outside a transaction go through a second, read-only connection and see the last
 * commit, as they would on a pooled server database. An in-memory store has only the
 * one connection.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly readDb: Database.Database;
  /** The hash-chained journal of every change (docs/journal.md). */
  private readonly ownJournal: Journal;
  private readonly writer: SqliteOps;
  private readonly reader: SqliteOps;
  private readonly mutex = new Mutex();
  readonly origin = randomUUID();
  readonly journal: JournalPort;
  private closed = false;
  private readonly readOnly: boolean;

  constructor(readonly path: string, options: SqliteStoreOptions = {}) {
    this.readOnly = options.readOnly ?? false;
    if (this.readOnly) {
      this.db = openReadOnlyDatabase(path);
      this.db.pragma("cache_size = -262144");
      upgradeSchema(this.db, path, true); // refuses a file of an unknown version; changes nothing
      this.ownJournal = installJournal(this.db, { path, ...options.journal, readOnly: true });
      this.writer = new SqliteOps(this.db, this.ownJournal, this.origin);
      this.readDb = this.db;
      this.reader = this.writer;
      const journal = this.ownJournal;
      const db = this.db;
      this.journal = {
        publicKey: () => journalPublicKey(journal),
        verify: (o: AuditOptions): Promise<VerifyReport> => this.read(async () => verifyJournal(db, { ...o, journal })),
        head: () => this.read(async () => signedHeadOf(journal.latestHead())),
        hashAt: (seq: number) => this.read(async () => journal.hashAt(seq)),
        signer: () => {
          throw new StandingError("not-found", "this store was opened read-only: it signs nothing");
        },
        rotateKey: () => Promise.reject(new StandingError("bad-request", "this store was opened read-only: its key cannot be rotated")),
      };
      return;
    }
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true });
      // Created readable by its owner only: it holds personal data. SQLite gives the WAL
      // and shared-memory files the database file's permissions.
      if (!existsSync(path) && !path.startsWith("file:")) closeSync(openSync(path, "a", 0o600));
    }
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
    // A subject's records arrive over months, so reading one touches pages all over the
    // file. The default 2 MB page cache made every such read a system call; a larger
    // cache and memory-mapped reads keep a re-evaluation of the whole file in memory
    // (the OS shares mapped pages and reclaims them under pressure).
    this.db.pragma("cache_size = -262144"); // KiB: 256 MiB
    this.db.pragma("mmap_size = 4294967296");
    this.db.exec(ddl);
    const readOnly = options.journal?.readOnly ?? false;
    const found = upgradeSchema(this.db, path, readOnly);
    // After the schema: every table it defines is journaled by triggers (or per batch) from here on.
    this.ownJournal = installJournal(this.db, { path, ...options.journal });
    if (!readOnly) {
      // A store does not open for writing on a journal that ends unsigned: its first head would sign that tail.
      try {
        this.ownJournal.assertSigned();
      } catch (e) {
        this.db.close();
        throw e;
      }
    }
    recordSchemaVersion(this.db, found, readOnly);
    // From source the reader is TypeScript (loaded through tsx in the worker), built it is JavaScript.
    const readerModule = new URL(import.meta.url.endsWith(".ts") ? "./reader.ts" : "./reader.js", import.meta.url).href;
    this.writer = new SqliteOps(this.db, this.ownJournal, this.origin, this.db.memory ? undefined : { module: readerModule, args: { file: resolvePath(path) } });
    if (this.db.memory) {
      this.readDb = this.db;
    } else {
      this.readDb = new Database(resolvePath(path), { readonly: true, fileMustExist: true });
      this.readDb.pragma("busy_timeout = 5000");
      this.readDb.pragma("cache_size = -262144");
      this.readDb.pragma("mmap_size = 4294967296");
    }
    this.reader = this.readDb === this.db ? this.writer : new SqliteOps(this.readDb, undefined, this.origin);
    const journal = this.ownJournal;
    const readDb = this.readDb;
    // The read connection verifies with the writer's settings (key file, checkpoint interval).
    const readJournal = readDb === this.db ? journal : installJournal(readDb, { ...options.journal, path: resolvePath(path), readOnly: true });
    // Whatever opening wrote (a new file's schema version, an upgrade, a baseline) is signed before anything else.
    if (journal.appended > 0) journal.checkpoint();
    this.journal = {
      publicKey: () => journalPublicKey(journal),
      head: () => this.read(async () => signedHeadOf(readJournal.latestHead())),
      hashAt: (seq: number) => this.read(async () => readJournal.hashAt(seq)),
      signer: () => {
        if (!journal.fingerprint || journal.readOnly) throw new StandingError("not-found", "this store keeps no journal signing key");
        return { sign: (bytes: Uint8Array) => journal.sign(bytes), get fingerprint() { return journal.fingerprint as string; } };
      },
      rotateKey: async () => {
        const release = await this.mutex.lock();
        try {
          const r = journal.rotateKey();
          if (readJournal !== journal && journal.publicKey) readJournal.followKey(journal.publicKey);
          return r;
        } finally {
          release();
        }
      },
      // On the read connection, in one read transaction: a snapshot while writers go on.
      verify: (o: AuditOptions): Promise<VerifyReport> => this.read(async () => verifyJournal(readDb, { ...o, journal: readJournal })),
    };
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.write(fn, true);
  }

  /**
   * One write transaction. `durable` false: its commit does not wait for the disk
   * (synchronous=NORMAL for it alone), which only the decision log asks for: in WAL mode a
   * power loss can then lose it and whatever else committed after the last durable
   * commit or checkpoint, never corrupt the file; a crash of the process loses nothing
   * committed. The next durable commit makes it durable too.
   */
  private async write<T>(fn: (tx: StoreTx) => Promise<T>, durable: boolean): Promise<T> {
    if (this.closed) throw new Error("the store is closed");
    if (this.readOnly) throw new StandingError("storage-read-only", `${this.path} was opened for reading only; this command writes`, { db: this.path });
    const release = await this.mutex.lock();
    try {
      if (!durable) this.db.pragma("synchronous = NORMAL");
      this.db.exec("BEGIN IMMEDIATE");
      try {
        // Never sign over entries this store did not write (an unsigned tail appended behind its back).
        this.ownJournal.assertSigned();
        const before = this.ownJournal.appended;
        const out = await fn(this.writer);
        // A signed head ends every commit that journaled anything: no acknowledged entry is unsigned.
        if (this.ownJournal.appended !== before) this.ownJournal.signHead();
        this.db.exec("COMMIT");
        return out;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    } finally {
      if (!durable && this.db.open) this.db.pragma("synchronous = FULL");
      release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let a transaction under way finish first.
    const release = await this.mutex.lock();
    try {
      this.closed = true;
      if (!this.db.open) return;
      if (!this.readOnly) this.ownJournal.close(); // signs a final checkpoint over what this connection appended
      if (this.readDb !== this.db) this.readDb.close();
      this.db.close();
    } finally {
      release();
    }
  }

  private readonly logStmts = new Map<string, Database.Statement>();

  /**
   * Rows of a table journaled per batch (the decision log, screenings) in one transaction,
   * journaled as one entry (Journal.appendBatch): the rows name it in their batch column,
   * and RETURNING hands back each row as stored, which is what its hash must cover. OR
   * IGNORE keeps a retried batch from failing on rows that made it; an ignored row returns
   * nothing and is not in the entry. The commit does not wait for the disk (docs/journal.md).
   */
  private async appendLogBatch(table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<void> {
    if (rows.length === 0) return;
    const journal = this.ownJournal;
    let stmt = this.logStmts.get(table);
    // Prepared on first use: a read-only open of a version-1 file has no batch column yet.
    if (!stmt) {
      const all = [...columns, batchedTables[table]?.column ?? "batch"];
      stmt = this.db
        .prepare(`INSERT OR IGNORE INTO ${table} (${all.join(", ")}) VALUES (${all.map(() => "?").join(", ")}) RETURNING ${journal.batchedTable(table).columns.map((c) => `"${c}"`).join(", ")}`)
        .raw(true)
        .safeIntegers(true);
      this.logStmts.set(table, stmt);
    }
    const insert = stmt;
    await this.write(async () => {
      journal.appendBatch(table, (seq) => {
        const out: SqlValue[][] = [];
        for (const r of rows) {
          const got = insert.get(...r, seq) as SqlValue[] | undefined;
          if (got) out.push(got);
        }
        return out;
      });
    }, false);
  }

  appendDecisions(rows: readonly DecisionLogRow[]): Promise<void> {
    return this.appendLogBatch(
      "decisions",
      DECISION_COLUMNS,
      rows.map((d) => [d.id, d.at, d.keyId, d.askedBy, d.scheme, d.value, d.context, d.decision, JSON.stringify(d.codes)]),
    );
  }

  /** Decisions logged compactly, one row per batch and bucket (src/store/screening-log.ts), in one journaled batch. */
  appendScreenings(batches: readonly ScreeningLogBatch[]): Promise<void> {
    return this.appendLogBatch("screenings", SCREENING_COLUMNS, batches.flatMap(screeningRows).map((r) => [r.id, r.at, r.keyId, r.askedBy, r.context, r.bucket, r.lines, r.entries]));
  }

  changesSince(afterSeq: number, limit: number): Promise<ChangeRow[]> {
    return this.read(async (r) => r.changesSince(afterSeq, limit));
  }

  lastChange(): Promise<number> {
    return this.read(async (r) => r.lastChange());
  }

  /** For this folder's own tests and tools only (tamper tests, audit): the writing connection. */
  connectionForTests(): Database.Database {
    return this.db;
  }

  /** The journal object, for this folder's tests. */
  journalForTests(): Journal {
    return this.ownJournal;
  }

  /**
   * A read outside a transaction: on the read-only connection, which sees the last
   * commit. An in-memory store has one connection, so its reads wait for the
   * transaction under way to end instead of seeing its uncommitted rows.
   */
  private read<T>(fn: (r: SqliteOps) => Promise<T>): Promise<T> {
    if (this.readDb !== this.db) return fn(this.reader);
    return this.mutex.lock().then(async (release) => {
      try {
        return await fn(this.reader);
      } finally {
        release();
      }
    });
  }

  policies(): ReturnType<StoreReads["policies"]> {
    return this.read((r) => r.policies());
  }
  catalogues(): ReturnType<StoreReads["catalogues"]> {
    return this.read((r) => r.catalogues());
  }
  getMeta(key: string): ReturnType<StoreReads["getMeta"]> {
    return this.read((r) => r.getMeta(key));
  }
  policyProposals(): ReturnType<StoreReads["policyProposals"]> {
    return this.read((r) => r.policyProposals());
  }
  sessionByHash(hash: string): ReturnType<StoreReads["sessionByHash"]> {
    return this.read((r) => r.sessionByHash(hash));
  }
  outcomesOf(receipt: string, afterLine: number, limit: number): ReturnType<StoreReads["outcomesOf"]> {
    return this.read((r) => r.outcomesOf(receipt, afterLine, limit));
  }
  outcomesFor(receipt: string, lines: readonly number[]): ReturnType<StoreReads["outcomesFor"]> {
    return this.read((r) => r.outcomesFor(receipt, lines));
  }
  outcomeOfRecord(source: string, recordId: string): ReturnType<StoreReads["outcomeOfRecord"]> {
    return this.read((r) => r.outcomeOfRecord(source, recordId));
  }
  resolve(id: Identifier): ReturnType<StoreReads["resolve"]> {
    return this.read((r) => r.resolve(id));
  }
  resolveAll(ids: readonly Identifier[]): ReturnType<StoreReads["resolveAll"]> {
    return this.read((r) => r.resolveAll(ids));
  }
  identifiersOfAll(ids: readonly SubjectId[]): ReturnType<StoreReads["identifiersOfAll"]> {
    return this.read((r) => r.identifiersOfAll(ids));
  }
  findRecords(keys: readonly RecordKey[]): ReturnType<StoreReads["findRecords"]> {
    return this.read((r) => r.findRecords(keys));
  }
  findQuarantinedAll(keys: readonly RecordKey[]): ReturnType<StoreReads["findQuarantinedAll"]> {
    return this.read((r) => r.findQuarantinedAll(keys));
  }
  identifiersOf(subjectId: SubjectId): ReturnType<StoreReads["identifiersOf"]> {
    return this.read((r) => r.identifiersOf(subjectId));
  }
  subjectExists(subjectId: SubjectId): ReturnType<StoreReads["subjectExists"]> {
    return this.read((r) => r.subjectExists(subjectId));
  }
  countSubjects(): ReturnType<StoreReads["countSubjects"]> {
    return this.read((r) => r.countSubjects());
  }
  findRecord(source: string, recordId: string): ReturnType<StoreReads["findRecord"]> {
    return this.read((r) => r.findRecord(source, recordId));
  }
  recordsOf(subjectId: SubjectId): ReturnType<StoreReads["recordsOf"]> {
    return this.read((r) => r.recordsOf(subjectId));
  }
  countRecords(): ReturnType<StoreReads["countRecords"]> {
    return this.read((r) => r.countRecords());
  }
  findQuarantined(source: string, recordId: string): ReturnType<StoreReads["findQuarantined"]> {
    return this.read((r) => r.findQuarantined(source, recordId));
  }
  quarantinedFor(id: Identifier): ReturnType<StoreReads["quarantinedFor"]> {
    return this.read((r) => r.quarantinedFor(id));
  }
  listQuarantine(limit: number): ReturnType<StoreReads["listQuarantine"]> {
    return this.read((r) => r.listQuarantine(limit));
  }
  getState(subjectId: SubjectId): ReturnType<StoreReads["getState"]> {
    return this.read((r) => r.getState(subjectId));
  }
  dueSubjects(at: number, limit: number): ReturnType<StoreReads["dueSubjects"]> {
    return this.read((r) => r.dueSubjects(at, limit));
  }
  subjectsWithRecords(afterId: SubjectId, limit: number): ReturnType<StoreReads["subjectsWithRecords"]> {
    return this.read((r) => r.subjectsWithRecords(afterId, limit));
  }
  evaluationInputs(ids: readonly SubjectId[]): ReturnType<StoreReads["evaluationInputs"]> {
    return this.read((r) => r.evaluationInputs(ids));
  }
  countSubjectsWithRecords(): ReturnType<StoreReads["countSubjectsWithRecords"]> {
    return this.read((r) => r.countSubjectsWithRecords());
  }
  statesWithMeasures(afterId: SubjectId, limit: number): ReturnType<StoreReads["statesWithMeasures"]> {
    return this.read((r) => r.statesWithMeasures(afterId, limit));
  }
  earliestChange(): ReturnType<StoreReads["earliestChange"]> {
    return this.read((r) => r.earliestChange());
  }
  keyById(keyId: string): ReturnType<StoreReads["keyById"]> {
    return this.read((r) => r.keyById(keyId));
  }
  listKeys(): ReturnType<StoreReads["listKeys"]> {
    return this.read((r) => r.listKeys());
  }
  decisionsAbout(ids: readonly Identifier[], limit: number): ReturnType<StoreReads["decisionsAbout"]> {
    return this.read((r) => r.decisionsAbout(ids, limit));
  }
  countDecisions(): ReturnType<StoreReads["countDecisions"]> {
    return this.read((r) => r.countDecisions());
  }
  listCounts(): ReturnType<StoreReads["listCounts"]> {
    return this.read((r) => r.listCounts());
  }
  measureCounts(): ReturnType<StoreReads["measureCounts"]> {
    return this.read((r) => r.measureCounts());
  }
  noticeTimes(): ReturnType<StoreReads["noticeTimes"]> {
    return this.read((r) => r.noticeTimes());
  }
  getDispute(id: string): ReturnType<StoreReads["getDispute"]> {
    return this.read((r) => r.getDispute(id));
  }
  disputesOf(subjectId: SubjectId): ReturnType<StoreReads["disputesOf"]> {
    return this.read((r) => r.disputesOf(subjectId));
  }
  listDisputes(filter: { status?: DisputeStatus; source?: string; limit: number }): ReturnType<StoreReads["listDisputes"]> {
    return this.read((r) => r.listDisputes(filter));
  }
  expiredDisputes(at: number): ReturnType<StoreReads["expiredDisputes"]> {
    return this.read((r) => r.expiredDisputes(at));
  }
  applicationsOf(subjectId: SubjectId): ReturnType<StoreReads["applicationsOf"]> {
    return this.read((r) => r.applicationsOf(subjectId));
  }
  noticesOf(subjectId: SubjectId): ReturnType<StoreReads["noticesOf"]> {
    return this.read((r) => r.noticesOf(subjectId));
  }
  getNotice(id: string): ReturnType<StoreReads["getNotice"]> {
    return this.read((r) => r.getNotice(id));
  }
  dueOutbox(at: number, limit: number): ReturnType<StoreReads["dueOutbox"]> {
    return this.read((r) => r.dueOutbox(at, limit));
  }
  outboxOf(noticeId: string): ReturnType<StoreReads["outboxOf"]> {
    return this.read((r) => r.outboxOf(noticeId));
  }
  disputeActions(disputeId: string): ReturnType<StoreReads["disputeActions"]> {
    return this.read((r) => r.disputeActions(disputeId));
  }
  deliveredChannels(noticeId: string): ReturnType<StoreReads["deliveredChannels"]> {
    return this.read((r) => r.deliveredChannels(noticeId));
  }
}
