import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { StandingError } from "../../errors.js";
import type { SubjectState } from "../../engine/types.js";
import type {
  Identifier,
  NewQuarantine,
  NewRecord,
  PolicyRow,
  QuarantineRow,
  RecordRow,
  StateRow,
  StateText,
  StoredInputs,
  Store,
  SubjectId,
} from "../types.js";
import { ddl, recordSchemaVersion, upgradeSchema } from "./schema.js";
import { readPage, pageStatements, recordCols, toApplication, toDispute, toRecord, toState, type PageStatements, type Row } from "./rows.js";
import { installJournal, type Journal, type JournalOptions } from "../../journal/journal.js";
import type { SqlValue } from "../../journal/hash.js";
import type { KeyRow, Role } from "../../auth/principals.js";
import type { ApplicationRow, DecisionLogRow, DisputeRow, DisputeStatus, ListCount, MeasureCount, NoticeRow, OutboxRow } from "../types.js";


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

/** The embedded store: one SQLite file (":memory:" for throwaway use). */
export class SqliteStore implements Store {
  readonly db: Database.Database;
  /** The hash-chained journal of every change (src/journal, docs/journal.md). */
  readonly journal: Journal;
  private readonly stmts;
  private readonly pages: PageStatements;
  private readonly file: string | undefined;

  constructor(readonly path: string, options: { readonly journal?: JournalOptions } = {}) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
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
    this.journal = installJournal(this.db, { path, ...options.journal });
    recordSchemaVersion(this.db, found, readOnly);
    const db = this.db;
    this.pages = pageStatements(db);
    // Workers open this file by name: an absolute path, so a later chdir cannot send them elsewhere.
    this.file = db.memory ? undefined : resolvePath(path);
    this.stmts = {
      addPolicy: db.prepare(
        "INSERT INTO policies (ref, policy_id, version, text, hash, effective, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      policies: db.prepare("SELECT * FROM policies ORDER BY seq"),
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
      withMeasures: db.prepare("SELECT subject_id, state FROM states WHERE has_measures = 1"),
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
      earliest: db.prepare("SELECT min(next_change_at) FROM states WHERE next_change_at IS NOT NULL").pluck(),
    };
  }

  transaction<T>(fn: () => T): T {
    // Nested calls join the outer transaction (better-sqlite3 uses savepoints).
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    if (!this.db.open) return;
    this.journal.close(); // signs a final checkpoint over what this connection appended
    this.db.close();
  }

  addPolicy(p: Omit<PolicyRow, "seq">): PolicyRow {
    const info = this.stmts.addPolicy.run(p.ref, p.policyId, p.version, p.text, p.hash, p.effective, p.publishedAt);
    return { ...p, seq: Number(info.lastInsertRowid) };
  }

  policies(): PolicyRow[] {
    return (this.stmts.policies.all() as Row[]).map(toPolicy);
  }

  getMeta(key: string): string | undefined {
    return (this.stmts.getMeta.get(key) as Row | undefined)?.value as string | undefined;
  }

  setMeta(key: string, value: string): void {
    this.stmts.setMeta.run(key, value);
  }

  createSubject(at: number): SubjectId {
    return Number(this.stmts.createSubject.run(at).lastInsertRowid);
  }

  resolve(id: Identifier): SubjectId | undefined {
    return this.stmts.resolve.get(id.scheme, id.value) as number | undefined;
  }

  link(subjectId: SubjectId, id: Identifier, at: number): void {
    const existing = this.resolve(id);
    if (existing === subjectId) return;
    if (existing !== undefined) {
      throw new StandingError("identifier-conflict", `${id.scheme}:${id.value} already belongs to another subject`, {
        identifier: id,
      });
    }
    this.stmts.link.run(id.scheme, id.value, subjectId, at);
  }

  identifiersOf(subjectId: SubjectId): Identifier[] {
    return this.stmts.identifiersOf.all(subjectId) as Identifier[];
  }

  subjectExists(subjectId: SubjectId): boolean {
    return this.stmts.subjectExists.get(subjectId) !== undefined;
  }

  countSubjects(): number {
    return this.stmts.countSubjects.get() as number;
  }

