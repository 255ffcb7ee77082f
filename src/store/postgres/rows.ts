// Row mapping of the PostgreSQL store: what a query returns (whole numbers already as
// JavaScript numbers, see store.ts's type parsers) to the port's rows. The same shapes
// the embedded store's rows.ts builds, so a contract test cannot tell the two apart.
import type { KeyRow, Role } from "../../auth/principals.js";
import type { SubjectState } from "../../engine/types.js";
import type {
  ApplicationRow,
  CatalogueRow,
  DecisionLogRow,
  DisputeRow,
  DisputeStatus,
  NoticeRow,
  OutboxRow,
  PolicyProposalRow,
  PolicyRow,
  QuarantineRow,
  SessionRow,
  OutcomeRow,
  RecordRow,
  StateRow,
} from "../types.js";

export type Row = Record<string, unknown>;

export const recordCols = "seq, source, record_id, subject_id, type, occurred_at, received_at, retracts, body, hash";

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));

export function toState(r: Row): StateRow {
  return {
    subjectId: num(r.subject_id),
    policyRef: r.policy_ref as string,
    evaluatedAt: num(r.evaluated_at),
    nextChangeAt: numOrNull(r.next_change_at),
    state: JSON.parse(r.state as string) as SubjectState,
  };
}

export function toApplication(r: Row): ApplicationRow {
  return { id: r.id as string, subjectId: num(r.subject_id), list: r.list as string, appliedAt: num(r.applied_at), appliedBy: r.applied_by as string };
}

export function toRecord(r: Row): RecordRow {
  return {
    seq: num(r.seq),
    source: r.source as string,
    recordId: r.record_id as string,
    subjectId: num(r.subject_id),
    type: r.type as string,
    occurredAt: num(r.occurred_at),
    receivedAt: num(r.received_at),
    retracts: strOrNull(r.retracts),
    body: r.body as string,
    hash: r.hash as string,
  };
}

export function toDispute(r: Row): DisputeRow {
  return {
    id: r.id as string,
    subjectId: num(r.subject_id),
    source: r.source as string,
    recordId: r.record_id as string,
    grounds: r.grounds as string,
    evidence: strOrNull(r.evidence),
    openedBy: r.opened_by as string,
    openedAt: num(r.opened_at),
    deadlineAt: num(r.deadline_at),
    suspend: Number(r.suspend) === 1,
    status: r.status as DisputeStatus,
    answerNote: strOrNull(r.answer_note),
    answeredAt: numOrNull(r.answered_at),
    decidedBy: strOrNull(r.decided_by),
    reason: strOrNull(r.reason),
    closedAt: numOrNull(r.closed_at),
    counts: r.counts === null || r.counts === undefined ? null : Number(r.counts) === 1,
  };
}

export function toQuarantine(r: Row): QuarantineRow {
  return {
    seq: num(r.seq),
    source: r.source as string,
    recordId: r.record_id as string,
    scheme: r.scheme as string,
    value: r.value as string,
    body: r.body as string,
    hash: r.hash as string,
    receivedAt: num(r.received_at),
    reason: r.reason as string,
    releasedAt: numOrNull(r.released_at),
  };
}

export function toKey(r: Row): KeyRow {
  return {
    keyId: r.key_id as string,
    hash: r.hash as string,
    role: r.role as Role,
    label: r.label as string,
    source: strOrNull(r.source),
    contexts: JSON.parse(r.contexts as string) as string[],
    subjectId: numOrNull(r.subject_id),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

export function toDecision(r: Row): DecisionLogRow {
  return {
    id: r.id as string,
    at: num(r.at),
    keyId: r.key_id as string,
    askedBy: r.asked_by as string,
    scheme: r.scheme as string,
    value: r.value as string,
    context: r.context as string,
    decision: r.decision as "allow" | "deny",
    codes: JSON.parse(r.codes as string) as string[],
  };
}

export function toOutbox(r: Row): OutboxRow {
  return {
    noticeId: r.notice_id as string,
    attempts: num(r.attempts),
    nextAttemptAt: num(r.next_attempt_at),
    deliveredAt: numOrNull(r.delivered_at),
    lastError: strOrNull(r.last_error),
  };
}

export function toNotice(r: Row): NoticeRow {
  return {
    id: r.id as string,
    subjectId: num(r.subject_id),
    measure: r.measure as string,
    effectiveFrom: num(r.effective_from),
    createdAt: num(r.created_at),
    body: r.body as string,
  };
}

export function toPolicy(r: Row): PolicyRow {
  return {
    seq: num(r.seq),
    ref: r.ref as string,
    policyId: r.policy_id as string,
    version: r.version as string,
    text: r.text as string,
    hash: r.hash as string,
    effective: num(r.effective),
    publishedAt: num(r.published_at),
  };
}

export function toCatalogue(r: Row): CatalogueRow {
  return {
    seq: num(r.seq),
    catalogueId: r.catalogue_id as string,
    version: r.version as string,
    hash: r.hash as string,
    text: r.text as string,
    adoptedAt: num(r.adopted_at),
    adoptedBy: r.adopted_by as string,
  };
}

export function toProposal(r: Row): PolicyProposalRow {
  return {
    id: r.id as string,
    ref: r.ref as string,
    text: r.text as string,
    hash: r.hash as string,
    proposedBy: r.proposed_by as string,
    proposedAt: num(r.proposed_at),
    status: r.status as PolicyProposalRow["status"],
    decidedBy: strOrNull(r.decided_by),
    decidedAt: numOrNull(r.decided_at),
    note: strOrNull(r.note),
  };
}

export function toSession(r: Row): SessionRow {
  return { hash: r.hash as string, keyId: r.key_id as string, createdAt: num(r.created_at), lastSeenAt: num(r.last_seen_at), expiresAt: num(r.expires_at), endedAt: numOrNull(r.ended_at) };
}

export function toOutcome(r: Row): OutcomeRow {
  return { receipt: r.receipt as string, line: num(r.line), source: strOrNull(r.source), recordId: strOrNull(r.record_id), status: r.status as OutcomeRow["status"], detail: r.detail as string, at: num(r.at) };
}
