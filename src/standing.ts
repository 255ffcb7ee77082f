// The imperative shell around the pure core: it owns the store, the clock, the
// compiled policies and the decision index, and is the one place where a record
// becomes durable state. The CLI and the HTTP API are thin layers over it.
import { randomUUID } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { availableParallelism } from "node:os";
import { StandingError, isStandingError, type ErrorCode } from "./errors.js";
import { DecisionIndex } from "./engine/decision-index.js";
import { evaluateStored, noticesDue, stateChanges, subjectRecords, toListApplication, type DueNotice, type StateChanges } from "./reevaluation/inputs.js";
import { EvaluationPool, type Ticket } from "./reevaluation/pool.js";
import type { Decision, ListApplication, MeasureState, SubjectRecord, SubjectState } from "./engine/types.js";
import { journalEvent } from "./journal/journal.js";
import { buildStatement, type Statement } from "./statement/statement.js";
import { addDuration } from "./time.js";
import { normaliseRecord, type NormalisedRecord } from "./ingest/input.js";
import { compilePolicy } from "./policy/compile.js";
import type { CompiledPolicy, PolicyDiagnostic } from "./policy/types.js";
import { type DisputeRow, type DisputeStatus, type Identifier, type PolicyRow, type StateRow, type Store, type SubjectId } from "./store/types.js";
import type { Clock, Instant } from "./time.js";

export type IngestResult =
  | { readonly status: "accepted"; readonly source: string; readonly id: string; readonly subject: SubjectId }
  | { readonly status: "duplicate"; readonly source: string; readonly id: string }
  | { readonly status: "quarantined"; readonly source: string; readonly id: string; readonly reason: string }
  | {
      readonly status: "rejected";
      readonly source?: string;
      readonly id?: string;
      readonly error: { readonly code: ErrorCode; readonly message: string; readonly details: Record<string, unknown> };
    };

export interface PublishResult {
  readonly policy: string;
  readonly status: "published" | "scheduled" | "unchanged";
  readonly effective: string;
  readonly reevaluated: number;
  readonly changed: { readonly tier: number; readonly lists: number; readonly measures: number };
  readonly warnings: readonly PolicyDiagnostic[];
}

export type Progress = (done: number, total: number) => void;

export interface StandingOptions {
  /** How far in the future an occurredAt may be (clock skew), in ms. */
  readonly futureToleranceMs?: number;
  /** Called after a subject's state changed (after commit). */
  readonly onStateChange?: (subjectId: SubjectId, state: SubjectState) => void;
  /** Worker threads for a full re-evaluation (default: one per core, up to 8, none on one core; 0 turns them off). */
  readonly reevaluationWorkers?: number;
  /** Re-evaluations of fewer subjects than this run on the calling thread (default 20,000). */
  readonly parallelFrom?: number;
  /** Subjects per page of a full re-evaluation (default 1,000). */
  readonly reevaluationPage?: number;
}

export interface CheckResult extends Decision {
  readonly id: string;
  readonly subject: Identifier;
}

const BATCH = 1000;
/** How long the texts of a dispute may be, wherever they come from (API, web form, CLI). */
export const DISPUTE_LIMITS = { text: 10_000, evidence: 2048 } as const;
/** Below this many subjects, starting worker threads costs more than it saves. */
const PARALLEL_FROM = 20_000;
// About two seconds of work per transaction here: other writers wait for the lock (busy_timeout is 5 s).
const PAGES_PER_PARALLEL_TX = 8;

/**
 * One worker per core: the workers read and evaluate, and the main thread, which only
 * writes, spends most of a re-evaluation waiting for them. None on a single core.
 */
export function defaultWorkerCount(): number {
  const n = availableParallelism();
  return n > 1 ? Math.min(n, 8) : 0;
}

export function parseIdentifier(text: string): Identifier {
  const i = text.indexOf(":");
  if (i <= 0 || i === text.length - 1) {
    throw new StandingError("invalid-identifier", `"${text}" is not an identifier; write SCHEME:VALUE, e.g. national-id:demo-000042`, { identifier: text });
  }
  return { scheme: text.slice(0, i), value: text.slice(i + 1) };
}

export class Standing {
  readonly index = new DecisionIndex();
  private readonly compiled = new Map<string, CompiledPolicy>();
  private policyRows: PolicyRow[];
  private readonly futureTolerance: number;

  constructor(
    readonly store: Store,
    readonly clock: Clock,
    private readonly options: StandingOptions = {},
  ) {
    this.policyRows = store.policies();
    this.futureTolerance = options.futureToleranceMs ?? 5 * 60_000;
  }

  // ---------------------------------------------------------------- policies