  findRecord(source: string, recordId: string): RecordRow | undefined {
    const r = this.stmts.findRecord.get(source, recordId) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  appendRecord(r: NewRecord): RecordRow {
    const info = this.stmts.appendRecord.run(
      r.source, r.recordId, r.subjectId, r.type, r.occurredAt, r.receivedAt, r.retracts, r.body, r.hash,
    );
    return { ...r, seq: Number(info.lastInsertRowid) };
  }

  recordsOf(subjectId: SubjectId): RecordRow[] {
    return (this.stmts.recordsOf.all(subjectId) as Row[]).map(toRecord);
  }

  countRecords(): number {
    return this.stmts.countRecords.get() as number;
  }

  findQuarantined(source: string, recordId: string): QuarantineRow | undefined {
    const r = this.stmts.findQuarantined.get(source, recordId) as Row | undefined;
    return r ? toQuarantine(r) : undefined;
  }

  quarantine(q: NewQuarantine): QuarantineRow {
    const info = this.stmts.quarantine.run(q.source, q.recordId, q.scheme, q.value, q.body, q.hash, q.receivedAt, q.reason);
    return { ...q, seq: Number(info.lastInsertRowid), releasedAt: null };
  }

  quarantinedFor(id: Identifier): QuarantineRow[] {
    return (this.stmts.quarantinedFor.all(id.scheme, id.value) as Row[]).map(toQuarantine);
  }

  listQuarantine(limit: number): QuarantineRow[] {
    return (this.stmts.listQuarantine.all(limit) as Row[]).map(toQuarantine);
  }

  releaseQuarantined(seq: number, at: number): void {
    this.stmts.release.run(at, seq);
  }

  putState(row: StateRow): void {
    this.stmts.putState.run(
      row.subjectId,
      row.policyRef,
      row.evaluatedAt,
      row.nextChangeAt,
      row.state.measures.length > 0 ? 1 : 0,
      JSON.stringify(row.state),
    );
  }

  getState(subjectId: SubjectId): StateRow | undefined {
    const r = this.stmts.getState.get(subjectId) as Row | undefined;
    return r ? toState(r) : undefined;
  }

  evaluationPage(afterId: SubjectId, limit: number): StoredInputs[] {
    return readPage(this.pages, this.subjectsWithRecords(afterId, limit));
  }

  putStateText(row: StateText): void {
    this.stmts.putState.run(row.subjectId, row.policyRef, row.evaluatedAt, row.nextChangeAt, row.hasMeasures ? 1 : 0, row.json);
  }

  sharedFile(): string | undefined {
    return this.file;
  }


  dueSubjects(at: number, limit: number): SubjectId[] {
    return this.stmts.due.all(at, limit) as number[];
  }

  subjectsWithRecords(afterId: SubjectId, limit: number): SubjectId[] {
    return this.stmts.withRecords.all(afterId, limit) as number[];
  }

  countSubjectsWithRecords(): number {
    return this.stmts.countWithRecords.get() as number;
  }

  *statesWithMeasures(): Iterable<{ subjectId: SubjectId; state: SubjectState }> {
    for (const r of this.stmts.withMeasures.iterate() as Iterable<Row>) {
      yield { subjectId: r.subject_id as number, state: JSON.parse(r.state as string) as SubjectState };
    }
  }

  addKey(row: KeyRow): void {
    this.stmts.addKey.run(row.keyId, row.hash, row.role, row.label, row.source, JSON.stringify(row.contexts), row.subjectId, row.createdAt, row.revokedAt);
  }

  keyById(keyId: string): KeyRow | undefined {
    const r = this.stmts.keyById.get(keyId) as Row | undefined;
    return r ? toKey(r) : undefined;
  }

  listKeys(): KeyRow[] {
    return (this.stmts.listKeys.all() as Row[]).map(toKey);
  }

  revokeKey(keyId: string, at: number): boolean {
    return this.stmts.revokeKey.run(at, keyId).changes > 0;
  }

  private appendDecisionStmt: Database.Statement | undefined;

  /**
   * One transaction per batch, journaled as one entry (Journal.appendBatch): the rows
   * name it in their batch column, and RETURNING hands back each row as stored, which
   * is what its hash must cover. OR IGNORE keeps a retried batch from failing on rows
   * that made it; an ignored row returns nothing and is not in the entry.
   */
  appendDecisions(rows: readonly DecisionLogRow[]): void {
    if (rows.length === 0) return;
    const journal = this.journal;
    // Prepared on first use: a read-only open of a version-1 file has no batch column yet.
    const stmt = (this.appendDecisionStmt ??= this.db
      .prepare(
        `INSERT OR IGNORE INTO decisions (id, at, key_id, asked_by, scheme, value, context, decision, codes, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING ${journal.batchedTable("decisions").columns.map((c) => `"${c}"`).join(", ")}`,
      )
      .raw(true)
      .safeIntegers(true));
    this.transaction(() => {
      journal.appendBatch("decisions", (batch) => {
        const out: SqlValue[][] = [];
        for (const d of rows) {
          const r = stmt.get(d.id, d.at, d.keyId, d.askedBy, d.scheme, d.value, d.context, d.decision, JSON.stringify(d.codes), batch) as SqlValue[] | undefined;
          if (r) out.push(r);
        }
        return out;
      });
    });
  }

  decisionsAbout(ids: readonly Identifier[], limit: number): DecisionLogRow[] {
    const all = ids.flatMap((i) => (this.stmts.decisionsAbout.all(i.scheme, i.value, limit) as Row[]).map(toDecision));
    return all.sort((a, b) => b.at - a.at || (a.id < b.id ? -1 : 1)).slice(0, limit);
  }

  countDecisions(): number {
    return this.stmts.countDecisions.get() as number;
  }

  listCounts(): ListCount[] {
    return (this.stmts.listCounts.all() as Row[]).map((r) => ({ list: r.list as string, effect: r.effect as "restrict" | "privilege", members: r.members as number }));
  }

  measureCounts(): MeasureCount[] {
    return (this.stmts.measureCounts.all() as Row[]).map((r) => ({
      context: r.context as string,
      measure: r.measure as string,
      effect: r.effect as "deny" | "privilege",
      active: r.active as number,
      pending: r.pending as number,
    }));
  }

  putDispute(row: DisputeRow): void {
    this.stmts.putDispute.run({ ...row, suspend: row.suspend ? 1 : 0, counts: row.counts === null ? null : row.counts ? 1 : 0 });
  }

  getDispute(id: string): DisputeRow | undefined {
    const r = this.stmts.getDispute.get(id) as Row | undefined;
    return r ? toDispute(r) : undefined;
  }

  disputesOf(subjectId: SubjectId): DisputeRow[] {
    return (this.stmts.disputesOf.all(subjectId) as Row[]).map(toDispute);
  }

  listDisputes(filter: { status?: DisputeStatus; source?: string; limit: number }): DisputeRow[] {
    return (this.stmts.listDisputes.all({ status: filter.status ?? null, source: filter.source ?? null, limit: filter.limit }) as Row[]).map(toDispute);
  }

  expiredDisputes(at: number): DisputeRow[] {
    return (this.stmts.expiredDisputes.all(at) as Row[]).map(toDispute);
  }

  addApplication(row: ApplicationRow): void {
    this.stmts.addApplication.run(row.id, row.subjectId, row.list, row.appliedAt, row.appliedBy);
  }

  applicationsOf(subjectId: SubjectId): ApplicationRow[] {
    return (this.stmts.applicationsOf.all(subjectId) as Row[]).map(toApplication);
  }

  addNotice(row: NoticeRow): boolean {
    return this.transaction(() => {
      const added = this.stmts.addNotice.run(row.id, row.subjectId, row.measure, row.effectiveFrom, row.createdAt, row.body).changes > 0;
      if (added) this.stmts.addOutbox.run(row.id, row.createdAt);
      return added;
    });
  }

  noticesOf(subjectId: SubjectId): NoticeRow[] {
    return (this.stmts.noticesOf.all(subjectId) as Row[]).map(toNotice);
  }

  getNotice(id: string): NoticeRow | undefined {
    const r = this.stmts.getNotice.get(id) as Row | undefined;
    return r ? toNotice(r) : undefined;
  }

  dueOutbox(at: number, limit: number): OutboxRow[] {
    return (this.stmts.dueOutbox.all(at, limit) as Row[]).map(toOutbox);
  }

  markDelivered(noticeId: string, at: number): void {
    this.stmts.markDelivered.run(at, noticeId);
  }

  markFailed(noticeId: string, error: string, nextAttemptAt: number): void {
    this.stmts.markFailed.run(error.slice(0, 2000), nextAttemptAt, noticeId);
  }

  outboxOf(noticeId: string): OutboxRow | undefined {
    const r = this.stmts.outboxOf.get(noticeId) as Row | undefined;
    return r ? toOutbox(r) : undefined;
  }

  earliestChange(): number | null {
    return (this.stmts.earliest.get() as number | null) ?? null;
  }
}
