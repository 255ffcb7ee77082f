// What the API, the web pages and the CLI read, outside any transaction: a subject's
// file, the dispute queue, quarantine, public statistics. Every read the adapters need
// is here, so none of them holds the store.
import type { DecisionLogRow, DisputeActionRow, DisputeRow, DisputeStatus, Identifier, ListCount, MeasureCount, NoticeRow, OutboxRow, OutcomeRow, PolicyProposalRow, QuarantineRow, RecordRow, StateRow, Store, SubjectId } from "../store/types.js";
import type { Instant } from "../time.js";

export class ReadModels {
  constructor(private readonly store: Store) {}

  /** A setting of the store (what `setSetting` wrote), e.g. whether it is a demo store. */
  getMeta(key: string): Promise<string | undefined> {
    return this.store.getMeta(key);
  }
  /** Policy proposals, oldest first, as committed (not this process's projection). */
  policyProposals(): Promise<PolicyProposalRow[]> {
    return this.store.policyProposals();
  }
  resolve(id: Identifier): Promise<SubjectId | undefined> {
    return this.store.resolve(id);
  }
  subjectExists(id: SubjectId): Promise<boolean> {
    return this.store.subjectExists(id);
  }
  identifiersOf(id: SubjectId): Promise<Identifier[]> {
    return this.store.identifiersOf(id);
  }
  recordsOf(id: SubjectId): Promise<RecordRow[]> {
    return this.store.recordsOf(id);
  }
  storedState(id: SubjectId): Promise<StateRow | undefined> {
    return this.store.getState(id);
  }
  countSubjects(): Promise<number> {
    return this.store.countSubjects();
  }
  countRecords(): Promise<number> {
    return this.store.countRecords();
  }
  countDecisions(): Promise<number> {
    return this.store.countDecisions();
  }
  listQuarantine(limit: number): Promise<QuarantineRow[]> {
    return this.store.listQuarantine(limit);
  }
  getDispute(id: string): Promise<DisputeRow | undefined> {
    return this.store.getDispute(id);
  }
  disputeActions(id: string): Promise<DisputeActionRow[]> {
    return this.store.disputeActions(id);
  }
  disputesOf(id: SubjectId): Promise<DisputeRow[]> {
    return this.store.disputesOf(id);
  }
  listDisputes(filter: { status?: DisputeStatus; source?: string; limit: number }): Promise<DisputeRow[]> {
    return this.store.listDisputes(filter);
  }
  noticesOf(id: SubjectId): Promise<NoticeRow[]> {
    return this.store.noticesOf(id);
  }
  getNotice(id: string): Promise<NoticeRow | undefined> {
    return this.store.getNotice(id);
  }
  outboxOf(noticeId: string): Promise<OutboxRow | undefined> {
    return this.store.outboxOf(noticeId);
  }
  decisionsAbout(ids: readonly Identifier[], limit: number): Promise<DecisionLogRow[]> {
    return this.store.decisionsAbout(ids, limit);
  }
  listCounts(): Promise<ListCount[]> {
    return this.store.listCounts();
  }
  measureCounts(): Promise<MeasureCount[]> {
    return this.store.measureCounts();
  }
  noticeTimes(): Promise<Instant[]> {
    return this.store.noticeTimes();
  }
  /** Subjects on any measure, a page at a time, with their identifiers (the demo's welcome, the index snapshot). */
  statesWithMeasures(afterId: SubjectId, limit: number): ReturnType<Store["statesWithMeasures"]> {
    return this.store.statesWithMeasures(afterId, limit);
  }
  /** A source's record as stored, if it is. */
  findRecord(source: string, recordId: string): Promise<RecordRow | undefined> {
    return this.store.findRecord(source, recordId);
  }
  /** A source's record waiting in (or released from) quarantine, if it is. */
  findQuarantined(source: string, recordId: string): Promise<QuarantineRow | undefined> {
    return this.store.findQuarantined(source, recordId);
  }
  /** Outcomes of a batch's lines (cluster ingest), in line order. */
  outcomesOf(receipt: string, afterLine: number, limit: number): Promise<OutcomeRow[]> {
    return this.store.outcomesOf(receipt, afterLine, limit);
  }
  /** The latest outcome of a source's record through the cluster's record stream. */
  outcomeOfRecord(source: string, recordId: string): Promise<OutcomeRow | undefined> {
    return this.store.outcomeOfRecord(source, recordId);
  }
}
