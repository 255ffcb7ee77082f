// Ingest: a batch of records in one durable transaction. Each record is normalised,
// checked against what is stored (duplicates, conflicts), admitted by the policy in
// force (ingest/admit.ts, pure), resolved to a subject or kept in quarantine, and
// appended; then every touched subject is re-evaluated in the same transaction.
import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical.js";
import { StandingError, isStandingError, type ErrorCode } from "../errors.js";
import { admitAny, admitFact } from "../ingest/admit.js";
import { normaliseRecord, type NormalisedRecord } from "../ingest/input.js";
import type { CompiledPolicy } from "../policy/types.js";
import type { Identifier, LinkedIdentifier, NewQuarantine, NewRecord, OutcomeRow, RecordKey, StoreTx, SubjectId } from "../store/types.js";
import type { Instant } from "../time.js";
import type { Shell } from "./context.js";
import { evaluateAndStore, evaluateAndStoreAll, type Written } from "./evaluation.js";

/** One line of a batch as the cluster's record stream delivers it. */
export interface DeliveredLine {
  readonly receipt: string;
  /** 1-based line number in the batch. */
  readonly line: number;
  readonly input: unknown;
}

/** A delivered line's outcome; `applied` is false when it had one already (a redelivery). */
export interface DeliveredResult {
  readonly receipt: string;
  readonly line: number;
  readonly result: IngestResult;
  readonly applied: boolean;
}

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

export class Ingest {
  constructor(
    private readonly shell: Shell,
    /** How far in the future an occurredAt may be (clock skew), in ms. */
    private readonly futureToleranceMs = 5 * 60_000,
  ) {}

  /**
   * Ingests a batch in one durable transaction and returns one result per input, in
   * order. When this resolves, every accepted or quarantined record is on disk.
   */
  async ingest(inputs: readonly unknown[]): Promise<IngestResult[]> {
    const now = this.shell.clock.now();
    const { results, written } = await this.shell.store.transaction((tx) => this.applyAll(tx, inputs, now));
    this.shell.applied(written);
    return results;
  }

  /**
   * Lines the cluster's record stream delivered, applied in one transaction as `ingest`
   * applies a batch, each line's outcome stored with its effects. A line that has an
   * outcome already (a redelivery after a crash between commit and acknowledgement)
   * keeps it and is not applied again. `guard` runs first in the transaction (the
   * partition fence) and throws to refuse the whole delivery.
   */
  async ingestDelivered(lines: readonly DeliveredLine[], guard?: (tx: StoreTx) => Promise<void>): Promise<DeliveredResult[]> {
    const now = this.shell.clock.now();
    const key = (receipt: string, line: number): string => `${receipt}\n${line}`;
    const { out, written } = await this.shell.store.transaction(async (tx) => {
      await guard?.(tx);
      const byReceipt = new Map<string, number[]>();
      for (const l of lines) byReceipt.set(l.receipt, [...(byReceipt.get(l.receipt) ?? []), l.line]);
      const known = new Map<string, IngestResult>();
      for (const [receipt, nums] of byReceipt) for (const o of await tx.outcomesFor(receipt, nums)) known.set(key(o.receipt, o.line), JSON.parse(o.detail) as IngestResult);
      const fresh: DeliveredLine[] = [];
      const seen = new Set<string>();
      for (const l of lines) {
        const k = key(l.receipt, l.line);
        if (known.has(k) || seen.has(k)) continue;
        seen.add(k);
        fresh.push(l);
      }
      const { results, written } = await this.applyAll(tx, fresh.map((l) => l.input), now);
      const rows: OutcomeRow[] = fresh.map((l, i) => {
        const r = results[i] as IngestResult;
        return { receipt: l.receipt, line: l.line, source: r.source ?? null, recordId: r.id ?? null, status: r.status, detail: JSON.stringify(r), at: now };
      });
      await tx.putOutcomes(rows);
      for (const [i, l] of fresh.entries()) known.set(key(l.receipt, l.line), results[i] as IngestResult);
      const out = lines.map((l) => ({ receipt: l.receipt, line: l.line, result: known.get(key(l.receipt, l.line)) as IngestResult, applied: seen.has(key(l.receipt, l.line)) }));
      return { out, written };
    });
    this.shell.applied(written);
    return out;
  }

