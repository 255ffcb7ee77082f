// Faults of a cluster, with real processes: evaluators killed with SIGKILL at random
// moments during a large ingest, nats-server restarted during ingest, an API node
// killed between publishing a batch and answering it. After each: nothing acknowledged
// is lost, nothing is applied twice, `audit verify` passes with every state replayed,
// and the API nodes answer checks alike.
//
// Sizes: STANDING_FAULT_RECORDS (default 100,000) and STANDING_FAULT_KILLS (default 100).
// `npm test` runs them at 20,000 records to stay within its time; CI runs them again at
// the default sizes (npm run test:faults), as the issue asks.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { clusterNames } from "../src/cluster/nats.js";
import { dropClusters, startOwnNats, type OwnNats } from "../src/cluster/test-helpers.js";
import { behindTheBack, dropCreated } from "../src/store/postgres/test-helpers.js";
import { cli, get, judgment, post, settled, testCluster, type Proc, type TestCluster } from "./cluster-process.js";

const RECORDS = Number(process.env.STANDING_FAULT_RECORDS ?? 100_000);
const KILLS = Number(process.env.STANDING_FAULT_KILLS ?? 100);
const BATCH = 5_000;

const clusters: TestCluster[] = [];
const nats: OwnNats[] = [];
afterAll(async () => {
  for (const c of clusters) await c.stopAll();
  for (const n of nats) await n.dispose();
  await dropClusters();
  await dropCreated();
}, 180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends a batch until a node takes it (503s while NATS is away are answered by sending again). */
async function sendUntilTaken(bases: readonly string[], key: string, body: string, deadlineMs = 120_000): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  for (let i = 0; ; i++) {
    const base = bases[i % bases.length] as string;
    const r = await post(base, key, "/v1/records", body).catch((e: unknown) => ({ status: 0, json: undefined, text: String(e) }));
    if (r.status === 202) return (r.json as { receipt: string }).receipt;
    if (Date.now() > deadline) throw new Error(`no node took the batch: ${r.status} ${r.text}`);
    await sleep(250);
  }
}

/** What every fault test checks at the end. */
async function sound(c: TestCluster, receipts: readonly string[], expected: number, api: readonly Proc[]): Promise<void> {
  let accepted = 0;
  let duplicate = 0;
  for (const receipt of receipts) {
    const s = await settled(api[0]?.base as string, c.keys.admin, receipt, 600_000);
    expect(s.done, `batch ${receipt} still has pending lines: ${JSON.stringify(s.counts)}`).toBe(true);
    expect(s.counts.rejected).toBe(0);
    accepted += s.counts.accepted ?? 0;
    duplicate += s.counts.duplicate ?? 0;
  }
  // Every record sent once is stored once: none lost, none applied twice.
  const stored = Number((await behindTheBack(c.url, "SELECT count(*) AS n, count(DISTINCT (source, record_id)) AS d FROM records")).rows[0]?.n);
  const distinct = Number((await behindTheBack(c.url, "SELECT count(DISTINCT (source, record_id)) AS d FROM records")).rows[0]?.d);
  expect(stored).toBe(expected);
  expect(distinct).toBe(expected);
  // (A batch whose node died before answering has no receipt to count by.)
  if (receipts.length > 0) {
    expect(accepted).toBe(expected);
    expect(duplicate).toBe(0);
  }
  // Every state equals its replay; the chain and its signed heads hold.
  const v = cli(["audit", "verify", "--store", c.url, "--json"], c.env);
  const report = JSON.parse(v.stdout) as { ok: boolean; problems: unknown[]; states: { checked: number; replayed: boolean } };
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
  expect(report.states.replayed).toBe(true);
  // The API nodes answer alike (each follows the store's change feed).
  if (api.length > 1) {
    const deadline = Date.now() + 30_000;
    let differ: string[];
    do {
      differ = [];
      for (let i = 0; i < 300; i += 11) {
        const q = `/v1/checks?subject=national-id:F${i}&context=air-travel`;
        const answers = await Promise.all(api.map((p) => get(p.base as string, c.keys.checkpoint, q)));
        const decisions = new Set(answers.map((a) => (a.json as { decision: string }).decision));
        if (decisions.size > 1) differ.push(`F${i}`);
      }
      if (differ.length > 0) await sleep(500);
    } while (differ.length > 0 && Date.now() < deadline);
    expect(differ).toEqual([]);
  }
}

