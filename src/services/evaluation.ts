// Evaluating a subject from what is stored and writing its state: the one place where a
// state, its notices and its change-feed event are written together. Every service that
// changes a subject's inputs (ingest, identity, due process, scheduling, re-evaluation)
// ends its transaction here, then hands what it wrote to `applied`.
import { randomUUID } from "node:crypto";
import type { MeasureState, SubjectState } from "../engine/types.js";
import type { CompiledPolicy } from "../policy/types.js";
import { evaluateStored, measuresMoved, noticesDue, stateChanges, type DueNotice, type StateChanges } from "../reevaluation/inputs.js";
import type { Identifier, NoticeRow, StateRow, StoreReads, StoreTx, SubjectId } from "../store/types.js";
import type { Instant } from "../time.js";

/** A state just written: what the index needs, and the state itself only if a listener asks. */
export interface Written {
  readonly subjectId: SubjectId;
  readonly identifiers: readonly Identifier[];
  readonly measures: readonly MeasureState[];
  readonly changed: StateChanges | null;
  readonly state: () => SubjectState;
}

/** Receives every state this process committed, after the commit (the decision index, listeners). */
export type Applied = (written: readonly Written[]) => void;

/** Evaluates one subject from everything stored about it: records, disputes, applications. */
export async function stateOf(reads: StoreReads, policy: CompiledPolicy, subjectId: SubjectId, at: Instant): Promise<SubjectState> {
  const [records, disputes, applications] = await Promise.all([reads.recordsOf(subjectId), reads.disputesOf(subjectId), reads.applicationsOf(subjectId)]);
  return evaluateStored(policy, { subjectId, records, disputes, applications, state: undefined }, at);
}

/** Re-evaluates a subject inside `tx` (which must hold its lock) and stores the result. */
export async function evaluateAndStore(tx: StoreTx, policy: CompiledPolicy, subjectId: SubjectId, at: Instant): Promise<Written> {
  const before = (await tx.getState(subjectId))?.state;
  return storeState(tx, policy, subjectId, at, before, await stateOf(tx, policy, subjectId, at));
}

/** Stores a freshly evaluated state, with the notices its change calls for and a feed event when its measures changed. */
export async function storeState(tx: StoreTx, policy: CompiledPolicy, subjectId: SubjectId, at: Instant, before: SubjectState | undefined, state: SubjectState): Promise<Written> {
  await storeNotices(tx, subjectId, noticesDue(policy, subjectId, before, state, at), at);
  await tx.putState({ subjectId, policyRef: policy.ref, evaluatedAt: at, nextChangeAt: state.nextChangeAt === null ? null : Date.parse(state.nextChangeAt), state });
  const changed = before ? stateChanges(before, state) : null;
  // Other processes' decision indexes follow this event; the measures' dates count too.
  if (measuresMoved(before?.measures, state.measures)) await tx.emit({ kind: "subject", ref: String(subjectId) });
  const identifiers = state.measures.length > 0 ? await tx.identifiersOf(subjectId) : [];
  return { subjectId, identifiers, measures: state.measures, changed, state: () => state };
}

/**
 * evaluateAndStore for many subjects (ascending, each with records) in a handful of
 * statements: their locks, their inputs in one page read (the same rows stateOf and
 * getState read), then notices, states, feed events and identifiers a table at a time.
 * Every subject's state, notices and event are what evaluateAndStore would write.
 */
export async function evaluateAndStoreAll(tx: StoreTx, policy: CompiledPolicy, ids: readonly SubjectId[], at: Instant): Promise<Written[]> {
  if (ids.length === 0) return [];
  await tx.lockSubjects(ids);
  const inputs = await tx.evaluationInputs(ids);
  const notices: NoticeRow[] = [];
  const states: StateRow[] = [];
  const moved: SubjectId[] = [];
  const evaluated = inputs.map((p) => {
    const before = p.state?.state;
    const state = evaluateStored(policy, p, at);
    for (const n of noticesDue(policy, p.subjectId, before, state, at)) notices.push({ id: randomUUID(), subjectId: p.subjectId, measure: n.measure, effectiveFrom: n.effectiveFrom, createdAt: at, body: n.body });
    states.push({ subjectId: p.subjectId, policyRef: policy.ref, evaluatedAt: at, nextChangeAt: state.nextChangeAt === null ? null : Date.parse(state.nextChangeAt), state });
    if (measuresMoved(before?.measures, state.measures)) moved.push(p.subjectId);
    return { subjectId: p.subjectId, before, state };
  });
  await tx.addNotices(notices);
  await tx.putStates(states);
  for (const id of moved) await tx.emit({ kind: "subject", ref: String(id) });
  const identifiers = new Map<SubjectId, Identifier[]>();
  for (const l of await tx.identifiersOfAll(evaluated.filter((e) => e.state.measures.length > 0).map((e) => e.subjectId))) {
    let list = identifiers.get(l.subjectId);
    if (!list) identifiers.set(l.subjectId, (list = []));
    list.push({ scheme: l.scheme, value: l.value });
  }
  return evaluated.map(({ subjectId, before, state }) => ({
    subjectId,
    identifiers: state.measures.length > 0 ? (identifiers.get(subjectId) ?? []) : [],
    measures: state.measures,
    changed: before ? stateChanges(before, state) : null,
    state: () => state,
  }));
}

export async function storeNotices(tx: StoreTx, subjectId: SubjectId, due: readonly DueNotice[], at: Instant): Promise<void> {
  for (const n of due) await tx.addNotice({ id: randomUUID(), subjectId, measure: n.measure, effectiveFrom: n.effectiveFrom, createdAt: at, body: n.body });
}

