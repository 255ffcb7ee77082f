// Time moving forward: activating a version whose effective date has come, closing
// disputes left unanswered past their deadline, and re-evaluating every subject whose
// state changes by itself. Run by the scheduler (src/scheduler/), or by `standing tick`.
import type { Shell } from "./context.js";
import { evaluateAndStore, type Written } from "./evaluation.js";
import { BUSY_MS, type Reevaluation } from "./reevaluation.js";
import type { Instant } from "../time.js";

const BATCH = 1000;

export class Scheduling {
  constructor(
    private readonly shell: Shell,
    private readonly reevaluation: Reevaluation,
  ) {}

  /**
   * `takeOver`: finish a re-evaluation even if another process seems to be at it (an
   * operator's `tick`, a server starting after a crash); the periodic scheduler leaves
   * a busy one alone.
   */
  async advance(at: Instant = this.shell.clock.now(), takeOver = false): Promise<{ policyActivated: string | null; advanced: number }> {
    const { store, policies } = this.shell;
    let policyActivated: string | null = null;
    // Cheap, and the feed may not have told this process yet.
    await policies.reload(store);
    const policy = policies.active(at);
    if (!policy) return { policyActivated, advanced: 0 };
    // A version whose date has come, or a re-evaluation cut off part way, unless another
    // process is at it now (it records its progress with every page).
    const pending = await this.reevaluation.pending(at);
    if (pending && (takeOver || !pending.busy)) {
      // In a cluster, the evaluators share it (the pages are queued, and this returns).
      await this.reevaluation.run(at);
      policyActivated = policy.ref;
    }
    // Disputes left unanswered past their deadline close as expired: the record stops counting.
    const expired = await store.expiredDisputes(at);
    if (expired.length > 0) {
      // Their subjects are due at the deadline, so the loop below re-evaluates them.
      await store.transaction(async (tx) => {
        await tx.lockSubjects([...new Set(expired.map((d) => d.subjectId))]);
        for (const d of expired) {
          const current = await tx.getDispute(d.id);
          if (current?.status !== "open") continue;
          await tx.putDispute({ ...current, status: "expired", closedAt: current.deadlineAt, counts: false });
          await tx.addDisputeAction({ disputeId: d.id, action: "expired", actor: "the deadline (the source did not answer)", at: current.deadlineAt, note: null });
        }
      });
    }
    let advanced = 0;
    for (;;) {
      const due = await store.dueSubjects(at, BATCH);
      if (due.length === 0) break;
      const written = await store.transaction(async (tx) => {
        await tx.lockSubjects(due);
        // Read in the transaction: another process may have published a newer version since.
        const current = (await policies.current(tx, at)) ?? policy;
        const out: Written[] = [];
        for (const id of due) out.push(await evaluateAndStore(tx, current, id, at));
        return out;
      });
      this.shell.applied(written);
      advanced += due.length;
    }
    return { policyActivated, advanced };
  }

  /** When the scheduler should next wake up: the earliest state change or pending policy. */
  async nextWake(): Promise<Instant | null> {
    const { store, policies } = this.shell;
    const now = this.shell.clock.now();
    const unfinished = await this.reevaluation.pending(now);
    // Another process is re-evaluating: look again once it should have written its next page.
    if (unfinished) return unfinished.busy ? now + BUSY_MS : now;
    const pending = policies.pending(now)?.effective ?? null;
    const change = await store.earliestChange();
    if (pending === null) return change;
    if (change === null) return pending;
    return Math.min(pending, change);
  }
}