  /**
   * The checks a record passes before anything stored is read (its envelope): what a
   * cluster's API node does before it publishes a line. A refusal comes with what the
   * journal keeps of it.
   */
  precheck(input: unknown): { readonly record: NormalisedRecord } | { readonly rejected: IngestResult; readonly refusal: Refusal } {
    try {
      return { record: normaliseRecord(input) };
    } catch (e) {
      if (!isStandingError(e)) throw e;
      return this.refusalOf(input, e);
    }
  }

  /** A refusal decided outside a transaction (an envelope, a key submitting for another source), as an answer and a journal summary line. */
  refusalOf(input: unknown, e: StandingError): { readonly rejected: IngestResult; readonly refusal: Refusal } {
    return { rejected: { status: "rejected", ...pickIds(input), error: e.toJSON() }, refusal: { ...pickIds(input), inputHash: inputDigest(input), code: e.code } };
  }

  /** Journals lines refused before they were published (one entry for all) and stores their outcomes, in one transaction. */
  async refuseLines(receipt: string, lines: readonly { readonly line: number; readonly rejected: IngestResult; readonly refusal: Refusal }[]): Promise<void> {
    if (lines.length === 0) return;
    const at = this.shell.clock.now();
    await this.shell.store.transaction(async (tx) => {
      await tx.journalEvent("records.rejected", { receipt, ...refusalSummary(lines.map((l) => l.refusal)) });
      await tx.putOutcomes(lines.map((l) => ({ receipt, line: l.line, source: l.rejected.source ?? null, recordId: l.rejected.id ?? null, status: "rejected", detail: JSON.stringify(l.rejected), at })));
    });
  }

  /**
   * A batch inside the caller's transaction: one result per input, in order, and the
   * states written. Set-based (see ARCHITECTURE.md, "Batched ingest"): what the batch
   * needs is read in a few reads, the records are decided in order against that cache
   * (as `applyOneByOne` decides them against the store), and what they write is written
   * a table at a time.
   */
  private async applyAll(tx: StoreTx, inputs: readonly unknown[], now: Instant): Promise<{ results: IngestResult[]; written: Written[] }> {
    const policy = await this.shell.policies.current(tx, now);
    const batch = await BatchView.load(tx, inputs);
    const refused: Refusal[] = [];
    const results = batch.prepared.map((p, i) => this.decide(batch, inputs[i], p, policy, now, refused));
    const subjects = await batch.write(tx, now);
    const real = (id: SubjectId): SubjectId => (id < 0 ? (subjects[-id - 1] as SubjectId) : id);
    const out = results.map((r) => (r.status === "accepted" && r.subject < 0 ? { ...r, subject: real(r.subject) } : r));
    if (refused.length > 0) await tx.journalEvent("records.rejected", refusalSummary(refused));
    const written = policy ? await evaluateAndStoreAll(tx, policy, [...new Set([...batch.touched].map(real))].sort((a, b) => a - b), now) : [];
    return { results: out, written };
  }

  /**
   * The reference the batched path is proven equal to (ingest.property.test.ts): the
   * batch applied one record at a time, each reading and writing the store, then each
   * touched subject evaluated on its own.
   */
  async applyOneByOne(tx: StoreTx, inputs: readonly unknown[], now: Instant): Promise<{ results: IngestResult[]; written: Written[] }> {
    const policy = await this.shell.policies.current(tx, now);
    const touched = new Set<SubjectId>();
    const results: IngestResult[] = [];
    const refused: Refusal[] = [];
    for (const input of inputs) results.push(await this.one(tx, input, policy, now, touched, refused));
    if (refused.length > 0) await tx.journalEvent("records.rejected", refusalSummary(refused));
    const written: Written[] = [];
    if (policy) {
      const ids = [...touched].sort((a, b) => a - b);
      await tx.lockSubjects(ids);
      for (const id of ids) written.push(await evaluateAndStore(tx, policy, id, now));
    }
    return { results, written };
  }

