import type { Instant } from "../time.js";

/** One record as the evaluator sees it: already validated and resolved to this subject. */
export interface SubjectRecord {
  readonly source: string;
  readonly id: string;
  /** Record type; for a retraction, the type of the record it retracts (informational). */
  readonly type: string;
  readonly occurredAt: Instant;
  readonly fields: Readonly<Record<string, unknown>>;
  /** When set, this record retracts the source's record with that id. */
  readonly retracts?: string | undefined;
  /** When set, this record replaces (corrects) the source's record with that id. */
  readonly supersedes?: string | undefined;
  /**
   * When the record became known. A deny measure's notice period runs from when the
   * subject could first be told, never from a past occurredAt. Defaults to occurredAt.
   */
  readonly receivedAt?: number | undefined;
  /** The latest dispute of this record, if any. */
  readonly dispute?: RecordDispute | undefined;
}

/**
 * A dispute as the evaluator sees it. While open, a record whose type suspends
 * effects does not count. An unanswered dispute past its deadline, or one closed
 * with counts=false (upheld, withdrawn, corrected), removes the record as if it had
 * never counted; closed with counts=true (confirmed, dismissed), it counts again.
 */
export interface RecordDispute {
  readonly openedAt: number;
  readonly deadline: number;
  readonly suspend: boolean;
  readonly closedAt: number | null;
  readonly counts: boolean | null;
}

/** An application for early exit from a list (recovery by rule). */
export interface ListApplication {
  readonly list: string;
  readonly at: number;
}

export interface RecordRef {
  readonly source: string;
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
}

export interface Contribution {
  readonly rule: string;
  readonly record: RecordRef;
  readonly points: number;
  /** Points the cap withheld from this record (0 when none). */
  readonly capped: number;
  readonly from: string;
  readonly until: string | null;
}

export interface ListMembership {
  readonly list: string;
  readonly effect: "restrict" | "privilege";
  /** null: holds since before any record (e.g. the base score meets the condition). */
  readonly since: string | null;
  readonly until: string | null;
  readonly because: readonly RecordRef[];
}

export interface MeasureState {
  readonly measure: string;
  readonly context: string;
  readonly effect: "deny" | "privilege";
  readonly code: string;
  readonly basis: string | null;
  /** "pending": the subject is on the list but the notice period is still running. */
  readonly status: "active" | "pending";
  readonly since: string | null;
  readonly until: string | null;
  readonly lists: readonly string[];
}

export interface SubjectState {
  readonly policy: string;
  readonly at: string;
  readonly score: number;
  readonly tier: string;
  readonly contributions: readonly Contribution[];
  readonly lists: readonly ListMembership[];
  readonly measures: readonly MeasureState[];
  readonly nextChangeAt: string | null;
}

export interface Reason {
  readonly code: string;
  readonly measure: string;
  readonly basis: string | null;
  readonly until: string | null;
}

export interface Decision {
  readonly decision: "allow" | "deny";
  readonly context: string;
  readonly reasons: readonly Reason[];
  readonly privileges: readonly { readonly code: string; readonly measure: string; readonly until: string | null }[];
  readonly policy: string;
  readonly at: string;
}