  /** The version in force at `at`: the latest published whose effective date has come. */
  activePolicy(at: Instant = this.clock.now()): CompiledPolicy | undefined {
    let row: PolicyRow | undefined;
    for (const p of this.policyRows) if (p.effective <= at) row = p;
    return row ? this.compiledFor(row) : undefined;
  }

  requirePolicy(at: Instant = this.clock.now()): CompiledPolicy {
    const p = this.activePolicy(at);
    if (!p) throw new StandingError("no-policy", "no policy is in force yet; publish one with `standing policy publish FILE`");
    return p;
  }

  publishedPolicies(): readonly PolicyRow[] {
    return this.policyRows;
  }

  private compiledFor(row: PolicyRow): CompiledPolicy {
    let c = this.compiled.get(row.ref);
    if (!c) {
      const r = compilePolicy(row.text, row.ref);
      // A stored version compiled when it was published; failing now is a bug.
      if (!r.ok) throw new Error(`stored policy ${row.ref} no longer compiles: ${r.errors[0]?.message}`);
      c = r.policy;
      this.compiled.set(row.ref, c);
    }
    return c;
  }

  publish(text: string, file: string, onProgress?: Progress): PublishResult {
    const r = compilePolicy(text, file);
    if (!r.ok) {
      throw new StandingError("invalid-policy", `${file} does not compile (${r.errors.length} error${r.errors.length === 1 ? "" : "s"})`, {
        errors: r.errors,
      });
    }
    const p = r.policy;
    const existing = this.policyRows.find((row) => row.ref === p.ref);
    if (existing) {
      if (existing.hash !== p.hash) {
        throw new StandingError("invalid-policy", `${p.ref} is already published with different content; published versions are immutable, so give this one a new version`, { policy: p.ref });
      }
      return { policy: p.ref, status: "unchanged", effective: new Date(p.effective).toISOString(), reevaluated: 0, changed: { tier: 0, lists: 0, measures: 0 }, warnings: r.warnings };
    }
    const now = this.clock.now();
    const latest = this.policyRows[this.policyRows.length - 1];
    if (latest && p.effective < latest.effective) {
      throw new StandingError("invalid-policy", `${p.ref} takes effect before ${latest.ref}, which is already published; versions take effect in publication order`, { policy: p.ref });
    }
    this.store.transaction(() => {
      this.store.addPolicy({ ref: p.ref, policyId: p.id, version: p.version, text: p.text, hash: p.hash, effective: p.effective, publishedAt: now });
    });
    this.policyRows = this.store.policies();
    this.compiled.set(p.ref, p);
    if (p.effective > now) {
      return { policy: p.ref, status: "scheduled", effective: new Date(p.effective).toISOString(), reevaluated: 0, changed: { tier: 0, lists: 0, measures: 0 }, warnings: r.warnings };
    }
    const res = this.reevaluateAll(now, onProgress);
    return { policy: p.ref, status: "published", effective: new Date(p.effective).toISOString(), ...res, warnings: r.warnings };
  }

  /**
   * Re-evaluates every subject with records under the policy in force at `at`. With
   * enough subjects it runs the evaluations in worker threads (see reevaluation/pool.ts);
   * the states written are the same either way.
   */
  reevaluateAll(at: Instant, onProgress?: Progress): { reevaluated: number; changed: { tier: number; lists: number; measures: number } } {
    const policy = this.requirePolicy(at);
    const total = this.store.countSubjectsWithRecords();
    const changed = { tier: 0, lists: 0, measures: 0 };
    const count = (c: StateChanges | null): void => {
      if (!c) return;
      if (c.tier) changed.tier++;
      if (c.lists) changed.lists++;
      if (c.measures) changed.measures++;
    };
    const file = this.store.sharedFile();
    const workers = file === undefined ? 0 : (this.options.reevaluationWorkers ?? defaultWorkerCount());
    const pageSize = this.options.reevaluationPage ?? BATCH;
    const cursor = { after: 0, exhausted: false };
    let done = 0;
    let pool: EvaluationPool | undefined;
    try {
      if (workers > 0 && total >= (this.options.parallelFrom ?? PARALLEL_FROM)) {
        pool = new EvaluationPool(workers);
        // Started before the first transaction: other writers wait on its lock.
        pool.waitUntilReady();
      }
      onProgress?.(0, total);
      while (!cursor.exhausted) {
        // Pages are read while this transaction holds the write lock (it begins
        // IMMEDIATE), so nothing can change between a page being read and its states
        // being written: by this connection, or by a worker's read-only connection,
        // which sees the last commit.
        const p = pool;
        const updates = this.store.transaction(() =>
          p ? this.writeParallelPages(p, file as string, policy, at, pageSize, cursor, count) : this.writeSerialPage(policy, at, pageSize, cursor, count),
        );
        for (const w of updates) this.afterWrite(w);
        done += updates.length;
        if (updates.length > 0) onProgress?.(done, total);
      }
    } finally {
      pool?.close();
    }
    this.store.transaction(() => this.store.setMeta("active_policy", policy.ref));
    return { reevaluated: done, changed };
  }

