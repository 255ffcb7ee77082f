// Full re-evaluation, after a policy change: every subject with records, a page at a
// time. Each page is read and written inside one transaction that first locks its
// subjects, so ingest going on in this or another process can never have a page's
// states written from inputs it changed in between (the store contract, StoreTx.lockSubjects).
// With enough subjects, worker threads evaluate the pages the main thread reads.
import { availableParallelism } from "node:os";
import type { SubjectState } from "../engine/types.js";
import type { CompiledPolicy } from "../policy/types.js";
import { evaluateForStore, type Evaluated, type StateChanges } from "../reevaluation/inputs.js";
import { EvaluationPool } from "../reevaluation/pool.js";
import type { StoreTx, SubjectId } from "../store/types.js";
import type { Instant } from "../time.js";
import type { Shell } from "./context.js";
import { storeNotices, type Written } from "./evaluation.js";

export type Progress = (done: number, total: number) => void;

export interface ReevaluationOptions {
  /** Worker threads (default: one per core, up to 8, none on one core; 0 turns them off). */
  readonly workers?: number;
  /** Re-evaluations of fewer subjects than this run on the calling thread (default 20,000). */
  readonly parallelFrom?: number;
  /** Subjects per page (default 1,000). */
  readonly page?: number;
  /**
   * A cluster's evaluators share full re-evaluations (src/cluster/reevaluation.ts): when
   * set, `run` and `resume` hand the version to this instead of re-evaluating here. It
   * plans the run (`planShared`) and queues its pages; each page is then worked by
   * `sharedPage` in whichever process takes it.
   */
  readonly share?: (ref: string, at: Instant) => Promise<SharedPlan>;
}

/** A page of a shared run: the subjects with records whose ids are in (after, upTo], evaluated at the run's instant. */
export interface SharedPage {
  readonly run: string;
  readonly ref: string;
  readonly at: Instant;
  /** 0-based; the run has `pages` of them. */
  readonly index: number;
  readonly pages: number;
  readonly after: SubjectId;
  readonly upTo: SubjectId;
}

/** A shared run as planned: its id, how many pages it has, and those not done yet. */
export interface SharedPlan {
  readonly run: string;
  readonly ref: string;
  readonly at: Instant;
  readonly pages: number;
  readonly todo: readonly SharedPage[];
}

/** Where a shared run stands: pages done of all, and whether its version is now the active one. */
export interface SharedProgress {
  readonly run: string;
  readonly ref: string;
  readonly at: Instant;
  readonly pages: number;
  readonly done: number;
  readonly finished: boolean;
}

export interface ReevaluationResult {
  readonly reevaluated: number;
  readonly changed: { tier: number; lists: number; measures: number };
  /** Handed to the cluster's evaluators (nothing was re-evaluated here yet): the run and its page count. */
  readonly shared?: { readonly run: string; readonly pages: number };
}

const PAGE = 1000;
/** Below this many subjects, starting worker threads costs more than it saves. */
const PARALLEL_FROM = 20_000;
// A few seconds of work per transaction: other writers wait for it.
const PAGES_PER_TX = 8;

/**
 * One worker per core: the workers evaluate while the main thread reads and writes.
 * None on a single core.
 */
export function defaultWorkerCount(): number {
  const n = availableParallelism();
  return n > 1 ? Math.min(n, 8) : 0;
}

export class Reevaluation {
  constructor(
    private readonly shell: Shell,
    private readonly options: ReevaluationOptions = {},
  ) {}

