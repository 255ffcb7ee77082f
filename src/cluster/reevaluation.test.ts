// A full re-evaluation shared by evaluators, on a real PostgreSQL database and a real
// NATS server: the pages of a run go to several workers through one durable consumer,
// a page is counted once however often it is worked, a page a dead worker held is
// given to another, and a run every evaluator left part way is finished by the next.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Standing, type SharedPage } from "../standing.js";
import { PgStore } from "../store/postgres/store.js";
import { dropCreated, dropDatabases, freshDatabase } from "../store/postgres/test-helpers.js";
import { ManualClock } from "../time.js";
import { openCluster, type Cluster } from "./nats.js";
import { publishReevaluation, reevaluationProgress, REEVALUATION_CONSUMER, workReevaluations } from "./reevaluation.js";
import { clusterSettings } from "./settings.js";
import { dropClusters, freshClusterName, TEST_NATS_URL } from "./test-helpers.js";

const root = resolve(import.meta.dirname, "..", "..");
const V1 = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
const V2 = V1.replace("version: 2026.1.0", "version: 2026.2.0");
const V1_REF = "municipal-credit@2026.1.0";
const V2_REF = "municipal-credit@2026.2.0";
const NOW = Date.UTC(2026, 2, 1);
const SUBJECTS = 23;
const PAGE = 5; // 23 subjects: pages of 5, 5, 5, 5 and the rest

