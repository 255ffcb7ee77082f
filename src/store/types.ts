// The storage interface: the smallest set of operations the shell needs. Sibling
// implementations (sqlite now, postgres for scale-out) live in folders of their own
// and must pass the one contract suite in contract.ts.
import type { SubjectRecord, SubjectState } from "../engine/types.js";
import type { Instant } from "../time.js";
import type { KeyRow } from "../auth/principals.js";

export type SubjectId = number;

export interface Identifier {
  readonly scheme: string;
  readonly value: string;
}

export interface PolicyRow {
  readonly seq: number;
  readonly ref: string;
  readonly policyId: string;
  readonly version: string;
  readonly text: string;
  readonly hash: string;
  readonly effective: Instant;
  readonly publishedAt: Instant;
}

/** A record as stored: the canonical body plus what ingest resolved. */
export interface RecordRow {
  readonly seq: number;
  readonly source: string;
  readonly recordId: string;
  readonly subjectId: SubjectId;
  readonly type: string;
  readonly occurredAt: Instant;
  readonly receivedAt: Instant;
  readonly retracts: string | null;
  /** Canonical JSON of the record as submitted (normalised). */
  readonly body: string;
  readonly hash: string;
}

export interface QuarantineRow {
  readonly seq: number;
  readonly source: string;
  readonly recordId: string;
  readonly scheme: string;
  readonly value: string;
  readonly body: string;
  readonly hash: string;
  readonly receivedAt: Instant;
  readonly reason: string;
  readonly releasedAt: Instant | null;
}

export interface StateRow {
  readonly subjectId: SubjectId;
  readonly policyRef: string;
  readonly evaluatedAt: Instant;
  readonly nextChangeAt: Instant | null;
  readonly state: SubjectState;
}

/** A state as JSON text, with the columns the store keeps beside it. */
export interface StateText {
  readonly subjectId: SubjectId;
  readonly policyRef: string;
  readonly evaluatedAt: Instant;
  readonly nextChangeAt: Instant | null;
  readonly hasMeasures: boolean;
  readonly json: string;
}

/** What is stored about one subject that its evaluation reads; lists in the per-subject methods' order. */
export interface StoredInputs {
  readonly subjectId: SubjectId;
  readonly records: RecordRow[];
  readonly disputes: DisputeRow[];
  readonly applications: ApplicationRow[];
  readonly state: StateRow | undefined;
}

/** A record to append: everything but the sequence number the store assigns. */
export type NewRecord = Omit<RecordRow, "seq">;

/** A record to keep in quarantine: everything but what the store assigns or sets on release. */
export type NewQuarantine = Omit<QuarantineRow, "seq" | "releasedAt">;

export interface Store extends KeyStore, DecisionLogStore, StatsStore, DueProcessStore {
  /** Runs fn in one durable transaction: all of it is committed, or none. */
  transaction<T>(fn: () => T): T;
  close(): void;

  // policies
  addPolicy(p: Omit<PolicyRow, "seq">): PolicyRow;
  policies(): PolicyRow[];
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;

  // subjects and identifiers
  createSubject(at: Instant): SubjectId;
  resolve(id: Identifier): SubjectId | undefined;
  /** Links an identifier to a subject; throws identifier-conflict if it names another subject. */
  link(subjectId: SubjectId, id: Identifier, at: Instant): void;
  identifiersOf(subjectId: SubjectId): Identifier[];
  subjectExists(subjectId: SubjectId): boolean;
  countSubjects(): number;

  // records
  findRecord(source: string, recordId: string): RecordRow | undefined;
  appendRecord(r: NewRecord): RecordRow;
  recordsOf(subjectId: SubjectId): RecordRow[];
  countRecords(): number;

  // quarantine: records whose identifier did not resolve; kept until it does
  findQuarantined(source: string, recordId: string): QuarantineRow | undefined;
  quarantine(q: NewQuarantine): QuarantineRow;
  quarantinedFor(id: Identifier): QuarantineRow[];
  listQuarantine(limit: number): QuarantineRow[];
  releaseQuarantined(seq: number, at: Instant): void;

  // derived state
  putState(row: StateRow): void;
  getState(subjectId: SubjectId): StateRow | undefined;
  /** Subjects whose state changes by itself at or before `at`. */
  dueSubjects(at: Instant, limit: number): SubjectId[];
  /** Every subject that has records, in id order, in pages. */
  subjectsWithRecords(afterId: SubjectId, limit: number): SubjectId[];
  /**
   * The next page of subjects with records (id order, after `afterId`) with everything
   * evaluation reads about each: one read per table for the page, not one per subject,
   * which is what a full re-evaluation of millions of subjects needs.
   */
  evaluationPage(afterId: SubjectId, limit: number): StoredInputs[];
  /** Stores a state already serialised (by a re-evaluation worker); read back by getState like any other. */
  putStateText(row: StateText): void;
  /**
   * A file other connections may open read-only to read evaluation pages (re-evaluation
   * workers do, while this store holds the write lock); undefined for in-memory stores.
   */
  sharedFile(): string | undefined;
  countSubjectsWithRecords(): number;
  /** States that carry at least one measure, for building the decision index. */
  statesWithMeasures(): Iterable<{ subjectId: SubjectId; state: SubjectState }>;
  /** The earliest next change of any subject, or null. */
  earliestChange(): Instant | null;
}

