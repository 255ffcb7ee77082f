// A full re-evaluation shared by every evaluator of a cluster. Publishing a version (or
// its date coming) plans a run of pages, ranges of subject ids recorded in the store's
// meta (Standing.planSharedReevaluation), and queues one message per page on the work
// stream, `<name>.work.reeval.<run>.<page>`. Every evaluator pulls from one durable
// consumer, so each page goes to one of them at a time; a page is acked only after the
// transaction that wrote its states and counted it done has committed. A worker killed
// mid-page never acks: JetStream gives the page to another after ack_wait, and working a
// page again writes the same states. The run's progress is in meta (pages done of all),
// and a run whose evaluators were all stopped goes on when one starts again: its pages
// wait in the stream. See docs/cluster.md, "Re-evaluation across evaluators".
import { randomBytes } from "node:crypto";
import { AckPolicy, DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import { StandingError } from "../errors.js";
import type { SharedPage, SharedPlan, SharedProgress, Standing } from "../standing.js";
import type { Instant } from "../time.js";
import type { Cluster } from "./nats.js";

/** The durable pull consumer every evaluator shares for re-evaluation pages. */
export const REEVALUATION_CONSUMER = "reevaluate";

function filter(c: Cluster): string {
  return `${c.names.workSubject}.reeval.>`;
}

function subject(c: Cluster, page: SharedPage): string {
  return `${c.names.workSubject}.reeval.${page.run}.${page.index}`;
}

/** Creates the shared consumer if it is missing (any number of processes at once). */
export async function ensureReevaluationConsumer(c: Cluster): Promise<void> {
  const { jsm, names, settings } = c;
  const exists = (): Promise<boolean> => jsm.consumers.info(names.workStream, REEVALUATION_CONSUMER).then(() => true, () => false);
  if (await exists()) return;
  await jsm.consumers
    .add(names.workStream, {
      durable_name: REEVALUATION_CONSUMER,
      filter_subject: filter(c),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: settings.ackWaitMs * 1_000_000,
      max_deliver: -1,
    })
    .catch(async (e: unknown) => {
      if (!(await exists())) throw e;
    });
}

/**
 * What publishing a version calls in a cluster instead of re-evaluating in-process
 * (Standing's `shareReevaluation` option): plans the run of `policyRef` at `at` (or takes
 * up its unfinished run) and queues every page not done yet. Queueing again is harmless:
 * JetStream drops a page it holds within its duplicate window, and a page worked twice
 * is counted once. Refused when `policyRef` is no longer the version in force at `at`.
 */
export async function publishReevaluation(cluster: Cluster, standing: Standing, policyRef: string, at: Instant): Promise<SharedPlan> {
  await ensureReevaluationConsumer(cluster);
  const plan = await standing.planSharedReevaluation(policyRef, at, () => `${Date.now().toString(36)}${randomBytes(4).toString("hex")}`);
  if (!plan) throw new StandingError("record-conflict", `${policyRef} is no longer the version in force; its re-evaluation is left to the newer one`, { policy: policyRef });
  const todo = [...plan.todo];
  // A few in flight at a time: a run of a thousand pages is queued in a moment.
  while (todo.length > 0) {
    await Promise.all(todo.splice(0, 64).map((page) => cluster.js.publish(subject(cluster, page), JSON.stringify(page), { msgID: `${page.run}-${page.index}` })));
  }
  return plan;
}

/** The last shared run's progress: pages done of all, and whether its version is now active. */
export function reevaluationProgress(standing: Standing): Promise<SharedProgress | null> {
  return standing.sharedReevaluation();
}

export interface WorkOptions {
  /** Stops taking pages once aborted; the page under way is finished and acked first. */
  readonly signal: AbortSignal;
  /** After each page's transaction committed and the page was acked. */
  readonly onPage?: (page: SharedPage, outcome: "done" | "finished" | "superseded", progress: SharedProgress | null) => void;
  readonly onError?: (e: unknown) => void;
  /** How long one pull waits for a page, in ms (default 1,000): how soon an abort is noticed when idle. */
  readonly pullMs?: number;
}

function parsePage(m: JsMsg): SharedPage | undefined {
  try {
    const p = m.json<Partial<SharedPage>>();
    const n = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
    return typeof p.run === "string" && typeof p.ref === "string" && n(p.at) && n(p.index) && n(p.pages) && n(p.after) && n(p.upTo) ? (p as SharedPage) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What each evaluator runs: takes re-evaluation pages from the shared consumer and works
 * them one at a time until `signal` is aborted; resolves then.
 */
export async function workReevaluations(cluster: Cluster, standing: Standing, options: WorkOptions): Promise<void> {
  const report = options.onError ?? ((e: unknown) => console.error("standing re-evaluation:", e));
  const { signal } = options;
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  await ensureReevaluationConsumer(cluster);
  const consumer = await cluster.js.consumers.get(cluster.names.workStream, REEVALUATION_CONSUMER);
  while (!signal.aborted) {
    let m: JsMsg | null;
    try {
      m = await consumer.next({ expires: Math.max(1_000, options.pullMs ?? 1_000) });
    } catch (e) {
      // The connection was closed under it (a shutdown that forgot the signal): nothing more can come.
      if (cluster.nc.isClosed()) return;
      report(e);
      await pause(500);
      continue;
    }
    if (!m) continue;
    const page = parsePage(m);
    if (!page) {
      // Not a page this version can read: never redelivered, never blocking the queue.
      report(new Error(`re-evaluation message ${m.subject} is not a page; dropped`));
      m.term();
      continue;
    }
    // A long page tells JetStream it is still being worked, so it is not given to another meanwhile.
    const msg = m;
    const working = setInterval(() => msg.working(), Math.max(200, Math.floor(cluster.settings.ackWaitMs / 3)));
    try {
      const r = await standing.reevaluateSharedPage(page);
      // Only now, with its transaction committed: a worker killed before this leaves the page to another.
      await msg.ackAck().catch((e: unknown) => report(e));
      options.onPage?.(page, r.outcome, r.progress);
    } catch (e) {
      report(e);
      msg.nak(1_000);
    } finally {
      clearInterval(working);
    }
  }
}