function batches(prefix: string, n: number, subjects: number): string[] {
  const out: string[] = [];
  for (let from = 0; from < n; from += BATCH) {
    const lines: string[] = [];
    for (let i = from; i < Math.min(n, from + BATCH); i++) lines.push(JSON.stringify(judgment(`${prefix}-${i}`, `F${i % subjects}`)));
    out.push(lines.join("\n") + "\n");
  }
  return out;
}

describe("a cluster under faults", () => {
  it(`given ${RECORDS} records sent through two API nodes, when an evaluator is killed with SIGKILL ${KILLS} times at random moments and started again, then nothing is lost or applied twice and every state equals its replay`, async () => {
    const c = await testCluster("kill");
    clusters.push(c);
    const api = [await c.api("api-1"), await c.api("api-2")];
    const evs: Proc[] = [c.evaluator("ev-1"), c.evaluator("ev-2")];
    const bodies = batches("k", RECORDS, Math.max(300, Math.floor(RECORDS / 4)));
    const receipts: string[] = [];
    const sending = (async () => {
      for (const [i, body] of bodies.entries()) receipts.push(await sendUntilTaken([api[i % 2]?.base as string], c.keys.source, body));
    })();
    let kills = 0;
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    while (kills < KILLS) {
      await sleep(100 + Math.floor(random() * 900));
      const i = Math.floor(random() * evs.length);
      await c.kill(evs[i] as Proc);
      kills += 1;
      evs[i] = c.evaluator(`ev-${i + 1}-${kills}`);
    }
    await sending;
    await sound(c, receipts, RECORDS, api);
  }, 1_500_000);

  it("given an ingest under way, when nats-server is restarted, then batches sent while it was away are refused (503) and taken when sent again, and nothing is lost or applied twice", async () => {
    const own = await startOwnNats();
    nats.push(own);
    const c = await testCluster("natsrestart", { STANDING_NATS_URL: own.url });
    clusters.push(c);
    const api = [await c.api("api-1")];
    const ev = await c.evaluatorReady("ev-1");
    const bodies = batches("n", 4_000, 300).flatMap((b) => {
      const lines = b.trim().split("\n");
      return [lines.slice(0, 500), lines.slice(500, 1000), lines.slice(1000, 1500), lines.slice(1500, 2000), lines.slice(2000, 2500), lines.slice(2500, 3000), lines.slice(3000, 3500), lines.slice(3500)].filter((l) => l.length > 0).map((l) => l.join("\n") + "\n");
    });
    const receipts: string[] = [];
    let refused = 0;
    for (const [i, body] of bodies.entries()) {
      if (i === 3) {
        await own.stop();
        const r = await post(api[0]?.base as string, c.keys.source, "/v1/records", body);
        expect(r.status).toBe(503);
        expect((r.json as { error: { code: string } }).error.code).toBe("storage-unavailable");
        refused += 1;
        await own.start();
      }
      receipts.push(await sendUntilTaken([api[0]?.base as string], c.keys.source, body));
    }
    expect(refused).toBe(1);
    expect(ev.child.exitCode, ev.out).toBeNull();
    await sound(c, receipts, 4_000, api);
  }, 600_000);

  it("given a batch being published, when its API node is killed before it answers and the batch is sent again to another node, then every record is stored once", async () => {
    const c = await testCluster("apikill");
    clusters.push(c);
    const a = await c.api("api-a");
    const b = await c.api("api-b");
    c.evaluator("ev-1");
    const body = batches("a", BATCH, 1000)[0] as string;
    const nc = await connect({ servers: c.env.STANDING_NATS_URL as string });
    const jsm = await jetstreamManager(nc);
    const stream = clusterNames(c.env.STANDING_CLUSTER as string).recordsStream;
    const before = (await jsm.streams.info(stream)).state.last_seq;
    const first = post(a.base as string, c.keys.source, "/v1/records", body).catch(() => ({ status: 0, json: undefined, text: "connection lost" }));
    // Killed once publishing has begun and before the answer: some lines are in the stream, the sender has no receipt.
    while ((await jsm.streams.info(stream)).state.last_seq === before) await sleep(5);
    await c.kill(a);
    const lost = await first;
    await nc.close();
    expect(lost.status).toBe(0);
    const receipt = await sendUntilTaken([b.base as string], c.keys.source, body);
    const s = await settled(b.base as string, c.keys.admin, receipt, 300_000);
    expect(s.done).toBe(true);
    expect((s.counts.accepted ?? 0) + (s.counts.duplicate ?? 0)).toBe(BATCH);
    await sound(c, [], BATCH, [b]);
  }, 600_000);
});