  /**
   * Re-evaluates every subject with records under the policy in force at `at`, and
   * records it as the active version. Each page's transaction also records how far it
   * got, so a re-evaluation cut off (a killed publish) resumes where it stopped: the next
   * publish of the same file, `tick`, `serve` or `ingest` finishes it (`pending`).
   */
  async all(at: Instant, onProgress?: Progress): Promise<ReevaluationResult> {
    const { store, policies } = this.shell;
    const policy = policies.require(at);
    const total = await store.countSubjectsWithRecords();
    const cursor = parseCursor(await store.getMeta(CURSOR));
    const changed = { tier: 0, lists: 0, measures: 0 };
    const count = (c: StateChanges | null): void => {
      if (!c) return;
      if (c.tier) changed.tier++;
      if (c.lists) changed.lists++;
      if (c.measures) changed.measures++;
    };
    const workers = this.options.workers ?? defaultWorkerCount();
    const catalogue = policies.catalogueTextOf(policy);
    const sent = { ref: policy.ref, text: policy.text, ...(catalogue ? { catalogue } : {}) };
    const pageSize = this.options.page ?? PAGE;
    let after = cursor?.ref === policy.ref ? cursor.after : 0;
    let exhausted = false;
    let superseded = false;
    let done = 0;
    let pool: EvaluationPool | undefined;
    try {
      if (workers > 0 && total >= (this.options.parallelFrom ?? PARALLEL_FROM)) {
        pool = new EvaluationPool(workers);
        // Started before the first transaction: other writers wait on its locks.
        await pool.waitUntilReady();
      }
      onProgress?.(0, total);
      while (!exhausted) {
        const written = await store.transaction(async (tx) => {
          const out: Written[] = [];
          // Another process published a newer version meanwhile: its re-evaluation takes over.
          if ((await policies.current(tx, at))?.ref !== policy.ref) {
            superseded = true;
            exhausted = true;
            return out;
          }
          const pages: Promise<Evaluated[]>[] = [];
          for (let k = 0; k < (pool ? PAGES_PER_TX : 1) && !exhausted; k++) {
            const ids = await tx.subjectsWithRecords(after, pageSize);
            exhausted = ids.length === 0;
            if (exhausted) break;
            after = ids[ids.length - 1] as SubjectId;
            await tx.lockSubjects(ids);
            const reader = tx.pageReader();
            let page: Promise<Evaluated[]>;
            if (pool && reader) {
              // The workers read the locked page themselves: the writing thread only writes.
              page = pool.evaluate(sent, at, { reader, ids });
            } else {
              const inputs = await tx.evaluationInputs(ids);
              page = pool ? pool.evaluate(sent, at, { inputs }) : Promise.resolve(inputs.map((p) => evaluateForStore(policy, p, at)));
            }
            // Awaited in order below; when an earlier page fails, the later ones are
            // rejected by the pool's closing and must not surface as unhandled.
            page.catch(() => undefined);
            pages.push(page);
          }
          for (const page of pages) for (const e of await page) out.push(await this.write(tx, policy, at, e, count));
          const progress: Cursor = { ref: policy.ref, after, at: this.shell.clock.now(), heartbeat: Date.now() };
          await tx.setMeta(CURSOR, JSON.stringify(progress));
          return out;
        });
        this.shell.applied(written);
        done += written.length;
        if (written.length > 0) onProgress?.(done, total);
      }
    } finally {
      await pool?.close();
    }
    if (superseded) return { reevaluated: done, changed };
    await store.transaction((tx) => finish(tx, policy.ref));
    return { reevaluated: done, changed };
  }

  /** A full re-evaluation of the version in force at `at`: here (`all`), or handed to the cluster's evaluators when they share it. */
  async run(at: Instant, onProgress?: Progress): Promise<ReevaluationResult> {
    const share = this.options.share;
    if (!share) return this.all(at, onProgress);
    // With no subject to evaluate there is nothing to share: the version is made active
    // here and now. Queued instead, a new database's first policy would leave a run
    // waiting for evaluators that may not be running yet (cluster up loads its demo
    // before it starts them), and while it waits the scheduler counts it as being worked.
    if ((await this.shell.store.subjectsWithRecords(0, 1)).length === 0) return this.all(at, onProgress);
    const plan = await share(this.shell.policies.require(at).ref, at);
    return { reevaluated: 0, changed: { tier: 0, lists: 0, measures: 0 }, shared: { run: plan.run, pages: plan.pages } };
  }