const dir = mkdtempSync(join(tmpdir(), "standing-reeval-"));
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  await dropDatabases();
});
afterAll(async () => {
  await dropClusters();
  await dropCreated();
  rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  readonly cluster: Cluster;
  readonly url: string;
  readonly keyFile: string;
  readonly store: PgStore;
  /** A process of the cluster: its own store connections, re-evaluations shared. */
  process(): Standing;
}

async function setup(label: string, subjects = SUBJECTS): Promise<Setup> {
  const db = await freshDatabase(label);
  const cluster = await openCluster(clusterSettings({ STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: freshClusterName(label), STANDING_ACK_WAIT_MS: "1500" }));
  closers.push(() => cluster.close());
  const clock = new ManualClock(NOW);
  const open = (share: boolean): Standing => {
    const store = new PgStore(db.url, { keyFile: db.keyFile });
    const s: Standing = new Standing(store, clock, { reevaluationPage: PAGE, reevaluationWorkers: 0, ...(share ? { shareReevaluation: (ref, at) => publishReevaluation(cluster, s, ref, at) } : {}) });
    closers.push(() => s.close());
    return s;
  };
  // The first version and the population, as a single process would have them.
  const first = open(false);
  expect((await first.publish(V1, "municipal-credit.yaml")).status).toBe("published");
  const records = Array.from({ length: subjects }, (_, i) => ({ source: "traffic-police", id: `j${i}`, type: "traffic.jaywalking", subject: { scheme: "national-id", value: `P${i}` }, occurredAt: new Date(NOW - 86_400_000).toISOString(), evidence: `camera://${i}` }));
  expect((await first.ingest(records)).every((r) => r.status === "accepted")).toBe(true);
  const store = new PgStore(db.url, { keyFile: db.keyFile });
  closers.push(() => store.close());
  return { cluster, url: db.url, keyFile: db.keyFile, store, process: () => open(true) };
}

async function policyRefs(store: PgStore): Promise<string[]> {
  const refs: string[] = [];
  for (const id of await store.subjectsWithRecords(0, 1000)) refs.push((await store.getState(id))?.policyRef ?? "none");
  return refs;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`still not: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function worker(cluster: Cluster, standing: Standing, onPage?: (page: SharedPage, outcome: string, stop: () => void) => void): { done: Promise<void>; stop: () => void; pages: number[] } {
  const ac = new AbortController();
  const pages: number[] = [];
  const done = workReevaluations(cluster, standing, {
    signal: ac.signal,
    pullMs: 1_000,
    onPage: (page, outcome) => {
      pages.push(page.index);
      onPage?.(page, outcome, () => ac.abort());
    },
    onError: (e) => console.error(e),
  });
  closers.push(async () => {
    ac.abort();
    await done;
  });
  return { done, stop: () => ac.abort(), pages };
}

describe("a re-evaluation shared by evaluators", () => {
  it("given a version published in a cluster, when three evaluators work its pages, then every subject is re-evaluated under it, the version becomes active, and the states equal a replay", async () => {
    const { cluster, store, process } = await setup("share");
    const publisher = process();
    const r = await publisher.publish(V2, "municipal-credit.yaml");
    expect(r).toMatchObject({ status: "published", reevaluated: 0, shared: { pages: 5 } });
    // Queued, not done: nothing was re-evaluated in the publishing process.
    expect(await reevaluationProgress(publisher)).toMatchObject({ ref: V2_REF, pages: 5, done: 0, finished: false });
    expect(new Set(await policyRefs(store))).toEqual(new Set([V1_REF]));
    expect(await store.getMeta("active_policy")).toBe(V1_REF);

    const outcomes: string[] = [];
    const workers = [0, 1, 2].map(() => worker(cluster, process(), (_, outcome) => outcomes.push(outcome)));
    await until("the run finished", async () => (await reevaluationProgress(publisher))?.finished === true);
    for (const w of workers) w.stop();
    await Promise.all(workers.map((w) => w.done));

    expect(await reevaluationProgress(publisher)).toMatchObject({ pages: 5, done: 5, finished: true });
    expect(new Set(workers.flatMap((w) => w.pages))).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(outcomes.filter((o) => o === "finished")).toHaveLength(1);
    expect(await policyRefs(store)).toEqual(Array.from({ length: SUBJECTS }, () => V2_REF));
    expect(await store.getMeta("active_policy")).toBe(V2_REF);
    // Nothing is left on the queue, and the scheduler has nothing pending.
    expect((await cluster.jsm.consumers.info(cluster.names.workStream, REEVALUATION_CONSUMER)).num_pending).toBe(0);
    expect(await publisher.nextWake()).not.toBe(NOW);
    const report = await publisher.verifyJournal();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("given a new database with no records, when the first version is published in a cluster, then it is active at once and nothing waits for evaluators", async () => {
    const db = await freshDatabase("first");
    const cluster = await openCluster(clusterSettings({ STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: freshClusterName("first") }));
    closers.push(() => cluster.close());
    const store = new PgStore(db.url, { keyFile: db.keyFile });
    let shared = 0;
    const s: Standing = new Standing(store, new ManualClock(NOW), { reevaluationWorkers: 0, shareReevaluation: (ref, at) => (shared++, publishReevaluation(cluster, s, ref, at)) });
    closers.push(() => s.close());
    const r = await s.publish(V1, "municipal-credit.yaml");
    expect(r.status).toBe("published");
    expect(r).not.toHaveProperty("shared");
    expect(shared).toBe(0);
    expect(await store.getMeta("active_policy")).toBe(V1_REF);
    expect(s.activePolicy()?.ref).toBe(V1_REF);
    // Records ingested next are admitted and evaluated under it, with no evaluator running.
    const [res] = await s.ingest([{ source: "traffic-police", id: "j0", type: "traffic.jaywalking", subject: { scheme: "national-id", value: "P0" }, occurredAt: new Date(NOW - 86_400_000).toISOString(), evidence: "camera://0" }]);
    expect(res?.status).toBe("accepted");
    expect(await policyRefs(store)).toEqual([V1_REF]);
  });

  it("given a page worked twice, when the second commits, then the states are the same, the page counts once, and the states equal a replay", async () => {
    const { store, process } = await setup("twice");
    const s = process();
    const plan = await s.planSharedReevaluation(V1_REF, NOW, () => "r1");
    expect(plan).toMatchObject({ run: "r1", pages: 5 });
    const page = plan?.todo[1] as SharedPage;
    expect(await s.reevaluateSharedPage(page)).toMatchObject({ outcome: "done", progress: { done: 1, pages: 5, finished: false } });
    const ids = (await store.subjectsWithRecords(page.after, 1000)).filter((id) => id <= page.upTo);
    expect(ids).toHaveLength(PAGE);
    const once = await Promise.all(ids.map((id) => store.getState(id)));
    expect(await s.reevaluateSharedPage(page)).toMatchObject({ outcome: "done", progress: { done: 1, pages: 5, finished: false } });
    expect(await Promise.all(ids.map((id) => store.getState(id)))).toEqual(once);
    // Planning again takes the same run up: the page done is not handed out again.
    expect((await s.planSharedReevaluation(V1_REF, NOW, () => "r2"))?.todo.map((p) => [p.run, p.index])).toEqual([
      ["r1", 0],
      ["r1", 2],
      ["r1", 3],
      ["r1", 4],
    ]);
    expect((await s.verifyJournal()).ok).toBe(true);
  });

  it("given a worker that took a page and died without acking, and the only evaluator stopped part way, when an evaluator starts again, then the run finishes with that page done", async () => {
    const { cluster, store, process } = await setup("resume");
    const publisher = process();
    expect((await publisher.publish(V2, "municipal-credit.yaml")).shared?.pages).toBe(5);
    // A worker that takes a page and is killed: the page is never acked.
    const dead = await (await cluster.js.consumers.get(cluster.names.workStream, REEVALUATION_CONSUMER)).next({ expires: 2_000 });
    expect(dead).not.toBeNull();
    const held = dead?.json<SharedPage>().index as number;
    // An evaluator that stops after one page (every evaluator of the cluster shut down).
    const first = worker(cluster, process(), (_, __, stop) => stop());
    await first.done;
    expect(first.pages).toHaveLength(1);
    expect(first.pages).not.toContain(held);
    expect(await reevaluationProgress(publisher)).toMatchObject({ done: 1, finished: false });
    expect(await store.getMeta("active_policy")).toBe(V1_REF);

    const second = worker(cluster, process());
    await until("the run finished", async () => (await reevaluationProgress(publisher))?.finished === true);
    second.stop();
    await second.done;
    expect(second.pages).toContain(held);
    expect(new Set([...first.pages, ...second.pages])).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(await policyRefs(store)).toEqual(Array.from({ length: SUBJECTS }, () => V2_REF));
    expect(await store.getMeta("active_policy")).toBe(V2_REF);
  });
});

/** An evaluator process that works re-evaluation pages and reports each on stdout. */
function evaluatorProcess(c: Setup): { proc: ChildProcess; pages: number[] } {
  const src = (p: string): string => JSON.stringify(pathToFileURL(join(root, "src", p)).href);
  const script = join(dir, "evaluator.mts");
  writeFileSync(
    script,
    `import { openStanding } from ${src("standing.ts")};
     import { openCluster } from ${src("cluster/nats.ts")};
     import { clusterSettings } from ${src("cluster/settings.ts")};
     import { workReevaluations } from ${src("cluster/reevaluation.ts")};
     const cluster = await openCluster(clusterSettings());
     const s = openStanding({ store: process.env.TEST_STORE, reevaluationPage: ${PAGE}, reevaluationWorkers: 0 });
     await s.start();
     await workReevaluations(cluster, s, { signal: new AbortController().signal, onPage: (p) => process.stdout.write(JSON.stringify({ page: p.index }) + "\\n") });
    `,
  );
  const proc = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: root,
    env: { ...process.env, TEST_STORE: c.url, STANDING_JOURNAL_KEY_FILE: c.keyFile, STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: c.cluster.settings.name, STANDING_ACK_WAIT_MS: String(c.cluster.settings.ackWaitMs) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const pages: number[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => pages.push((JSON.parse(line) as { page: number }).page));
  closers.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return { proc, pages };
}

describe("evaluator processes sharing a run", () => {
  it("given two evaluator processes working a run, when one is killed with -9 part way, then the other finishes the run and every subject is under the new version", async () => {
    const c = await setup("kill", 120);
    const publisher = c.process();
    const plan = await publisher.publish(V2, "municipal-credit.yaml");
    expect(plan.shared?.pages).toBe(24);
    const [a, b] = [evaluatorProcess(c), evaluatorProcess(c)];
    await until("the first evaluator worked a page", async () => a.pages.length > 0);
    a.proc.kill("SIGKILL");
    await until("the run finished", async () => (await reevaluationProgress(publisher))?.finished === true, 60_000);
    // The store counts what committed: every page, whoever worked it (a page the killed
    // process committed may never have been reported on its pipe).
    expect(await reevaluationProgress(publisher)).toMatchObject({ pages: 24, done: 24, finished: true });
    expect(b.pages.length).toBeGreaterThan(0);
    expect(await policyRefs(c.store)).toEqual(Array.from({ length: 120 }, () => V2_REF));
    expect(await c.store.getMeta("active_policy")).toBe(V2_REF);
    expect((await publisher.verifyJournal()).ok).toBe(true);
  });
});
