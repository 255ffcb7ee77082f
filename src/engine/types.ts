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