  /** One page evaluated on this thread, in the caller's transaction. */
  private writeSerialPage(policy: CompiledPolicy, at: Instant, pageSize: number, cursor: PageCursor, count: (c: StateChanges | null) => void): Written[] {
    const page = this.store.evaluationPage(cursor.after, pageSize);
    cursor.exhausted = page.length === 0;
    const out: Written[] = [];
    for (const p of page) {
      const before = p.state?.state;
      const row = this.storeState(policy, p.subjectId, at, before, evaluateStored(policy, p, at));
      count(before ? stateChanges(before, row.state) : null);
      out.push({ subjectId: row.subjectId, measures: row.state.measures, state: () => row.state });
      cursor.after = p.subjectId;
    }
    return out;
  }

  /**
   * Several pages read and evaluated by the workers, in the caller's transaction, while
   * this thread writes what comes back: two pages in flight per worker keep them fed.
   */
  private writeParallelPages(pool: EvaluationPool, file: string, policy: CompiledPolicy, at: Instant, pageSize: number, cursor: PageCursor, count: (c: StateChanges | null) => void): Written[] {
    const out: Written[] = [];
    const inflight: Ticket[] = [];
    const finish = (t: Ticket): void => {
      for (const e of pool.collect(t)) {
        this.store.putStateText({ subjectId: e.subjectId, policyRef: policy.ref, evaluatedAt: at, nextChangeAt: e.nextChangeAt, hasMeasures: e.measures.length > 0, json: e.json });
        this.storeNotices(e.subjectId, e.notices, at);
        count(e.changed);
        out.push({ subjectId: e.subjectId, measures: e.measures, state: () => JSON.parse(e.json) as SubjectState });
      }
    };
    for (let k = 0; k < PAGES_PER_PARALLEL_TX && !cursor.exhausted; k++) {
      const ids = this.store.subjectsWithRecords(cursor.after, pageSize);
      cursor.exhausted = ids.length === 0;
      if (cursor.exhausted) break;
      cursor.after = ids[ids.length - 1] as number;
      inflight.push(pool.submit({ ref: policy.ref, text: policy.text }, at, file, ids));
      if (inflight.length >= 2 * pool.size) finish(inflight.shift() as Ticket);
    }
    while (inflight.length > 0) finish(inflight.shift() as Ticket);
    return out;
  }

  // ---------------------------------------------------------------- ingest

  /**
   * Ingests a batch in one durable transaction and returns one result per input, in
   * order. When this returns, every accepted or quarantined record is on disk.
   */
  ingest(inputs: readonly unknown[]): IngestResult[] {
    const now = this.clock.now();
    const policy = this.activePolicy(now);
    const touched = new Set<SubjectId>();
    const { results, rows } = this.store.transaction(() => {
      const results = inputs.map((input) => this.ingestOne(input, policy, now, touched));
      const rows = policy ? [...touched].map((id) => this.evaluateAndStore(policy, id, now)) : [];
      return { results, rows };
    });
    for (const row of rows) this.afterCommit(row);
    return results;
  }

  private ingestOne(input: unknown, policy: CompiledPolicy | undefined, now: Instant, touched: Set<SubjectId>): IngestResult {
    let rec: NormalisedRecord | undefined;
    try {
      rec = normaliseRecord(input);
      const known = this.store.findRecord(rec.source, rec.id) ?? this.store.findQuarantined(rec.source, rec.id);
      if (known) {
        if (known.hash === rec.hash) return { status: "duplicate", source: rec.source, id: rec.id };
        throw new StandingError("record-conflict", `source "${rec.source}" already submitted a different record with id "${rec.id}"; records are never edited: retract it and submit a new id`, {
          source: rec.source,
          id: rec.id,
        });
      }
      if (!policy) throw new StandingError("no-policy", "no policy is in force, so no record type is admitted yet");
      if (rec.occurredAt > now + this.futureTolerance) {
        throw new StandingError("occurred-in-future", `occurredAt ${new Date(rec.occurredAt).toISOString()} is in the future`, { occurredAt: new Date(rec.occurredAt).toISOString() });
      }
      if (rec.retracts !== undefined) return this.ingestRetraction(rec, now, touched);
      return this.ingestFact(rec, policy, now, touched);
    } catch (e) {
      if (!isStandingError(e)) throw e;
      // A refusal stores no record, but it is a change an auditor must be able to see.
      journalEvent(this.store, "record.rejected", { ...(rec ? { source: rec.source, id: rec.id, inputHash: rec.hash } : pickIds(input)), code: e.code });
      return {
        status: "rejected",
        ...(rec ? { source: rec.source, id: rec.id } : pickIds(input)),
        error: e.toJSON(),
      };
    }
  }