  /**
   * Plans a shared run of `ref` at `at`: pages of subject ids, the last one open-ended
   * (subjects registered after the version was published were evaluated under it by
   * ingest, and re-evaluating them again is harmless). The plan is recorded in meta,
   * where every page's transaction counts itself done. An unfinished run of the same
   * version is taken up again (its instant, pages and the pages still to do), so that
   * queueing it twice is harmless. Null when `ref` is not the version in force at `at`.
   */
  async planShared(ref: string, at: Instant, newRun: () => string): Promise<SharedPlan | null> {
    const { store, policies } = this.shell;
    const existing = parseRun(await store.getMeta(RUN));
    if (existing && existing.ref === ref && !existing.finished) return planOf(existing);
    const pageSize = this.options.page ?? PAGE;
    const bounds: number[] = [];
    for (let after = 0; ; ) {
      const ids = await store.subjectsWithRecords(after, pageSize);
      if (ids.length === 0) break;
      after = ids[ids.length - 1] as SubjectId;
      bounds.push(after);
    }
    // The last page takes every id above the one before it.
    if (bounds.length === 0) bounds.push(Number.MAX_SAFE_INTEGER);
    else bounds[bounds.length - 1] = Number.MAX_SAFE_INTEGER;
    return store.transaction(async (tx) => {
      if ((await policies.current(tx, at))?.ref !== ref) return null;
      const again = parseRun(await tx.getMeta(RUN));
      // Another process planned it meanwhile.
      if (again && again.ref === ref && !again.finished) return planOf(again);
      const run: RunMeta = { run: newRun(), ref, at, bounds, done: [], finished: false };
      await tx.setMeta(RUN, JSON.stringify(run));
      return planOf(run);
    });
  }

  /**
   * Re-evaluates one page of a shared run in one transaction that also counts the page
   * done; the transaction that counts the last page records the version as the active
   * one, as `all` does at its end. Working a page twice writes the same states (the
   * inputs and the instant are the same) and counts it once. A page of a run that a
   * newer run or version replaced is skipped ("superseded"), as is one of a finished run.
   */
  async sharedPage(page: SharedPage): Promise<{ outcome: "done" | "finished" | "superseded"; progress: SharedProgress | null }> {
    const { store, policies } = this.shell;
    const count = (): void => undefined;
    let outcome: "done" | "finished" | "superseded" = "done";
    let progress: SharedProgress | null = null;
    const written = await store.transaction(async (tx) => {
      const out: Written[] = [];
      const run = parseRun(await tx.getMeta(RUN));
      const policy = await policies.current(tx, page.at);
      if (!run || run.run !== page.run || run.finished || !policy || policy.ref !== page.ref) {
        outcome = "superseded";
        progress = run ? progressOf(run) : null;
        return out;
      }
      const pageSize = this.options.page ?? PAGE;
      for (let after = page.after; after < page.upTo; ) {
        const ids = (await tx.subjectsWithRecords(after, pageSize)).filter((id) => id <= page.upTo);
        if (ids.length === 0) break;
        after = ids[ids.length - 1] as SubjectId;
        await tx.lockSubjects(ids);
        for (const p of await tx.evaluationInputs(ids)) out.push(await this.write(tx, policy, page.at, evaluateForStore(policy, p, page.at), count));
      }
      const done = run.done.includes(page.index) ? run.done : [...run.done, page.index];
      const next: RunMeta = { ...run, done, finished: done.length >= run.bounds.length };
      await tx.setMeta(RUN, JSON.stringify(next));
      if (next.finished) {
        await finish(tx, policy.ref);
        outcome = "finished";
      }
      progress = progressOf(next);
      return out;
    });
    this.shell.applied(written);
    return { outcome, progress };
  }

  /** The shared run recorded last, and how far it has got (null: none was ever planned). */
  async sharedProgress(): Promise<SharedProgress | null> {
    const run = parseRun(await this.shell.store.getMeta(RUN));
    return run ? progressOf(run) : null;
  }

  /**
   * Whether the version in force at `at` has not been applied to every subject yet (a
   * publish or activation cut off, or one under way in another process), and whether
   * someone is working on it now (a page committed within the last BUSY_MS).
   */
  async pending(at: Instant): Promise<{ ref: string; busy: boolean } | null> {
    const policy = this.shell.policies.active(at);
    if (!policy) return null;
    if ((await this.shell.store.getMeta("active_policy")) === policy.ref) return null;
    const cursor = parseCursor(await this.shell.store.getMeta(CURSOR));
    // A shared run's pages wait in the cluster's work queue: its evaluators finish it, however long it takes.
    const run = parseRun(await this.shell.store.getMeta(RUN));
    const shared = run !== undefined && run.ref === policy.ref && !run.finished;
    return { ref: policy.ref, busy: shared || (cursor?.ref === policy.ref && Date.now() - cursor.heartbeat < BUSY_MS) };
  }