  /** `one`, against a batch's view instead of the store: the same checks in the same order, the same answers. */
  private decide(b: BatchView, input: unknown, prepared: Prepared, policy: CompiledPolicy | undefined, now: Instant, refused: Refusal[]): IngestResult {
    let rec: NormalisedRecord | undefined;
    try {
      if ("error" in prepared) throw prepared.error;
      rec = prepared.record;
      const known = b.records.get(recordKey(rec.source, rec.id)) ?? b.quarantined.get(recordKey(rec.source, rec.id));
      if (known) {
        if (known.hash === rec.hash) return { status: "duplicate", source: rec.source, id: rec.id };
        throw new StandingError("record-conflict", `source "${rec.source}" already submitted a different record with id "${rec.id}"; records are never edited: retract it and submit a new id`, {
          source: rec.source,
          id: rec.id,
        });
      }
      const p = admitAny(rec, policy, now, this.futureToleranceMs);
      if (rec.retracts !== undefined) return b.retraction(rec, now);
      return b.fact(rec, p, now);
    } catch (e) {
      if (!isStandingError(e)) throw e;
      refused.push({ ...(rec ? { source: rec.source, id: rec.id, inputHash: rec.hash } : { ...pickIds(input), inputHash: inputDigest(input) }), code: e.code });
      return {
        status: "rejected",
        ...(rec ? { source: rec.source, id: rec.id } : pickIds(input)),
        error: e.toJSON(),
      };
    }
  }

  /**
   * One record inside the caller's transaction; a refusal is an answer, never an
   * exception. It is journaled: into `refused`, which the batch journals as one entry,
   * or, without it, as an entry of its own.
   */
  async one(tx: StoreTx, input: unknown, policy: CompiledPolicy | undefined, now: Instant, touched: Set<SubjectId>, refused?: Refusal[]): Promise<IngestResult> {
    let rec: NormalisedRecord | undefined;
    try {
      rec = normaliseRecord(input);
      const known = (await tx.findRecord(rec.source, rec.id)) ?? (await tx.findQuarantined(rec.source, rec.id));
      if (known) {
        if (known.hash === rec.hash) return { status: "duplicate", source: rec.source, id: rec.id };
        throw new StandingError("record-conflict", `source "${rec.source}" already submitted a different record with id "${rec.id}"; records are never edited: retract it and submit a new id`, {
          source: rec.source,
          id: rec.id,
        });
      }
      const p = admitAny(rec, policy, now, this.futureToleranceMs);
      if (rec.retracts !== undefined) return await this.retraction(tx, rec, now, touched);
      return await this.fact(tx, rec, p, now, touched);
    } catch (e) {
      if (!isStandingError(e)) throw e;
      // A refusal stores no record, but it is a change an auditor must be able to see.
      const refusal: Refusal = { ...(rec ? { source: rec.source, id: rec.id, inputHash: rec.hash } : { ...pickIds(input), inputHash: inputDigest(input) }), code: e.code };
      if (refused) refused.push(refusal);
      else await tx.journalEvent("record.rejected", refusal);
      return {
        status: "rejected",
        ...(rec ? { source: rec.source, id: rec.id } : pickIds(input)),
        error: e.toJSON(),
      };
    }
  }