  private ingestFact(rec: NormalisedRecord, policy: CompiledPolicy, now: Instant, touched: Set<SubjectId>): IngestResult {
    const type = rec.type as string;
    const rt = policy.records.get(type);
    if (!rt) {
      throw new StandingError("unknown-record-type", `policy ${policy.ref} admits no record type "${type}"; records that no policy category admits are not accepted`, {
        type,
        policy: policy.ref,
      });
    }
    if (!rt.sources.includes(rec.source)) {
      throw new StandingError("source-not-allowed", `source "${rec.source}" may not submit "${type}" (allowed: ${rt.sources.join(", ")})`, { source: rec.source, type });
    }
    if (rt.evidence === "required" && rec.evidence === undefined) {
      throw new StandingError("evidence-required", `"${type}" records need evidence (a reference to the case file, photo or document)`, { type });
    }
    const problems = rt.validateFields(rec.fields);
    if (problems.length > 0) throw new StandingError("invalid-record", `invalid fields for "${type}": ${problems.join("; ")}`, { type, problems });
    const subject = rec.subject as Identifier;
    const scheme = policy.identifiers?.get(subject.scheme);
    if (policy.identifiers && !scheme) {
      throw new StandingError("invalid-identifier", `identifier scheme "${subject.scheme}" is not declared by ${policy.ref} (declared: ${[...policy.identifiers.keys()].join(", ")})`, { scheme: subject.scheme });
    }
    let subjectId = this.store.resolve(subject);
    if (rec.supersedes !== undefined) {
      // A correction replaces the source's own earlier record about the same subject.
      const target = this.store.findRecord(rec.source, rec.supersedes);
      if (!target || target.retracts !== null || target.subjectId !== subjectId) {
        throw new StandingError("unknown-retraction-target", `source "${rec.source}" has no record "${rec.supersedes}" about ${subject.scheme}:${subject.value} to correct (a source may correct only its own records)`, { source: rec.source, supersedes: rec.supersedes });
      }
    }
    if (subjectId === undefined) {
      if (scheme && !scheme.registers) {
        const reason = `${subject.scheme}:${subject.value} is not linked to a subject yet; the record is kept and counts once the identifier is linked`;
        this.store.quarantine({ source: rec.source, recordId: rec.id, scheme: subject.scheme, value: subject.value, body: rec.body, hash: rec.hash, receivedAt: now, reason });
        return { status: "quarantined", source: rec.source, id: rec.id, reason };
      }
      subjectId = this.store.createSubject(now);
      this.store.link(subjectId, subject, now);
    }
    this.store.appendRecord({ source: rec.source, recordId: rec.id, subjectId, type, occurredAt: rec.occurredAt, receivedAt: now, retracts: null, body: rec.body, hash: rec.hash });
    touched.add(subjectId);
    return { status: "accepted", source: rec.source, id: rec.id, subject: subjectId };
  }

  private ingestRetraction(rec: NormalisedRecord, now: Instant, touched: Set<SubjectId>): IngestResult {
    const targetId = rec.retracts as string;
    const target = this.store.findRecord(rec.source, targetId);
    if (!target) {
      const q = this.store.findQuarantined(rec.source, targetId);
      if (q && q.releasedAt === null) {
        // Kept beside its target so both are released together when the identifier is linked.
        const reason = `retracts a record that is waiting for ${q.scheme}:${q.value} to be linked`;
        this.store.quarantine({ source: rec.source, recordId: rec.id, scheme: q.scheme, value: q.value, body: rec.body, hash: rec.hash, receivedAt: now, reason });
        return { status: "quarantined", source: rec.source, id: rec.id, reason };
      }
      throw new StandingError("unknown-retraction-target", `source "${rec.source}" has no record "${targetId}" to retract (a source may retract only its own records)`, { source: rec.source, retracts: targetId });
    }
    if (target.retracts !== null) {
      throw new StandingError("unknown-retraction-target", `"${targetId}" is itself a retraction; submit the original record again under a new id instead`, { retracts: targetId });
    }
    this.store.appendRecord({ source: rec.source, recordId: rec.id, subjectId: target.subjectId, type: target.type, occurredAt: rec.occurredAt, receivedAt: now, retracts: targetId, body: rec.body, hash: rec.hash });
    touched.add(target.subjectId);
    return { status: "accepted", source: rec.source, id: rec.id, subject: target.subjectId };
  }

