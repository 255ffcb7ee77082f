// What evaluation reads, from the rows the store keeps: one place, shared by the
// shell (one subject at a time) and the re-evaluation workers (a page at a time).
import { evaluate } from "../engine/evaluate.js";
import type { ListApplication, RecordDispute, SubjectRecord, SubjectState } from "../engine/types.js";
import type { CompiledPolicy } from "../policy/types.js";
import { toSubjectRecord, type ApplicationRow, type DisputeRow, type RecordRow, type StoredInputs } from "../store/types.js";
import type { Instant } from "../time.js";

/** Evaluates one subject of a page read by Store.evaluationPage. */
export function evaluateStored(policy: CompiledPolicy, p: StoredInputs, at: Instant): SubjectState {
  return evaluate(policy, subjectRecords(p.records, p.disputes), at, p.applications.map(toListApplication));
}

/** A subject's stored records as the evaluator reads them, each with its latest dispute. */
export function subjectRecords(rows: readonly RecordRow[], disputeRows: readonly DisputeRow[]): SubjectRecord[] {
  const disputes = new Map<string, DisputeRow>();
  for (const d of disputeRows) disputes.set(`${d.source}\u0000${d.recordId}`, d); // latest wins (ordered by opening)
  return rows.map((row) => {
    const r = toSubjectRecord(row);
    const d = disputes.get(`${r.source}\u0000${r.id}`);
    return d ? { ...r, dispute: disputeInput(d) } : r;
  });
}

export const toListApplication = (a: ApplicationRow): ListApplication => ({ list: a.list, at: a.appliedAt });

function disputeInput(d: DisputeRow): RecordDispute {
  switch (d.status) {
    case "open":
      return { openedAt: d.openedAt, deadline: d.deadlineAt, suspend: d.suspend, closedAt: null, counts: null };
    case "confirmed":
      // The source stood by the record: it counts again from the answer on, unless a reviewer later upholds.
      return { openedAt: d.openedAt, deadline: d.deadlineAt, suspend: d.suspend, closedAt: d.answeredAt ?? d.openedAt, counts: true };
    case "expired":
      return { openedAt: d.openedAt, deadline: d.deadlineAt, suspend: d.suspend, closedAt: d.deadlineAt, counts: false };
    case "withdrawn":
    case "corrected":
    case "upheld":
    case "dismissed":
      return { openedAt: d.openedAt, deadline: d.deadlineAt, suspend: d.suspend, closedAt: d.closedAt ?? d.openedAt, counts: d.status === "dismissed" };
    default: {
      const never: never = d.status;
      throw new Error(`unknown dispute status ${String(never)}`);
    }
  }
}