  private async fact(tx: StoreTx, rec: NormalisedRecord, policy: CompiledPolicy, now: Instant, touched: Set<SubjectId>): Promise<IngestResult> {
    const { type, registers } = admitFact(rec, policy);
    const subject = rec.subject as Identifier;
    let subjectId = await tx.resolve(subject);
    if (rec.supersedes !== undefined) {
      // A correction replaces the source's own earlier record about the same subject.
      const target = await tx.findRecord(rec.source, rec.supersedes);
      if (!target || target.retracts !== null || target.subjectId !== subjectId) {
        throw new StandingError("unknown-retraction-target", `source "${rec.source}" has no record "${rec.supersedes}" about ${subject.scheme}:${subject.value} to correct (a source may correct only its own records)`, { source: rec.source, supersedes: rec.supersedes });
      }
    }
    if (subjectId === undefined) {
      if (registers === false) {
        const reason = `${subject.scheme}:${subject.value} is not linked to a subject yet; the record is kept and counts once the identifier is linked`;
        await tx.quarantine({ source: rec.source, recordId: rec.id, scheme: subject.scheme, value: subject.value, body: rec.body, hash: rec.hash, receivedAt: now, reason });
        return { status: "quarantined", source: rec.source, id: rec.id, reason };
      }
      subjectId = await tx.createSubject(now);
      await tx.link(subjectId, subject, now);
    }
    await tx.appendRecord({ source: rec.source, recordId: rec.id, subjectId, type, occurredAt: rec.occurredAt, receivedAt: now, retracts: null, body: rec.body, hash: rec.hash });
    touched.add(subjectId);
    return { status: "accepted", source: rec.source, id: rec.id, subject: subjectId };
  }

  private async retraction(tx: StoreTx, rec: NormalisedRecord, now: Instant, touched: Set<SubjectId>): Promise<IngestResult> {
    const targetId = rec.retracts as string;
    const target = await tx.findRecord(rec.source, targetId);
    if (!target) {
      const q = await tx.findQuarantined(rec.source, targetId);
      if (q && q.releasedAt === null) {
        // Kept beside its target so both are released together when the identifier is linked.
        const reason = `retracts a record that is waiting for ${q.scheme}:${q.value} to be linked`;
        await tx.quarantine({ source: rec.source, recordId: rec.id, scheme: q.scheme, value: q.value, body: rec.body, hash: rec.hash, receivedAt: now, reason });
        return { status: "quarantined", source: rec.source, id: rec.id, reason };
      }
      throw new StandingError("unknown-retraction-target", `source "${rec.source}" has no record "${targetId}" to retract (a source may retract only its own records)`, { source: rec.source, retracts: targetId });
    }
    if (target.retracts !== null) {
      throw new StandingError("unknown-retraction-target", `"${targetId}" is itself a retraction; submit the original record again under a new id instead`, { retracts: targetId });
    }
    await tx.appendRecord({ source: rec.source, recordId: rec.id, subjectId: target.subjectId, type: target.type, occurredAt: rec.occurredAt, receivedAt: now, retracts: targetId, body: rec.body, hash: rec.hash });
    touched.add(target.subjectId);
    return { status: "accepted", source: rec.source, id: rec.id, subject: target.subjectId };
  }
}

/** A batch's input normalised, or why it did not normalise (a refusal answered at its turn). */
type Prepared = { readonly record: NormalisedRecord } | { readonly error: StandingError };

const recordKey = (source: string, id: string): string => `${source}\u0000${id}`;
const identifierKey = (scheme: string, value: string): string => `${scheme}\u0000${value}`;

/** What a stored or just-decided record tells a later record of the batch. */
interface KnownRecord {
  readonly hash: string;
  readonly retracts: string | null;
  readonly subjectId: SubjectId;
  readonly type: string;
}

interface KnownQuarantine {
  readonly hash: string;
  readonly scheme: string;
  readonly value: string;
  readonly releasedAt: Instant | null;
}

/**
 * A batch's view of the store: every record, quarantine entry and identifier its records
 * can ask about, read in one set-based read each, and what the batch decided so far laid
 * over them, so that a record sees its predecessors in the batch exactly as it would see
 * them stored. Subjects the batch creates have placeholder ids (-1, -2, … in order of
 * creation) until `write` creates them, in that order.
 */
class BatchView {
  readonly touched = new Set<SubjectId>();
  private readonly newRecords: NewRecord[] = [];
  private readonly newQuarantine: NewQuarantine[] = [];
  private readonly newLinks: LinkedIdentifier[] = [];
  private created = 0;

  private constructor(
    readonly prepared: readonly Prepared[],
    readonly records: Map<string, KnownRecord>,
    readonly quarantined: Map<string, KnownQuarantine>,
    private readonly identifiers: Map<string, SubjectId>,
  ) {}