  /**
   * Links identifier `extra` to the subject named by `known`, and releases every
   * quarantined record that was waiting for it.
   */
  link(known: Identifier, extra: Identifier): { subject: SubjectId; released: IngestResult[] } {
    const subjectId = this.store.resolve(known);
    if (subjectId === undefined) throw new StandingError("not-found", `no subject has ${known.scheme}:${known.value}`, { identifier: known });
    const now = this.clock.now();
    const policy = this.activePolicy(now);
    const touched = new Set<SubjectId>([subjectId]);
    const { released, rows } = this.store.transaction(() => {
      this.store.link(subjectId, extra, now);
      const released = this.releaseQuarantined(subjectId, extra, now);
      const rows = policy ? [...touched].map((id) => this.evaluateAndStore(policy, id, now)) : [];
      return { released, rows };
    });
    for (const row of rows) this.afterCommit(row);
    return { subject: subjectId, released };
  }

  /** Appends every quarantined record that was waiting for `id` to the subject it now names (inside a transaction). */
  private releaseQuarantined(subjectId: SubjectId, id: Identifier, now: Instant): IngestResult[] {
    const released: IngestResult[] = [];
    for (const q of this.store.quarantinedFor(id)) {
      this.store.releaseQuarantined(q.seq, now);
      const body = JSON.parse(q.body) as Record<string, unknown>;
      const rec = normaliseRecord(body);
      if (rec.retracts !== undefined) {
        const target = this.store.findRecord(rec.source, rec.retracts);
        if (target) {
          this.store.appendRecord({ source: rec.source, recordId: rec.id, subjectId, type: target.type, occurredAt: rec.occurredAt, receivedAt: q.receivedAt, retracts: rec.retracts, body: q.body, hash: q.hash });
          released.push({ status: "accepted", source: rec.source, id: rec.id, subject: subjectId });
        }
        continue;
      }
      // Validated on arrival; it keeps its arrival time.
      this.store.appendRecord({ source: rec.source, recordId: rec.id, subjectId, type: rec.type as string, occurredAt: rec.occurredAt, receivedAt: q.receivedAt, retracts: null, body: q.body, hash: q.hash });
      released.push({ status: "accepted", source: rec.source, id: rec.id, subject: subjectId });
    }
    return released;
  }

  /**
   * Adds a subject with its identifiers (a registry import); returns the existing one if
   * any identifier is known. Like link(), it releases records quarantined for a newly
   * linked identifier, and re-evaluates a subject that gained records or identifiers so
   * that the decision index answers for every identifier it has.
   */
  register(identifiers: readonly Identifier[]): SubjectId {
    const now = this.clock.now();
    const policy = this.activePolicy(now);
    const { id, row } = this.store.transaction(() => {
      const known = identifiers.map((i) => this.store.resolve(i)).find((s) => s !== undefined);
      const id = known ?? this.store.createSubject(now);
      let linked = false;
      let released = 0;
      for (const i of identifiers) {
        if (this.store.resolve(i) === id) continue;
        this.store.link(id, i, now);
        linked = true;
        released += this.releaseQuarantined(id, i, now).length;
      }
      const reevaluate = policy !== undefined && (released > 0 || (linked && this.store.getState(id) !== undefined));
      return { id, row: reevaluate ? this.evaluateAndStore(policy, id, now) : undefined };
    });
    if (row) this.afterCommit(row);
    return id;
  }

  // ---------------------------------------------------------------- state

  /** Everything the evaluator reads about one subject, as stored. */
  evaluationInputs(subjectId: SubjectId): SubjectRecord[] {
    return subjectRecords(this.store.recordsOf(subjectId), this.store.disputesOf(subjectId));
  }

  applicationsOf(subjectId: SubjectId): ListApplication[] {
    return this.store.applicationsOf(subjectId).map(toListApplication);
  }

  /**
   * Recomputes a subject's state from what is stored, under a named policy version:
   * what `audit verify` compares each stored state against.
   */
  recomputeState(subjectId: SubjectId, policyRef: string, at: Instant): SubjectState {
    const row = this.policyRows.find((p) => p.ref === policyRef) ?? this.store.policies().find((p) => p.ref === policyRef);
    if (!row) throw new StandingError("not-found", `no published policy ${policyRef}`, { policy: policyRef });
    return this.stateOf(this.compiledFor(row), subjectId, at);
  }

  /** `before` is the stored state, when the caller has already read it. */
  private evaluateAndStore(policy: CompiledPolicy, subjectId: SubjectId, at: Instant, before = this.store.getState(subjectId)?.state): StateRow {
    return this.storeState(policy, subjectId, at, before, this.stateOf(policy, subjectId, at));
  }

