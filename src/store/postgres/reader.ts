// What evaluation reads about a page of subjects: one query per table over the page's id
// range, through whatever connection is given (the transaction's, or a snapshot's for
// `audit verify`). Re-evaluation workers do not open PostgreSQL connections of their
// own: a worker's connection could not see the locking transaction's snapshot, so
// PgStore's pageReader() is undefined and the writing thread reads pages through here.
import type pg from "pg";
import { scatteredIds, type ApplicationRow, type DisputeRow, type RecordRow, type StateRow, type StoredInputs, type SubjectId } from "../types.js";
import { recordCols, toApplication, toDispute, toRecord, toState, type Row } from "./rows.js";

type Queryable = Pick<pg.PoolClient, "query">;

export async function readPage(db: Queryable, ids: readonly SubjectId[]): Promise<StoredInputs[]> {
  if (ids.length === 0) return [];
  const lo = ids[0] as number;
  const hi = ids[ids.length - 1] as number;
  const page = new Map<SubjectId, { subjectId: SubjectId; records: RecordRow[]; disputes: DisputeRow[]; applications: ApplicationRow[]; state: StateRow | undefined }>();
  for (const id of ids) page.set(id, { subjectId: id, records: [], disputes: [], applications: [], state: undefined });
  // A page of consecutive subjects is read by its id range; scattered ones (the subjects
  // an ingest batch touched) by their ids, so that the subjects in between are not read.
  const sparse = scatteredIds(ids);
  const where = sparse ? "subject_id = ANY($1::bigint[])" : "subject_id BETWEEN $1 AND $2";
  const params = sparse ? [[...ids]] : [lo, hi];
  const [records, disputes, applications, states] = [
    await db.query<Row>(`SELECT ${recordCols} FROM records WHERE ${where} ORDER BY subject_id, seq`, params),
    await db.query<Row>(`SELECT * FROM disputes WHERE ${where} ORDER BY subject_id, opened_at, id`, params),
    await db.query<Row>(`SELECT * FROM applications WHERE ${where} ORDER BY subject_id, applied_at, id`, params),
    await db.query<Row>(`SELECT * FROM states WHERE ${where}`, params),
  ];
  for (const r of records.rows) page.get(Number(r.subject_id))?.records.push(toRecord(r));
  for (const r of disputes.rows) page.get(Number(r.subject_id))?.disputes.push(toDispute(r));
  for (const r of applications.rows) page.get(Number(r.subject_id))?.applications.push(toApplication(r));
  for (const r of states.rows) {
    const p = page.get(Number(r.subject_id));
    if (p) p.state = toState(r);
  }
  return [...page.values()];
}