  static async load(tx: StoreTx, inputs: readonly unknown[]): Promise<BatchView> {
    const prepared: Prepared[] = inputs.map((input) => {
      try {
        return { record: normaliseRecord(input) };
      } catch (e) {
        if (!isStandingError(e)) throw e;
        return { error: e };
      }
    });
    const keys: RecordKey[] = [];
    const subjects: Identifier[] = [];
    for (const p of prepared) {
      if (!("record" in p)) continue;
      const r = p.record;
      keys.push({ source: r.source, recordId: r.id });
      if (r.retracts !== undefined) keys.push({ source: r.source, recordId: r.retracts });
      if (r.supersedes !== undefined) keys.push({ source: r.source, recordId: r.supersedes });
      if (r.subject !== undefined) subjects.push(r.subject);
    }
    const records = new Map<string, KnownRecord>();
    const quarantined = new Map<string, KnownQuarantine>();
    const identifiers = new Map<string, SubjectId>();
    if (keys.length > 0) {
      for (const r of await tx.findRecords(keys)) records.set(recordKey(r.source, r.recordId), r);
      for (const q of await tx.findQuarantinedAll(keys)) quarantined.set(recordKey(q.source, q.recordId), q);
    }
    if (subjects.length > 0) for (const l of await tx.resolveAll(subjects)) identifiers.set(identifierKey(l.scheme, l.value), l.subjectId);
    return new BatchView(prepared, records, quarantined, identifiers);
  }

  /** Ingest.fact against the view. */
  fact(rec: NormalisedRecord, policy: CompiledPolicy, now: Instant): IngestResult {
    const { type, registers } = admitFact(rec, policy);
    const subject = rec.subject as Identifier;
    let subjectId = this.identifiers.get(identifierKey(subject.scheme, subject.value));
    if (rec.supersedes !== undefined) {
      const target = this.records.get(recordKey(rec.source, rec.supersedes));
      if (!target || target.retracts !== null || target.subjectId !== subjectId) {
        throw new StandingError("unknown-retraction-target", `source "${rec.source}" has no record "${rec.supersedes}" about ${subject.scheme}:${subject.value} to correct (a source may correct only its own records)`, { source: rec.source, supersedes: rec.supersedes });
      }
    }
    if (subjectId === undefined) {
      if (registers === false) {
        const reason = `${subject.scheme}:${subject.value} is not linked to a subject yet; the record is kept and counts once the identifier is linked`;
        this.keep({ source: rec.source, recordId: rec.id, scheme: subject.scheme, value: subject.value, body: rec.body, hash: rec.hash, receivedAt: now, reason });
        return { status: "quarantined", source: rec.source, id: rec.id, reason };
      }
      subjectId = -++this.created;
      this.identifiers.set(identifierKey(subject.scheme, subject.value), subjectId);
      this.newLinks.push({ scheme: subject.scheme, value: subject.value, subjectId });
    }
    this.append({ source: rec.source, recordId: rec.id, subjectId, type, occurredAt: rec.occurredAt, receivedAt: now, retracts: null, body: rec.body, hash: rec.hash });
    return { status: "accepted", source: rec.source, id: rec.id, subject: subjectId };
  }

  /** Ingest.retraction against the view. */
  retraction(rec: NormalisedRecord, now: Instant): IngestResult {
    const targetId = rec.retracts as string;
    const target = this.records.get(recordKey(rec.source, targetId));
    if (!target) {
      const q = this.quarantined.get(recordKey(rec.source, targetId));
      if (q && q.releasedAt === null) {
        const reason = `retracts a record that is waiting for ${q.scheme}:${q.value} to be linked`;
        this.keep({ source: rec.source, recordId: rec.id, scheme: q.scheme, value: q.value, body: rec.body, hash: rec.hash, receivedAt: now, reason });
        return { status: "quarantined", source: rec.source, id: rec.id, reason };
      }
      throw new StandingError("unknown-retraction-target", `source "${rec.source}" has no record "${targetId}" to retract (a source may retract only its own records)`, { source: rec.source, retracts: targetId });
    }
    if (target.retracts !== null) {
      throw new StandingError("unknown-retraction-target", `"${targetId}" is itself a retraction; submit the original record again under a new id instead`, { retracts: targetId });
    }
    this.append({ source: rec.source, recordId: rec.id, subjectId: target.subjectId, type: target.type, occurredAt: rec.occurredAt, receivedAt: now, retracts: targetId, body: rec.body, hash: rec.hash });
    return { status: "accepted", source: rec.source, id: rec.id, subject: target.subjectId };
  }