  /** Stores a freshly evaluated state, issuing the notices its change calls for first. */
  private storeState(policy: CompiledPolicy, subjectId: SubjectId, at: Instant, before: SubjectState | undefined, state: SubjectState): StateRow {
    this.issueNotices(policy, subjectId, before, state, at);
    const row: StateRow = {
      subjectId,
      policyRef: policy.ref,
      evaluatedAt: at,
      nextChangeAt: state.nextChangeAt === null ? null : Date.parse(state.nextChangeAt),
      state,
    };
    this.store.putState(row);
    return row;
  }

  private afterCommit(row: StateRow): void {
    this.afterWrite({ subjectId: row.subjectId, measures: row.state.measures, state: () => row.state });
  }

  /** After a state is committed: the decision index, and whoever listens for changes. */
  private afterWrite(w: Written): void {
    const ids = w.measures.length > 0 ? this.store.identifiersOf(w.subjectId) : [];
    this.index.put(w.subjectId, ids, w.measures);
    if (this.options.onStateChange) this.options.onStateChange(w.subjectId, w.state());
  }

  /** Loads the decision index from stored states (at start-up). */
  buildIndex(): number {
    const all = [...this.store.statesWithMeasures()];
    for (const { subjectId, state } of all) this.index.put(subjectId, this.store.identifiersOf(subjectId), state.measures);
    return all.length;
  }

  /**
   * Moves time forward: activates a policy version whose effective date has come, and
   * re-evaluates every subject whose state changes by itself by `at`.
   */
  advance(at: Instant = this.clock.now()): { policyActivated: string | null; advanced: number } {
    let policyActivated: string | null = null;
    // Another process (the CLI beside a running server) may have published a version.
    this.policyRows = this.store.policies();
    const policy = this.activePolicy(at);
    if (!policy) return { policyActivated, advanced: 0 };
    if (this.store.getMeta("active_policy") !== policy.ref) {
      this.reevaluateAll(at);
      policyActivated = policy.ref;
    }
    // Disputes left unanswered past their deadline close as expired: the record stops counting.
    const expired = this.store.expiredDisputes(at);
    if (expired.length > 0) {
      this.store.transaction(() => {
        for (const d of expired) this.store.putDispute({ ...d, status: "expired", closedAt: d.deadlineAt, counts: false });
      });
    }
    let advanced = 0;
    for (;;) {
      const due = this.store.dueSubjects(at, BATCH);
      if (due.length === 0) break;
      const rows = this.store.transaction(() => due.map((id) => this.evaluateAndStore(policy, id, at)));
      for (const row of rows) this.afterCommit(row);
      advanced += due.length;
    }
    return { policyActivated, advanced };
  }

  /** When the scheduler should next wake up: the earliest state change or pending policy. */
  nextWake(): Instant | null {
    const now = this.clock.now();
    const active = this.activePolicy(now);
    if (active && this.store.getMeta("active_policy") !== active.ref) return now;
    const pending = this.policyRows.find((p) => p.effective > now)?.effective ?? null;
    const change = this.store.earliestChange();
    if (pending === null) return change;
    if (change === null) return pending;
    return Math.min(pending, change);
  }

  // ---------------------------------------------------------------- due process

  /** Creates a notice for every deny measure that appears in `after` and was not in `before`. */
  private issueNotices(policy: CompiledPolicy, subjectId: SubjectId, before: SubjectState | undefined, after: SubjectState, at: Instant): void {
    this.storeNotices(subjectId, noticesDue(policy, subjectId, before, after, at), at);
  }

  private storeNotices(subjectId: SubjectId, due: readonly DueNotice[], at: Instant): void {
    for (const n of due) this.store.addNotice({ id: randomUUID(), subjectId, measure: n.measure, effectiveFrom: n.effectiveFrom, createdAt: at, body: n.body });
  }

  private recordOf(source: string, recordId: string) {
    const r = this.store.findRecord(source, recordId);
    if (!r || r.retracts !== null) throw new StandingError("not-found", `no record "${recordId}" from source "${source}"`, { source, record: recordId });
    return r;
  }

