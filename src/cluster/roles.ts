// The cluster's one-actor roles, each behind a Leadership (leader.ts). "scheduler": time
// moving forward (due subjects, a version whose date comes, disputes past their
// deadline; Scheduler and Standing.advance) and the delivery of due notices from the
// outbox. Every process of a cluster (`serve --cluster`, `standing evaluator`) may call
// runSchedulerWhenLeader; one of them acts at a time. See docs/cluster.md.
import { Outbox, type NoticeChannel } from "../notices/outbox.js";
import { Scheduler } from "../scheduler/scheduler.js";
import type { Standing } from "../standing.js";
import type { Instant } from "../time.js";
import { Leadership, whileLeader } from "./leader.js";
import type { ClusterSettings } from "./settings.js";

export const SCHEDULER_ROLE = "scheduler";

export interface SchedulerRoleOptions {
  /** Where due notices go (the CLI's log file and webhook). */
  readonly channels: readonly NoticeChannel[];
  /** How often a follower tries to lead (default: settings.leaderRetryMs, else 1,000 ms). */
  readonly retryMs?: number;
  readonly settings?: Pick<ClusterSettings, "leaderRetryMs">;
  /** How often the leader delivers due notices, in ms (default 5,000, as `serve`). */
  readonly deliverEveryMs?: number;
  /** The scheduler's longest sleep (default 30,000): a record another process ingests is noticed within it. */
  readonly maxSleepMs?: number;
  readonly onChange?: (leader: boolean) => void;
  readonly onTick?: (r: { at: Instant; advanced: number; policyActivated: string | null }) => void;
  readonly onDelivered?: (r: { delivered: number; failed: number }) => void;
  readonly onError?: (e: unknown) => void;
}

export interface SchedulerRole {
  readonly leadership: Leadership;
  /** Stops acting and gives the role up. */
  stop(): Promise<void>;
}

/**
 * Runs the scheduler and notice delivery in this process whenever it is the cluster's
 * scheduler leader, and stops both the moment it is not. `storeUrl` is the cluster's
 * PostgreSQL store (the same database is the election). Call `stop()` on shutdown.
 */
export function runSchedulerWhenLeader(standing: Standing, storeUrl: string, options: SchedulerRoleOptions): SchedulerRole {
  const report = options.onError ?? ((e: unknown) => console.error("standing scheduler:", e));
  const leadership = Leadership.of(storeUrl, SCHEDULER_ROLE, {
    retryMs: options.retryMs ?? options.settings?.leaderRetryMs ?? 1_000,
    onError: (e) => report(e),
  });
  const outbox = new Outbox(standing.noticeOutbox(), options.channels);
  const act = (): (() => void) => {
    const scheduler = new Scheduler(standing, {
      ...(options.maxSleepMs !== undefined ? { maxSleepMs: options.maxSleepMs } : {}),
      ...(options.onTick ? { onTick: options.onTick } : {}),
      onError: report,
    });
    scheduler.start();
    const aborted = new AbortController();
    let delivering = false;
    const deliver = (): void => {
      if (delivering || aborted.signal.aborted) return;
      delivering = true;
      outbox
        .deliverDue(standing.now(), 500, aborted.signal)
        .then((r) => {
          if (r.delivered + r.failed > 0) options.onDelivered?.(r);
        })
        .catch(report)
        .finally(() => (delivering = false));
    };
    const timer = setInterval(deliver, options.deliverEveryMs ?? 5_000);
    timer.unref();
    deliver();
    return () => {
      scheduler.stop();
      clearInterval(timer);
      aborted.abort();
    };
  };
  const stopActing = whileLeader(leadership, act);
  const removeListener = options.onChange ? leadership.onChange(options.onChange) : () => undefined;
  leadership.start();
  return {
    leadership,
    async stop() {
      stopActing();
      removeListener();
      await leadership.stop();
    },
  };
}
