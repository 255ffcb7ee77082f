// Due process: disputes (opened by a subject, answered by the source, decided by a
// reviewer) and applications for early exit. Each change and the subject's
// re-evaluation commit together.
import { randomUUID } from "node:crypto";
import { StandingError } from "../errors.js";
import type { DisputeRow, DisputeStatus, StoreTx, SubjectId } from "../store/types.js";
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
      if (!record || record.retracts !== null) throw new StandingError("not-found", `no record "${req.recordId}" from source "${req.source}"`, { source: req.source, record: req.recordId });
      if (record.subjectId !== req.subjectId) throw new StandingError("forbidden", "a subject may dispute only records about themselves", { record: req.recordId });
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
      return result ? { dispute: out, correction: result } : { dispute: out };
    });
  }

  /** A reviewer decides, with a written reason: upheld (the record stops counting) or dismissed (it counts). */
  async decideDispute(id: string, reviewer: string, decision: "upheld" | "dismissed", reason: string): Promise<DisputeRow> {
    const d = await this.dispute(id);
    if (reason.trim().length < 10) throw new StandingError("bad-request", "a decision needs a written reason (at least 10 characters)", { dispute: id });
    if (reason.trim().length > DISPUTE_LIMITS.text) throw new StandingError("bad-request", `the reason is too long (at most ${DISPUTE_LIMITS.text.toLocaleString("en")} characters)`, { dispute: id });
    const now = this.shell.clock.now();
    return this.withSubject(d.subjectId, async (tx) => {
      const current = (await tx.getDispute(id)) as DisputeRow;
      if (current.status !== "open" && current.status !== "confirmed") throw new StandingError("record-conflict", `dispute ${id} is already ${current.status}`, { dispute: id, status: current.status });
      const row: DisputeRow = { ...current, status: decision, decidedBy: reviewer, reason: reason.trim(), closedAt: now, counts: decision === "dismissed" };
      await tx.putDispute(row);
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
    const policy = this.shell.policies.active(now);
    const { out, written } = await this.shell.store.transaction(async (tx) => {
      await tx.lockSubjects([subjectId]);
      const out = await fn(tx);
      return { out, written: policy ? [await evaluateAndStore(tx, policy, subjectId, now)] : [] };
    });
    this.shell.applied(written);
    return out;
  }
}