  /** A subject (or an operator on their behalf) disputes one of the subject's records. */
  openDispute(req: { subjectId: SubjectId; source: string; recordId: string; grounds: string; evidence?: string; openedBy: string }): DisputeRow {
    const grounds = req.grounds.trim();
    if (grounds.length < 10) throw new StandingError("bad-request", "give the grounds of the dispute in a sentence or more (at least 10 characters)", { grounds: req.grounds });
    if (grounds.length > DISPUTE_LIMITS.text) throw new StandingError("bad-request", `the grounds are too long (at most ${DISPUTE_LIMITS.text.toLocaleString("en")} characters)`, { length: grounds.length });
    if (req.evidence !== undefined && req.evidence.length > DISPUTE_LIMITS.evidence) {
      throw new StandingError("bad-request", `the evidence reference is too long (at most ${DISPUTE_LIMITS.evidence} characters)`, { length: req.evidence.length });
    }
    const policy = this.requirePolicy();
    const record = this.recordOf(req.source, req.recordId);
    if (record.subjectId !== req.subjectId) throw new StandingError("forbidden", "a subject may dispute only records about themselves", { record: req.recordId });
    const open = this.store.disputesOf(req.subjectId).find((d) => d.source === req.source && d.recordId === req.recordId && (d.status === "open" || d.status === "confirmed"));
    if (open) throw new StandingError("record-conflict", `record "${req.recordId}" already has dispute ${open.id} (${open.status})`, { dispute: open.id });
    const rt = policy.records.get(record.type);
    const now = this.clock.now();
    const deadline = rt ? addDuration(now, rt.dispute.deadline, policy.timezone) : now;
    const row: DisputeRow = {
      id: randomUUID(), subjectId: req.subjectId, source: req.source, recordId: req.recordId, grounds, evidence: req.evidence ?? null,
      openedBy: req.openedBy, openedAt: now, deadlineAt: deadline, suspend: rt?.dispute.suspend ?? false, status: "open",
      answerNote: null, answeredAt: null, decidedBy: null, reason: null, closedAt: null, counts: null,
    };
    this.withSubject(req.subjectId, () => this.store.putDispute(row));
    return row;
  }

  /**
   * The source answers: confirm (the record stands), withdraw (it stops counting), or
   * correct (a corrected record replaces it, submitted with the answer).
   */
  answerDispute(id: string, source: string, answer: "confirm" | "withdraw" | "correct", note: string, correction?: unknown): { dispute: DisputeRow; correction?: IngestResult } {
    const d = this.store.getDispute(id);
    if (!d) throw new StandingError("not-found", `no dispute ${id}`, { dispute: id });
    if (d.source !== source) throw new StandingError("forbidden", `dispute ${id} is for source "${d.source}" to answer`, { dispute: id });
    if (d.status !== "open") throw new StandingError("record-conflict", `dispute ${id} is ${d.status}, not open`, { dispute: id, status: d.status });
    if (note.length > DISPUTE_LIMITS.text) throw new StandingError("bad-request", `the note is too long (at most ${DISPUTE_LIMITS.text.toLocaleString("en")} characters)`, { dispute: id });
    const now = this.clock.now();
    let result: IngestResult | undefined;
    const status: DisputeStatus = answer === "confirm" ? "confirmed" : answer === "withdraw" ? "withdrawn" : "corrected";
    this.withSubject(d.subjectId, () => {
      if (answer === "correct") {
        if (typeof correction !== "object" || correction === null) throw new StandingError("bad-request", "a correction needs the corrected record", { dispute: id });
        const c = { ...(correction as Record<string, unknown>), source, supersedes: d.recordId };
        result = this.ingestOne(c, this.activePolicy(now), now, new Set());
        if (result.status !== "accepted") throw new StandingError(result.status === "rejected" ? result.error.code : "bad-request", `the correction was not accepted: ${result.status === "rejected" ? result.error.message : result.status}`, { dispute: id });
      }
      this.store.putDispute({ ...d, status, answerNote: note, answeredAt: now, closedAt: answer === "confirm" ? null : now, counts: answer === "confirm" ? null : false });
    });
    const out = this.store.getDispute(id) as DisputeRow;
    return result ? { dispute: out, correction: result } : { dispute: out };
  }

  /** A reviewer decides, with a written reason: upheld (the record stops counting) or dismissed (it counts). */
  decideDispute(id: string, reviewer: string, decision: "upheld" | "dismissed", reason: string): DisputeRow {
    const d = this.store.getDispute(id);
    if (!d) throw new StandingError("not-found", `no dispute ${id}`, { dispute: id });
    if (d.status !== "open" && d.status !== "confirmed") throw new StandingError("record-conflict", `dispute ${id} is already ${d.status}`, { dispute: id, status: d.status });
    if (reason.trim().length < 10) throw new StandingError("bad-request", "a decision needs a written reason (at least 10 characters)", { dispute: id });
    if (reason.trim().length > DISPUTE_LIMITS.text) throw new StandingError("bad-request", `the reason is too long (at most ${DISPUTE_LIMITS.text.toLocaleString("en")} characters)`, { dispute: id });
    const now = this.clock.now();
    const row: DisputeRow = { ...d, status: decision, decidedBy: reviewer, reason: reason.trim(), closedAt: now, counts: decision === "dismissed" };
    this.withSubject(d.subjectId, () => this.store.putDispute(row));
    return row;
  }

