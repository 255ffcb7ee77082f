// What evaluation reads, from the rows the store keeps: one place, shared by the
// shell (one subject at a time) and the re-evaluation workers (a page at a time).
import { evaluate } from "../engine/evaluate.js";
import type { ListApplication, MeasureState, RecordDispute, SubjectRecord, SubjectState } from "../engine/types.js";
import { buildNotice } from "../notices/notice.js";
import type { CompiledPolicy } from "../policy/types.js";
import { toSubjectRecord, type ApplicationRow, type DisputeRow, type RecordRow, type StoredInputs, type SubjectId } from "../store/types.js";
import type { Instant } from "../time.js";

/** A notice a state change calls for, before it is given an id and stored. */
export interface DueNotice {
  readonly measure: string;
  readonly effectiveFrom: Instant;
  readonly body: string;
}

/** What changed between a stored state and its re-evaluation, as the publish result counts it. */
export interface StateChanges {
  readonly tier: boolean;
  readonly lists: boolean;
  readonly measures: boolean;
}

/** One subject re-evaluated, ready to store: what a worker sends back (the state as JSON text). */
export interface Evaluated {
  readonly subjectId: SubjectId;
  readonly json: string;
  readonly nextChangeAt: Instant | null;
  readonly measures: readonly MeasureState[];
  readonly notices: readonly DueNotice[];
  /** Null when the subject had no stored state. */
  readonly changed: StateChanges | null;
  /** Whether the measures differ from the stored state's in anything, dates included (what a decision index reads). */
  readonly measuresMoved: boolean;
}

/** Every new deny measure gets a notice, before it bites: those already in `before` (same measure, same start) were noticed. */
export function noticesDue(policy: CompiledPolicy, subjectId: SubjectId, before: SubjectState | undefined, after: SubjectState, at: Instant): DueNotice[] {
  const had = new Set((before?.measures ?? []).filter((m) => m.effect === "deny").map((m) => `${m.measure}|${m.since}`));
  const due: DueNotice[] = [];
  for (const m of after.measures) {
    if (m.effect !== "deny" || had.has(`${m.measure}|${m.since}`)) continue;
    due.push({ measure: m.measure, effectiveFrom: m.since === null ? at : Date.parse(m.since), body: JSON.stringify(buildNotice(policy, subjectId, after, m)) });
  }
  return due;
}

// Names come from the policy (no control characters), so joining them compares the lists.
const listNames = (s: SubjectState): string => s.lists.map((l) => l.list).join("\u0000");
const measureStatuses = (s: SubjectState): string => s.measures.map((m) => `${m.measure}\u0001${m.status}`).join("\u0000");

export function stateChanges(before: SubjectState, after: SubjectState): StateChanges {
  return { tier: before.tier !== after.tier, lists: listNames(before) !== listNames(after), measures: measureStatuses(before) !== measureStatuses(after) };
}

/**
 * Whether a decision index must hear of this state: its measures differ from those stored
 * in anything, dates included. The same answer as comparing their JSON texts for measures
 * the evaluator built (inputs.test.ts), without writing two texts per subject.
 */
export function measuresMoved(before: readonly MeasureState[] | undefined, after: readonly MeasureState[]): boolean {
  const b = before ?? [];
  if (b.length !== after.length) return true;
  for (let i = 0; i < b.length; i++) if (!sameMeasure(b[i] as MeasureState, after[i] as MeasureState)) return true;
  return false;
}

function sameMeasure(x: MeasureState, y: MeasureState): boolean {
  if (x.measure !== y.measure || x.context !== y.context || x.effect !== y.effect || x.code !== y.code || x.basis !== y.basis) return false;
  if (x.status !== y.status || x.since !== y.since || x.until !== y.until || x.lists.length !== y.lists.length) return false;
  for (let i = 0; i < x.lists.length; i++) if (x.lists[i] !== y.lists[i]) return false;
  // A stored state from another version may carry other fields, or lack some: moved.
  return Object.keys(x).length === MEASURE_FIELDS && Object.keys(y).length === MEASURE_FIELDS;
}
const MEASURE_FIELDS = 9;

/** Evaluates one stored subject and prepares everything storing it needs. */
export function evaluateForStore(policy: CompiledPolicy, p: StoredInputs, at: Instant): Evaluated {
  const state = evaluateStored(policy, p, at);
  const before = p.state?.state;
  return {
    subjectId: p.subjectId,
    json: JSON.stringify(state),
    nextChangeAt: state.nextChangeAt === null ? null : Date.parse(state.nextChangeAt),
    measures: state.measures,
    notices: noticesDue(policy, p.subjectId, before, state, at),
    changed: before ? stateChanges(before, state) : null,
    measuresMoved: measuresMoved(before?.measures, state.measures),
  };
}

/** Evaluates one subject from what the store keeps about it (StoreReads.evaluationInputs). */
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
    case "uphold-proposed":
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