  private append(r: NewRecord): void {
    this.newRecords.push(r);
    this.records.set(recordKey(r.source, r.recordId), r);
    this.touched.add(r.subjectId);
  }

  private keep(q: NewQuarantine): void {
    this.newQuarantine.push(q);
    this.quarantined.set(recordKey(q.source, q.recordId), { ...q, releasedAt: null });
  }

  /** Writes what the batch decided, a table at a time; returns the ids of the subjects it created, in order of creation. */
  async write(tx: StoreTx, now: Instant): Promise<SubjectId[]> {
    const ids = await tx.createSubjects(this.created, now);
    const real = (id: SubjectId): SubjectId => (id < 0 ? (ids[-id - 1] as SubjectId) : id);
    await tx.linkAll(
      this.newLinks.map((l) => ({ ...l, subjectId: real(l.subjectId) })),
      now,
    );
    if (this.newRecords.length > 0) await tx.appendRecords(this.newRecords.map((r) => (r.subjectId < 0 ? { ...r, subjectId: real(r.subjectId) } : r)));
    if (this.newQuarantine.length > 0) await tx.quarantineAll(this.newQuarantine);
    return ids;
  }
}

/** Replaces lone UTF-16 surrogates (from JSON escapes or a cut pair) so the text can be hashed and stored. */
function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

function pickIds(input: unknown): { source?: string; id?: string } {
  if (typeof input !== "object" || input === null) return {};
  const o = input as Record<string, unknown>;
  return {
    ...(typeof o.source === "string" ? { source: wellFormed(o.source.slice(0, 200)) } : {}),
    ...(typeof o.id === "string" ? { id: wellFormed(o.id.slice(0, 200)) } : {}),
  };
}

/** What the journal keeps of one refused record: who sent it, which record, a hash of what was sent, and why. */
export interface Refusal {
  readonly source?: string;
  readonly id?: string;
  readonly inputHash: string;
  readonly code: ErrorCode;
}

/** How many refusals a batch's journal entry lists in full; beyond that, their digest stands for them. */
const LISTED = 100;

/**
 * One journal entry for every refusal of a batch: the count by reason, the first
 * refusals in full, and a SHA-256 over all of them in order, so that a million bad
 * lines cost one row, and whoever holds the batch (the sender has every line's answer)
 * can show which refusals the entry covers.
 */
export function refusalSummary(refused: readonly Refusal[]): { count: number; byCode: Record<string, number>; sources: string[]; digest: string; listed: readonly Refusal[] } {
  const byCode: Record<string, number> = {};
  const sources = new Set<string>();
  const digest = createHash("sha256");
  for (const r of refused) {
    byCode[r.code] = (byCode[r.code] ?? 0) + 1;
    if (r.source !== undefined) sources.add(r.source);
    digest.update(canonicalJson(r)).update("\n");
  }
  return { count: refused.length, byCode, sources: [...sources].sort().slice(0, LISTED), digest: digest.digest("hex"), listed: refused.slice(0, LISTED) };
}

/** A hash of input that did not normalise (not an object, a broken envelope): what was sent, without keeping it. */
function inputDigest(input: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(input) ?? typeof input;
  } catch {
    // Nested too deeply to serialise (JSON.stringify and String both recurse): named by its type.
    text = `unserialisable ${typeof input}`;
  }
  return createHash("sha256").update(wellFormed(text)).digest("hex");
}