  /** Recovery by rule: applies to leave a list early once its minimum period has passed. */
  applyEarlyExit(subjectId: SubjectId, list: string, appliedBy: string): { applied: boolean; list: string; until: string | null } {
    const policy = this.requirePolicy();
    const def = policy.lists.get(list);
    if (!def) throw new StandingError("not-found", `policy ${policy.ref} has no list "${list}"`, { list });
    if (!def.earlyExit) throw new StandingError("bad-request", `list "${list}" has no early exit; its ways off are its leave records and its expiry`, { list });
    const now = this.clock.now();
    const m = this.stateOf(policy, subjectId, now).lists.find((l) => l.list === list);
    if (!m) throw new StandingError("bad-request", `the subject is not on "${list}"`, { list });
    const from = addDuration(Date.parse(m.since as string), def.earlyExit, policy.timezone);
    if (now < from) throw new StandingError("bad-request", `early exit from "${list}" opens on ${new Date(from).toISOString()}`, { list, from: new Date(from).toISOString() });
    this.withSubject(subjectId, () => this.store.addApplication({ id: randomUUID(), subjectId, list, appliedAt: now, appliedBy }));
    const after = this.store.getState(subjectId)?.state.lists.find((l) => l.list === list);
    return { applied: true, list, until: after?.until ?? null };
  }

  /** Runs a change to one subject's inputs and its re-evaluation in one transaction. */
  private withSubject(subjectId: SubjectId, fn: () => void): void {
    const now = this.clock.now();
    const policy = this.activePolicy(now);
    const row = this.store.transaction(() => {
      fn();
      return policy ? this.evaluateAndStore(policy, subjectId, now) : undefined;
    });
    if (row) this.afterCommit(row);
  }

  /** The subject's whole file, with disputes, notices, recovery paths and lookups. */
  statement(subjectId: SubjectId, at: Instant = this.clock.now()): Statement {
    const policy = this.requirePolicy(at);
    const identifiers = this.store.identifiersOf(subjectId);
    return buildStatement(policy, { id: subjectId, identifiers }, this.store.recordsOf(subjectId), at, this.store.decisionsAbout(identifiers, 200), {
      records: this.evaluationInputs(subjectId),
      applications: this.applicationsOf(subjectId),
      disputes: this.store.disputesOf(subjectId),
      notices: this.store.noticesOf(subjectId),
    });
  }

  // ---------------------------------------------------------------- checks

  check(subject: Identifier, context: string, at: Instant = this.clock.now()): CheckResult {
    const policy = this.requirePolicy(at);
    if (!policy.contexts.has(context)) {
      throw new StandingError("unknown-context", `policy ${policy.ref} has no context "${context}" (contexts: ${[...policy.contexts.keys()].join(", ")})`, { context });
    }
    const d = this.index.check(subject.scheme, subject.value, context, at, policy.ref);
    // Time-ordered ids: the decision log's primary key then grows at its end instead of
    // landing each insert on a random page (measured: a third less CPU per logged row).
    return { id: uuidv7(), subject, ...d };
  }

  /** The subject named by an identifier, or not-found. */
  resolveSubject(subject: Identifier): SubjectId {
    const subjectId = this.store.resolve(subject);
    if (subjectId === undefined) throw new StandingError("not-found", `no subject has ${subject.scheme}:${subject.value}`, { identifier: subject });
    return subjectId;
  }

  /** The subject's current state, evaluated fresh from its records. */
  subjectState(subject: Identifier, at: Instant = this.clock.now()): { subjectId: SubjectId; state: SubjectState; policy: CompiledPolicy } {
    const policy = this.requirePolicy(at);
    const subjectId = this.resolveSubject(subject);
    return { subjectId, state: this.stateOf(policy, subjectId, at), policy };
  }

  /** Evaluates one subject from everything stored about it: records, disputes, applications. */
  stateOf(policy: CompiledPolicy, subjectId: SubjectId, at: Instant): SubjectState {
    const s = this.store;
    return evaluateStored(policy, { subjectId, records: s.recordsOf(subjectId), disputes: s.disputesOf(subjectId), applications: s.applicationsOf(subjectId), state: undefined }, at);
  }
}

/** Replaces lone UTF-16 surrogates (from JSON escapes or a cut pair) so the text can be hashed and stored. */
function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** Where a full re-evaluation has got to: the last subject id paged, and whether none are left. */
interface PageCursor {
  after: SubjectId;
  exhausted: boolean;
}

/** A state just written: what the index needs, and the state itself only if a listener asks. */
interface Written {
  readonly subjectId: SubjectId;
  readonly measures: readonly MeasureState[];
  readonly state: () => SubjectState;
}

function pickIds(input: unknown): { source?: string; id?: string } {
  if (typeof input !== "object" || input === null) return {};
  const o = input as Record<string, unknown>;
  return {
    ...(typeof o.source === "string" ? { source: wellFormed(o.source.slice(0, 200)) } : {}),
    ...(typeof o.id === "string" ? { id: wellFormed(o.id.slice(0, 200)) } : {}),
  };
}

