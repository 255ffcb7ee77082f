// Row mapping shared by the store and the read-only page readers of re-evaluation
// workers (see pages.ts): what evaluation reads comes back the same from either.
import type Database from "better-sqlite3";
import type { SubjectState } from "../../engine/types.js";
import { scatteredIds, type ApplicationRow, type DisputeRow, type DisputeStatus, type RecordRow, type StateRow, type StoredInputs, type SubjectId } from "../types.js";

export type Row = Record<string, unknown>;

export const recordCols = "seq, source, record_id, subject_id, type, occurred_at, received_at, retracts, body, hash";

export function toState(r: Row): StateRow {
  return {
    subjectId: r.subject_id as number,
    policyRef: r.policy_ref as string,
    evaluatedAt: r.evaluated_at as number,
    nextChangeAt: (r.next_change_at as number | null) ?? null,
    state: JSON.parse(r.state as string) as SubjectState,
  };
}

export function toApplication(r: Row): ApplicationRow {
  return {
    id: r.id as string,
    subjectId: r.subject_id as number,
    list: r.list as string,
    appliedAt: r.applied_at as number,
    appliedBy: r.applied_by as string,
  };
}

export function toRecord(r: Row): RecordRow {
  return {
    seq: r.seq as number,
    source: r.source as string,
    recordId: r.record_id as string,
    subjectId: r.subject_id as number,
    type: r.type as string,
    occurredAt: r.occurred_at as number,
    receivedAt: r.received_at as number,
    retracts: (r.retracts as string | null) ?? null,
    body: r.body as string,
    hash: r.hash as string,
  };
}

/** toRecord for a row read raw, its columns in `recordCols` order. */
function rawRecord(r: readonly unknown[]): RecordRow {
  return {
    seq: r[0] as number,
    source: r[1] as string,
    recordId: r[2] as string,
    subjectId: r[3] as number,
    type: r[4] as string,
    occurredAt: r[5] as number,
    receivedAt: r[6] as number,
    retracts: (r[7] as string | null) ?? null,
    body: r[8] as string,
    hash: r[9] as string,
  };
}

export function toDispute(r: Row): DisputeRow {
  return {
    id: r.id as string,
    subjectId: r.subject_id as number,
    source: r.source as string,
    recordId: r.record_id as string,
    grounds: r.grounds as string,
    evidence: (r.evidence as string | null) ?? null,
    openedBy: r.opened_by as string,
    openedAt: r.opened_at as number,
    deadlineAt: r.deadline_at as number,
    suspend: r.suspend === 1,
    status: r.status as DisputeStatus,
    answerNote: (r.answer_note as string | null) ?? null,
    answeredAt: (r.answered_at as number | null) ?? null,
    decidedBy: (r.decided_by as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    closedAt: (r.closed_at as number | null) ?? null,
    counts: r.counts === null || r.counts === undefined ? null : r.counts === 1,
  };
}

interface PageQueries {
  readonly records: Database.Statement;
  readonly disputes: Database.Statement;
  readonly applications: Database.Statement;
  readonly states: Database.Statement;
}

export interface PageStatements {
  /** A page of consecutive subjects, by its id range (two parameters: lo, hi). */
  readonly range: PageQueries;
  /** Scattered subjects, by their ids (one parameter: a JSON array of the ids). */
  readonly listed: PageQueries;
}

function statements(db: Database.Database, where: string): PageQueries {
  return {
    // Rows as arrays (raw), in the columns' order: a page is thousands of rows, and an
    // object per row with named keys cost a fifth of reading it. A subject's records come
    // in the index's order (occurrence, then seq), which SQLite reads without sorting
    // (also for the listed form: it walks the id list in order); readPage puts them back
    // in seq order, as recordsOf gives them, where they differ.
    records: db.prepare(`SELECT ${recordCols} FROM records WHERE ${where} ORDER BY subject_id, occurred_at, seq`).raw(true),
    disputes: db.prepare(`SELECT * FROM disputes WHERE ${where} ORDER BY subject_id, opened_at, id`),
    applications: db.prepare(`SELECT * FROM applications WHERE ${where} ORDER BY subject_id, applied_at, id`),
    states: db.prepare(`SELECT subject_id, policy_ref, evaluated_at, next_change_at, state FROM states WHERE ${where}`).raw(true),
  };
}

export function pageStatements(db: Database.Database): PageStatements {
  return { range: statements(db, "subject_id BETWEEN ? AND ?"), listed: statements(db, "subject_id IN (SELECT value FROM json_each(?))") };
}

/** What evaluation reads about `ids` (ascending subjects with records): one query per table. */
export function readPage(stmts: PageStatements, ids: readonly SubjectId[]): StoredInputs[] {
  if (ids.length === 0) return [];
  const lo = ids[0] as number;
  const hi = ids[ids.length - 1] as number;
  const page = new Map<SubjectId, { subjectId: SubjectId; records: RecordRow[]; disputes: DisputeRow[]; applications: ApplicationRow[]; state: StateRow | undefined }>();
  for (const id of ids) page.set(id, { subjectId: id, records: [], disputes: [], applications: [], state: undefined });
  // A page of consecutive subjects (a re-evaluation's) is read by its id range, and rows of
  // subjects in the range but not in `ids` are skipped; scattered ids by their list (runs of
  // nearby ids, as before, read four to five times the rows an ingest batch needed).
  const sparse = scatteredIds(ids);
  const q = sparse ? stmts.listed : stmts.range;
  const params: unknown[] = sparse ? [JSON.stringify(ids)] : [lo, hi];
  for (const r of q.records.all(...params) as unknown[][]) page.get(r[3] as number)?.records.push(rawRecord(r));
  for (const r of q.disputes.all(...params) as Row[]) page.get(r.subject_id as number)?.disputes.push(toDispute(r));
  for (const r of q.applications.all(...params) as Row[]) page.get(r.subject_id as number)?.applications.push(toApplication(r));
  for (const r of q.states.all(...params) as unknown[][]) {
    const p = page.get(r[0] as number);
    if (p) p.state = { subjectId: r[0] as number, policyRef: r[1] as string, evaluatedAt: r[2] as number, nextChangeAt: (r[3] as number | null) ?? null, state: JSON.parse(r[4] as string) as SubjectState };
  }
  const out = [...page.values()];
  for (const p of out) if (!ascendingSeq(p.records)) p.records.sort((x, y) => x.seq - y.seq);
  return out;
}

function ascendingSeq(rows: readonly RecordRow[]): boolean {
  for (let i = 1; i < rows.length; i++) if ((rows[i] as RecordRow).seq < (rows[i - 1] as RecordRow).seq) return false;
  return true;
}
