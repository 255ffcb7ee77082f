// Due process: disputes (opened by a subject, answered by the source, decided by a
// reviewer) and applications for early exit. Each change and the subject's
// re-evaluation commit together.
import { randomUUID } from "node:crypto";
import { StandingError } from "../errors.js";
import type { DisputeActionRow, DisputeRow, DisputeStatus, StoreTx, SubjectId } from "../store/types.js";
import { addDuration } from "../time.js";
import type { Shell } from "./context.js";
import { evaluateAndStore, stateOf } from "./evaluation.js";
import type { Ingest, IngestResult } from "./ingest.js";

/** How long the texts of a dispute may be, wherever they come from (API, web form, CLI). */
export const DISPUTE_LIMITS = { text: 10_000, evidence: 2048 } as const;

export class DueProcess {
  constructor(
    private readonly shell: Shell,
    private readonly ingest: Ingest,
  ) {}

  /** A subject (or an operator on their behalf) disputes one of the subject's records. */
  async openDispute(req: { subjectId: SubjectId; source: string; recordId: string; grounds: string; evidence?: string; openedBy: string }): Promise<DisputeRow> {
    const grounds = req.grounds.trim();
    if (grounds.length < 10) throw new StandingError("bad-request", "give the grounds of the dispute in a sentence or more (at least 10 characters)", { grounds: req.grounds });
    if (grounds.length > DISPUTE_LIMITS.text) throw new StandingError("bad-request", `the grounds are too long (at most ${DISPUTE_LIMITS.text.toLocaleString("en")} characters)`, { length: grounds.length });
    if (req.evidence !== undefined && req.evidence.length > DISPUTE_LIMITS.evidence) {
      throw new StandingError("bad-request", `the evidence reference is too long (at most ${DISPUTE_LIMITS.evidence} characters)`, { length: req.evidence.length });
    }
    const now = this.shell.clock.now();
    const policy = this.shell.policies.require(now);
    return this.withSubject(req.subjectId, async (tx) => {
      const record = await tx.findRecord(req.source, req.recordId);
      // "Not in this file" and "no such record" are one answer: a filing must not tell anyone
      // whether a record exists about someone else.
      if (!record || record.retracts !== null || record.subjectId !== req.subjectId) {
        throw new StandingError("not-found", `no record "${req.recordId}" from source "${req.source}" in this subject's file`, { source: req.source, record: req.recordId });
      }
      const open = (await tx.disputesOf(req.subjectId)).find((d) => d.source === req.source && d.recordId === req.recordId && (d.status === "open" || d.status === "confirmed"));
      if (open) throw new StandingError("record-conflict", `record "${req.recordId}" already has dispute ${open.id} (${open.status})`, { dispute: open.id });
      const rt = policy.records.get(record.type);
      const deadline = rt ? addDuration(now, rt.dispute.deadline, policy.timezone) : now;
      const row: DisputeRow = {
        id: randomUUID(), subjectId: req.subjectId, source: req.source, recordId: req.recordId, grounds, evidence: req.evidence ?? null,
        openedBy: req.openedBy, openedAt: now, deadlineAt: deadline, suspend: rt?.dispute.suspend ?? false, status: "open",
        answerNote: null, answeredAt: null, decidedBy: null, reason: null, closedAt: null, counts: null,
      };
      await tx.putDispute(row);
      await tx.addDisputeAction({ disputeId: row.id, action: "opened", actor: req.openedBy, at: now, note: null });
      return row;
    });
  }

