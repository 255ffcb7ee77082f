// Time moving forward: activating a version whose effective date has come, closing
// disputes left unanswered past their deadline, and re-evaluating every subject whose
// state changes by itself. Run by the scheduler (src/scheduler/), or by `standing tick`.
import type { Shell } from "./context.js";
import { evaluateAndStore, type Written } from "./evaluation.js";
import type { Reevaluation } from "./reevaluation.js";
import type { Instant } from "../time.js";

const BATCH = 1000;

export class Scheduling {
  constructor(
    private readonly shell: Shell,
    private readonly reevaluation: Reevaluation,
  ) {}

  async advance(at: Instant = this.shell.clock.now()): Promise<{ policyActivated: string | null; advanced: number }> {
    const { store, policies } = this.shell;
    let policyActivated: string | null = null;
    // Cheap, and the feed may not have told this process yet.
    await policies.reload(store);
    const policy = policies.active(at);
    if (!policy) return { policyActivated, advanced: 0 };
    if ((await store.getMeta("active_policy")) !== policy.ref) {
      await this.reevaluation.all(at);
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
          if (current?.status === "open") await tx.putDispute({ ...current, status: "expired", closedAt: current.deadlineAt, counts: false });
        }
      });
    }
    let advanced = 0;
    for (;;) {
      const due = await store.dueSubjects(at, BATCH);
      if (due.length === 0) break;
      const written = await store.transaction(async (tx) => {
        await tx.lockSubjects(due);
        const out: Written[] = [];
        for (const id of due) out.push(await evaluateAndStore(tx, policy, id, at));
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
    const active = policies.active(now);
    if (active && (await store.getMeta("active_policy")) !== active.ref) return now;
    const pending = policies.pending(now)?.effective ?? null;
    const change = await store.earliestChange();
    if (pending === null) return change;
    if (change === null) return pending;
    return Math.min(pending, change);
  }
}
