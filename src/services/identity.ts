// Identity: which subject an identifier names, linking a further identifier to a
// subject, registering subjects from a registry, and releasing the records that waited
// in quarantine for an identifier to be linked.
import { StandingError } from "../errors.js";
import { normaliseRecord } from "../ingest/input.js";
import type { Identifier, StoreReads, StoreTx, SubjectId } from "../store/types.js";
import type { Instant } from "../time.js";
import type { Shell } from "./context.js";
import { evaluateAndStore, type Written } from "./evaluation.js";
import type { IngestResult } from "./ingest.js";

export class Identity {
  constructor(private readonly shell: Shell) {}

  /** The subject named by an identifier, or not-found. */
  async resolve(subject: Identifier, reads: StoreReads = this.shell.store): Promise<SubjectId> {
    const subjectId = await reads.resolve(subject);
    if (subjectId === undefined) throw new StandingError("not-found", `no subject has ${subject.scheme}:${subject.value}`, { identifier: subject });
    return subjectId;
  }

  /**
   * Links identifier `extra` to the subject named by `known`, and releases every
   * quarantined record that was waiting for it.
   */
  async link(known: Identifier, extra: Identifier): Promise<{ subject: SubjectId; released: IngestResult[] }> {
    const now = this.shell.clock.now();
    const { subjectId, released, written } = await this.shell.store.transaction(async (tx) => {
      const policy = await this.shell.policies.current(tx, now);
      const subjectId = await this.resolve(known, tx);
      await tx.lockSubjects([subjectId]);
      await tx.link(subjectId, extra, now);
      const released = await releaseQuarantined(tx, subjectId, extra, now);
      // The subject now answers to one more identifier: other processes' indexes must learn it.
      await tx.emit({ kind: "subject", ref: String(subjectId) });
      const written = policy ? [await evaluateAndStore(tx, policy, subjectId, now)] : [];
      return { subjectId, released, written };
    });
    this.shell.applied(written);
    return { subject: subjectId, released };
  }

  /**
   * Adds a subject with its identifiers (a registry import); returns the existing one if
   * any identifier is known. Like link(), it releases records quarantined for a newly
   * linked identifier, and re-evaluates a subject that gained records or identifiers so
   * that the decision index answers for every identifier it has.
   */
  async register(identifiers: readonly Identifier[]): Promise<SubjectId> {
    return (await this.registerAll([identifiers]))[0] as SubjectId;
  }

  /** Several subjects in one transaction (a registry import, the demo's population). */
  async registerAll(subjects: readonly (readonly Identifier[])[]): Promise<SubjectId[]> {
    const now = this.shell.clock.now();
    const { ids, written } = await this.shell.store.transaction(async (tx) => {
      const policy = await this.shell.policies.current(tx, now);
      const ids: SubjectId[] = [];
      const written: Written[] = [];
      for (const identifiers of subjects) {
        let known: SubjectId | undefined;
        for (const i of identifiers) known ??= await tx.resolve(i);
        const id = known ?? (await tx.createSubject(now));
        await tx.lockSubjects([id]);
        let linked = false;
        let released = 0;
        for (const i of identifiers) {
          if ((await tx.resolve(i)) === id) continue;
          await tx.link(id, i, now);
          linked = true;
          released += (await releaseQuarantined(tx, id, i, now)).length;
        }
        if (linked && known !== undefined) await tx.emit({ kind: "subject", ref: String(id) });
        const reevaluate = policy !== undefined && (released > 0 || (linked && (await tx.getState(id)) !== undefined));
        if (reevaluate && policy) written.push(await evaluateAndStore(tx, policy, id, now));
        ids.push(id);
      }
      return { ids, written };
    });
    this.shell.applied(written);
    return ids;
  }
}

/** Appends every quarantined record that was waiting for `id` to the subject it now names (inside a transaction). */
async function releaseQuarantined(tx: StoreTx, subjectId: SubjectId, id: Identifier, now: Instant): Promise<IngestResult[]> {
  const released: IngestResult[] = [];
  for (const q of await tx.quarantinedFor(id)) {
    await tx.releaseQuarantined(q.seq, now);
    const body = JSON.parse(q.body) as Record<string, unknown>;
    const rec = normaliseRecord(body);
    if (rec.retracts !== undefined) {
      const target = await tx.findRecord(rec.source, rec.retracts);
      if (target) {
        await tx.appendRecord({ source: rec.source, recordId: rec.id, subjectId, type: target.type, occurredAt: rec.occurredAt, receivedAt: q.receivedAt, retracts: rec.retracts, body: q.body, hash: q.hash });
        released.push({ status: "accepted", source: rec.source, id: rec.id, subject: subjectId });
      }
      continue;
    }
    // Validated on arrival; it keeps its arrival time.
    await tx.appendRecord({ source: rec.source, recordId: rec.id, subjectId, type: rec.type as string, occurredAt: rec.occurredAt, receivedAt: q.receivedAt, retracts: null, body: q.body, hash: q.hash });
    released.push({ status: "accepted", source: rec.source, id: rec.id, subject: subjectId });
  }
  return released;
}