  /**
   * Finishes a re-evaluation that was left unfinished. An operator's command (publishing
   * the same file again, `tick`, `ingest`) takes it over even if a page was written in the
   * last seconds, since a killed process looks busy for as long; at worst two processes
   * then share the work, which the subject locks keep correct.
   */
  async resume(at: Instant, onProgress?: Progress): Promise<ReevaluationResult | null> {
    await this.shell.policies.reload(this.shell.store);
    const p = await this.pending(at);
    if (!p) return null;
    return this.run(at, onProgress);
  }

  private async write(tx: StoreTx, policy: CompiledPolicy, at: Instant, e: Evaluated, count: (c: StateChanges | null) => void): Promise<Written> {
    await tx.putStateText({ subjectId: e.subjectId, policyRef: policy.ref, evaluatedAt: at, nextChangeAt: e.nextChangeAt, hasMeasures: e.measures.length > 0, json: e.json });
    await storeNotices(tx, e.subjectId, e.notices, at);
    count(e.changed);
    if (e.measuresMoved) await tx.emit({ kind: "subject", ref: String(e.subjectId) });
    const identifiers = e.measures.length > 0 ? await tx.identifiersOf(e.subjectId) : [];
    return { subjectId: e.subjectId, identifiers, measures: e.measures, changed: e.changed, state: () => JSON.parse(e.json) as SubjectState };
  }
}

/** Where a full re-evaluation has got to, kept in meta with each page. */
interface Cursor {
  readonly ref: string;
  /** The last subject id written. */
  readonly after: SubjectId;
  readonly at: Instant;
  /** Wall-clock time of the last page (not the injected clock): whether a process is still at it. */
  readonly heartbeat: number;
}

const CURSOR = "reevaluation";
/** A page commits every few seconds; this long without one, the process doing it is taken to be gone. */
export const BUSY_MS = 30_000;

function parseCursor(text: string | undefined): Cursor | undefined {
  if (text === undefined) return undefined;
  try {
    const c = JSON.parse(text) as Partial<Cursor>;
    return typeof c.ref === "string" && typeof c.after === "number" && typeof c.heartbeat === "number" ? (c as Cursor) : undefined;
  } catch {
    return undefined;
  }
}

/** The end of a full re-evaluation, in the transaction of its last page: the version is now the active one. */
async function finish(tx: StoreTx, ref: string): Promise<void> {
  await tx.setMeta("active_policy", ref);
  await tx.setMeta(CURSOR, "{}"); // finished: a later run of the same version starts from the first subject
  await tx.emit({ kind: "policy", ref });
}

/** A shared run as meta keeps it: page i holds the ids in (bounds[i-1] ?? 0, bounds[i]]. */
interface RunMeta {
  readonly run: string;
  readonly ref: string;
  readonly at: Instant;
  readonly bounds: readonly number[];
  /** Indexes of the pages whose transaction committed. */
  readonly done: readonly number[];
  readonly finished: boolean;
}

const RUN = "reevaluation.shared";

function parseRun(text: string | undefined): RunMeta | undefined {
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as Partial<RunMeta>;
    return typeof r.run === "string" && typeof r.ref === "string" && typeof r.at === "number" && Array.isArray(r.bounds) && Array.isArray(r.done) && typeof r.finished === "boolean" ? (r as RunMeta) : undefined;
  } catch {
    return undefined;
  }
}

function progressOf(r: RunMeta): SharedProgress {
  return { run: r.run, ref: r.ref, at: r.at, pages: r.bounds.length, done: r.done.length, finished: r.finished };
}

function planOf(r: RunMeta): SharedPlan {
  const done = new Set(r.done);
  const todo: SharedPage[] = [];
  r.bounds.forEach((upTo, index) => {
    if (!done.has(index)) todo.push({ run: r.run, ref: r.ref, at: r.at, index, pages: r.bounds.length, after: index === 0 ? 0 : (r.bounds[index - 1] as number), upTo });
  });
  return { run: r.run, ref: r.ref, at: r.at, pages: r.bounds.length, todo };
}