  /**
   * The source answers: confirm (the record stands), withdraw (it stops counting), or
   * correct (a corrected record replaces it, submitted with the answer).
   */
  async answerDispute(id: string, source: string, answer: "confirm" | "withdraw" | "correct", note: string, correction?: unknown): Promise<{ dispute: DisputeRow; correction?: IngestResult }> {
    const d = await this.dispute(id);
    if (d.source !== source) throw new StandingError("forbidden", `dispute ${id} is for source "${d.source}" to answer`, { dispute: id });
    if (note.length > DISPUTE_LIMITS.text) throw new StandingError("bad-request", `the note is too long (at most ${DISPUTE_LIMITS.text.toLocaleString("en")} characters)`, { dispute: id });
    const now = this.shell.clock.now();
    const status: DisputeStatus = answer === "confirm" ? "confirmed" : answer === "withdraw" ? "withdrawn" : "corrected";
    return this.withSubject(d.subjectId, async (tx) => {
      const current = (await tx.getDispute(id)) as DisputeRow;
      if (current.status !== "open") throw new StandingError("record-conflict", `dispute ${id} is ${current.status}, not open`, { dispute: id, status: current.status });
      let result: IngestResult | undefined;
      if (answer === "correct") {
        if (typeof correction !== "object" || correction === null) throw new StandingError("bad-request", "a correction needs the corrected record", { dispute: id });
        const c = { ...(correction as Record<string, unknown>), source, supersedes: d.recordId };
        result = await this.ingest.one(tx, c, this.shell.policies.active(now), now, new Set());
        if (result.status !== "accepted") throw new StandingError(result.status === "rejected" ? result.error.code : "bad-request", `the correction was not accepted: ${result.status === "rejected" ? result.error.message : result.status}`, { dispute: id });
      }
      const out: DisputeRow = { ...current, status, answerNote: note, answeredAt: now, closedAt: answer === "confirm" ? null : now, counts: answer === "confirm" ? null : false };
      await tx.putDispute(out);
      await tx.addDisputeAction({ disputeId: id, action: "answered", actor: `source ${source}`, at: now, note: `${answer}: ${note}` });
      return result ? { dispute: out, correction: result } : { dispute: out };
    });
  }

  /**
   * A reviewer decides, with a written reason, under separation of duties:
   * - whoever filed the dispute never decides it;
   * - a reviewer decides only once the source has answered (confirmed); a dispute whose
 *   deadline passed unanswered closes by rule in the subject's favour (expired), whoever asks;
   * - dismissing takes one reviewer; upholding, which takes the record out of the subject's
   *   file, takes two: the first proposes (uphold-proposed), a second one confirms it
   *   (upheld) or rejects the proposal (back to confirmed).
   * Each step is kept in the dispute's actions (who, when, why).
   */
  async decideDispute(id: string, reviewer: string, decision: "upheld" | "dismissed", reason: string): Promise<DisputeRow> {
    const d = await this.dispute(id);
    const why = reason.trim();
    if (why.length < 10) throw new StandingError("bad-request", "a decision needs a written reason (at least 10 characters)", { dispute: id });
    if (why.length > DISPUTE_LIMITS.text) throw new StandingError("bad-request", `the reason is too long (at most ${DISPUTE_LIMITS.text.toLocaleString("en")} characters)`, { dispute: id });
    const now = this.shell.clock.now();
    return this.withSubject(d.subjectId, async (tx) => {
      const current = (await tx.getDispute(id)) as DisputeRow;
      const actions = await tx.disputeActions(id);
      const me = actorKey(reviewer);
      const opener = actions.find((a) => a.action === "opened")?.actor ?? current.openedBy;
      if (actorKey(opener) === me) throw new StandingError("forbidden", `dispute ${id} was filed by ${opener}; whoever files a dispute does not decide it`, { dispute: id });
      const act = (action: DisputeActionRow["action"]) => tx.addDisputeAction({ disputeId: id, action, actor: reviewer, at: now, note: why });
      if (current.status === "uphold-proposed") {
        const proposer = [...actions].reverse().find((a) => a.action === "proposed-uphold")?.actor ?? current.decidedBy ?? "";
        if (actorKey(proposer) === me) throw new StandingError("forbidden", `upholding dispute ${id} was proposed by ${proposer}; a second reviewer must confirm or reject it`, { dispute: id });
        if (decision === "upheld") {
          const row: DisputeRow = { ...current, status: "upheld", closedAt: now, counts: false };
          await tx.putDispute(row);
          await act("confirmed-uphold");
          return row;
        }
        // Not upheld after all: back in the queue as the source left it, the record counting.
        const row: DisputeRow = { ...current, status: "confirmed", decidedBy: null, reason: null };
        await tx.putDispute(row);
        await act("rejected-uphold");
        return row;
      }
      if (current.status === "open" && now >= current.deadlineAt) {
        // The source did not answer in time: by rule the dispute closes in the subject's
        // favour, as the scheduler would close it. No reviewer reinstates the record alone.
        const row: DisputeRow = { ...current, status: "expired", closedAt: current.deadlineAt, counts: false };
        await tx.putDispute(row);
        await tx.addDisputeAction({ disputeId: id, action: "expired", actor: "the deadline (the source did not answer)", at: current.deadlineAt, note: null });
        return row;
      }
      const answered = current.status === "confirmed";
      if (!answered) {
        if (current.status === "open") {
          throw new StandingError("record-conflict", `dispute ${id} waits for the source's answer until ${new Date(current.deadlineAt).toISOString()}; a reviewer decides once the source has answered or that deadline has passed`, { dispute: id, status: current.status });
        }
        throw new StandingError("record-conflict", `dispute ${id} is already ${current.status}`, { dispute: id, status: current.status });
      }
      if (decision === "dismissed") {
        const row: DisputeRow = { ...current, status: "dismissed", decidedBy: reviewer, reason: why, closedAt: now, counts: true };
        await tx.putDispute(row);
        await act("dismissed");
        return row;
      }
      const row: DisputeRow = { ...current, status: "uphold-proposed", decidedBy: reviewer, reason: why };
      await tx.putDispute(row);
      await act("proposed-uphold");
      return row;
    });
  }