/** One logged decision: who asked about whom, in which context, and the answer. */
export interface DecisionLogRow {
  readonly id: string;
  readonly at: Instant;
  /** Key id of the asker ("anonymous" is never logged: checks need a key). */
  readonly keyId: string;
  readonly askedBy: string;
  readonly scheme: string;
  readonly value: string;
  readonly context: string;
  readonly decision: "allow" | "deny";
  readonly codes: readonly string[];
}

export interface ListCount {
  readonly list: string;
  readonly effect: "restrict" | "privilege";
  readonly members: number;
}

export interface MeasureCount {
  readonly context: string;
  readonly measure: string;
  readonly effect: "deny" | "privilege";
  readonly active: number;
  readonly pending: number;
}

/** API keys, stored hashed. */
export interface KeyStore {
  addKey(row: KeyRow): void;
  keyById(keyId: string): KeyRow | undefined;
  listKeys(): KeyRow[];
  /** Returns false when there was no such unrevoked key. */
  revokeKey(keyId: string, at: Instant): boolean;
}

/** The decision log: written in batches, read by identifier for the subject's statement. */
export interface DecisionLogStore {
  appendDecisions(rows: readonly DecisionLogRow[]): void;
  decisionsAbout(ids: readonly Identifier[], limit: number): DecisionLogRow[];
  countDecisions(): number;
}

/** Public aggregates, computed from stored states. */
export interface StatsStore {
  listCounts(): ListCount[];
  measureCounts(): MeasureCount[];
}

export type DisputeStatus = "open" | "confirmed" | "withdrawn" | "corrected" | "upheld" | "dismissed" | "expired";

export interface DisputeRow {
  readonly id: string;
  readonly subjectId: SubjectId;
  readonly source: string;
  readonly recordId: string;
  readonly grounds: string;
  readonly evidence: string | null;
  readonly openedBy: string;
  readonly openedAt: Instant;
  readonly deadlineAt: Instant;
  readonly suspend: boolean;
  readonly status: DisputeStatus;
  readonly answerNote: string | null;
  readonly answeredAt: Instant | null;
  readonly decidedBy: string | null;
  readonly reason: string | null;
  readonly closedAt: Instant | null;
  /** After closing: whether the record counts (null while open). */
  readonly counts: boolean | null;
}

export interface ApplicationRow {
  readonly id: string;
  readonly subjectId: SubjectId;
  readonly list: string;
  readonly appliedAt: Instant;
  readonly appliedBy: string;
}

export interface NoticeRow {
  readonly id: string;
  readonly subjectId: SubjectId;
  readonly measure: string;
  readonly effectiveFrom: Instant;
  readonly createdAt: Instant;
  /** The notice as the subject receives it (JSON). */
  readonly body: string;
}

export interface OutboxRow {
  readonly noticeId: string;
  readonly attempts: number;
  readonly nextAttemptAt: Instant;
  readonly deliveredAt: Instant | null;
  readonly lastError: string | null;
}

/** Due process: disputes, applications for early exit, notices and their delivery outbox. */
export interface DueProcessStore {
  putDispute(row: DisputeRow): void;
  getDispute(id: string): DisputeRow | undefined;
  disputesOf(subjectId: SubjectId): DisputeRow[];
  listDisputes(filter: { status?: DisputeStatus; source?: string; limit: number }): DisputeRow[];
  /** Open disputes whose deadline is at or before `at`. */
  expiredDisputes(at: Instant): DisputeRow[];
  addApplication(row: ApplicationRow): void;
  applicationsOf(subjectId: SubjectId): ApplicationRow[];
  /** Inserts a notice and its outbox entry; returns false if that notice already exists. */
  addNotice(row: NoticeRow): boolean;
  noticesOf(subjectId: SubjectId): NoticeRow[];
  getNotice(id: string): NoticeRow | undefined;
  dueOutbox(at: Instant, limit: number): OutboxRow[];
  markDelivered(noticeId: string, at: Instant): void;
  markFailed(noticeId: string, error: string, nextAttemptAt: Instant): void;
  outboxOf(noticeId: string): OutboxRow | undefined;
}

/** Converts a stored row back into what the evaluator reads. */
export function toSubjectRecord(r: RecordRow): SubjectRecord {
  const body = JSON.parse(r.body) as { fields?: Record<string, unknown>; supersedes?: string };
  return {
    source: r.source,
    id: r.recordId,
    type: r.type,
    occurredAt: r.occurredAt,
    fields: body.fields ?? {},
    retracts: r.retracts ?? undefined,
    supersedes: body.supersedes,
    receivedAt: r.receivedAt,
  };
}