  /** Recovery by rule: applies to leave a list early once its minimum period has passed. */
  async applyEarlyExit(subjectId: SubjectId, list: string, appliedBy: string): Promise<{ applied: boolean; list: string; until: string | null }> {
    const now = this.shell.clock.now();
    const policy = this.shell.policies.require(now);
    const def = policy.lists.get(list);
    if (!def) throw new StandingError("not-found", `policy ${policy.ref} has no list "${list}"`, { list });
    if (!def.earlyExit) throw new StandingError("bad-request", `list "${list}" has no early exit; its ways off are its leave records and its expiry`, { list });
    const earlyExit = def.earlyExit;
    await this.withSubject(subjectId, async (tx) => {
      const m = (await stateOf(tx, policy, subjectId, now)).lists.find((l) => l.list === list);
      if (!m) throw new StandingError("bad-request", `the subject is not on "${list}"`, { list });
      const from = addDuration(Date.parse(m.since as string), earlyExit, policy.timezone);
      if (now < from) throw new StandingError("bad-request", `early exit from "${list}" opens on ${new Date(from).toISOString()}`, { list, from: new Date(from).toISOString() });
      await tx.addApplication({ id: randomUUID(), subjectId, list, appliedAt: now, appliedBy });
    });
    const after = (await this.shell.store.getState(subjectId))?.state.lists.find((l) => l.list === list);
    return { applied: true, list, until: after?.until ?? null };
  }

  private async dispute(id: string): Promise<DisputeRow> {
    const d = await this.shell.store.getDispute(id);
    if (!d) throw new StandingError("not-found", `no dispute ${id}`, { dispute: id });
    return d;
  }

  /** Runs a change to one subject's inputs and its re-evaluation in one transaction, holding the subject's lock. */
  private async withSubject<T>(subjectId: SubjectId, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const now = this.shell.clock.now();
    const { out, written } = await this.shell.store.transaction(async (tx) => {
      const policy = await this.shell.policies.current(tx, now);
      await tx.lockSubjects([subjectId]);
      const out = await fn(tx);
      return { out, written: policy ? [await evaluateAndStore(tx, policy, subjectId, now)] : [] };
    });
    this.shell.applied(written);
    return out;
  }
}

/**
 * Who an actor is, for separation of duties: the API key behind "reviewer key 1a2b3c4d5e6f
 * (label)", whatever its label says; otherwise the name itself (a CLI operator's --by).
 */
export function actorKey(actor: string): string {
  const key = /\bkey ([0-9a-f]{12})\b/i.exec(actor);
  return key ? `key:${(key[1] as string).toLowerCase()}` : `name:${actor.trim().toLowerCase()}`;
}
