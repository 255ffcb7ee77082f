// Ingest through JetStream, in one process against the machine's PostgreSQL and NATS:
// an API node's intake publishes and answers with a receipt, evaluators apply, the
// receipt and the record say where each line stands; partitions spread over evaluators
// and are taken over; a redelivery is never a second effect; a stale owner cannot commit.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { StandingError } from "../errors.js";
import { Standing } from "../standing.js";
import { PgStore } from "../store/postgres/store.js";
import { dropCreated, freshDatabase } from "../store/postgres/test-helpers.js";
import { ManualClock } from "../time.js";
import { Evaluator } from "./evaluator.js";
import { ClusterIntake, recordStatus, type BatchStatus } from "./intake.js";
import { openCluster, type Cluster } from "./nats.js";
import { clusterSettings } from "./settings.js";
import { dropClusters, freshClusterName, TEST_NATS_URL } from "./test-helpers.js";

const root = resolve(import.meta.dirname, "..", "..");
const POLICY_TEXT = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
const NOW = Date.UTC(2026, 2, 1, 0, 0, 0);
const DAY = 86_400_000;
const iso = (t: number): string => new Date(t).toISOString();
const nid = (value: string) => ({ scheme: "national-id", value });

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
});
afterAll(async () => {
  await dropClusters();
  await dropCreated();
}, 300_000);

async function node(url: string, keyFile: string, cluster: Cluster): Promise<{ standing: Standing; intake: ClusterIntake }> {
  const store = await new PgStore(url, { keyFile }).open();
  const standing = new Standing(store, new ManualClock(NOW));
  open.push({ close: () => standing.close() });
  await standing.start();
  return { standing, intake: new ClusterIntake(cluster, standing) };
}

async function setup(partitions = 4, env: Record<string, string> = {}): Promise<{ url: string; keyFile: string; cluster: Cluster; api: { standing: Standing; intake: ClusterIntake } }> {
  const db = await freshDatabase("cluster");
  const cluster = await openCluster(clusterSettings({ STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: freshClusterName("ev"), STANDING_PARTITIONS: String(partitions), STANDING_LEASE_MS: "3000", ...env }));
  open.push(cluster);
  const api = await node(db.url, db.keyFile, cluster);
  await api.standing.publish(POLICY_TEXT, "policies/municipal-credit.yaml");
  return { url: db.url, keyFile: db.keyFile, cluster, api };
}

const jaywalk = (id: string, who: string, daysAgo = 3) => ({ source: "traffic-police", id, type: "traffic.jaywalking", subject: nid(who), occurredAt: iso(NOW - daysAgo * DAY), evidence: `camera://${id}` });

async function until<T>(what: () => Promise<T>, done: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lines = (inputs: unknown[]) => inputs.map((input, i) => ({ line: i + 1, input }));

describe("ingest through JetStream", () => {
  it("given a batch with good and bad lines, when submitted, then the bad are answered at once and journaled, the rest are pending until an evaluator applies them, and the receipt says how each ended", async () => {
    const { url, keyFile, cluster, api } = await setup();
    const batch = lines([jaywalk("j-1", "A1"), { source: "traffic-police", id: "bad", type: "traffic.jaywalking" }, jaywalk("j-2", "B2"), jaywalk("j-3", "A1"), { source: "court", id: "other" }, null]);
    batch[5] = { line: 6, input: undefined, refused: new StandingError("bad-request", "line 6 is not valid JSON") } as never;
    const submitted = await api.intake.submit(batch, { keyId: "k-1", source: "traffic-police" });
    expect(submitted.published).toBe(3);
    expect(submitted.rejected.map((r) => [r.line, r.result.status === "rejected" ? r.result.error.code : r.result.status])).toEqual([
      [2, "invalid-record"],
      [5, "forbidden"],
      [6, "bad-request"],
    ]);
    const manifest = await api.intake.manifest(submitted.receipt);
    expect(manifest).toMatchObject({ lines: 6, published: 3, rejected: 3, keyId: "k-1" });
    const before = await api.intake.status(manifest!);
    expect(before.counts).toMatchObject({ pending: 3, rejected: 3 });
    expect(before.done).toBe(false);
    expect(await recordStatus(api.standing, api.intake, "traffic-police", "j-1")).toMatchObject({ status: "pending", receipt: submitted.receipt, line: 1 });

    const worker = await node(url, keyFile, cluster);
    const ev = new Evaluator(cluster, worker.standing);
    open.push({ close: () => ev.stop() });
    await ev.start();
    const after = await until(() => api.intake.status(manifest!), (s: BatchStatus) => s.done);
    expect(after.counts).toEqual({ pending: 0, accepted: 3, duplicate: 0, quarantined: 0, rejected: 3 });
    expect(after.results.map((r) => r.status)).toEqual(["accepted", "rejected", "accepted", "accepted", "rejected", "rejected"]);
    expect(await recordStatus(api.standing, api.intake, "traffic-police", "j-2")).toMatchObject({ status: "accepted", receipt: submitted.receipt, line: 3 });
    expect(await recordStatus(api.standing, api.intake, "traffic-police", "nope")).toBeUndefined();
    expect(await api.standing.reads.countRecords()).toBe(3);
    const report = await api.standing.verifyJournal();
    expect(report.ok).toBe(true);
  }, 60_000);

  it("given the same batch sent twice (an answer lost), when both are applied, then the second's lines are duplicates and nothing is applied twice", async () => {
    const { url, keyFile, cluster, api } = await setup();
    const batch = lines([jaywalk("d-1", "C1"), jaywalk("d-2", "C1"), jaywalk("d-3", "C2")]);
    const first = await api.intake.submit(batch, { keyId: "k", source: "traffic-police" });
    const second = await api.intake.submit(batch, { keyId: "k", source: "traffic-police" });
    const worker = await node(url, keyFile, cluster);
    const ev = new Evaluator(cluster, worker.standing);
    open.push({ close: () => ev.stop() });
    await ev.start();
    const s1 = await until(async () => api.intake.status((await api.intake.manifest(first.receipt))!), (s) => s.done);
    const s2 = await until(async () => api.intake.status((await api.intake.manifest(second.receipt))!), (s) => s.done);
    expect(s1.counts.accepted).toBe(3);
    expect(s2.counts.duplicate).toBe(3);
    expect(await api.standing.reads.countRecords()).toBe(3);
  }, 60_000);

  it("given a retraction sent right after its target, when both wait in the stream, then it goes to the target's partition and is applied after it", async () => {
    const { url, keyFile, cluster, api } = await setup(8);
    const a = await api.intake.submit(lines([jaywalk("r-1", "R1")]), { keyId: "k", source: "traffic-police" });
    const b = await api.intake.submit(lines([{ source: "traffic-police", id: "r-1x", retracts: "r-1", occurredAt: iso(NOW - DAY), reason: "wrong person" }]), { keyId: "k", source: "traffic-police" });
    const worker = await node(url, keyFile, cluster);
    const ev = new Evaluator(cluster, worker.standing);
    open.push({ close: () => ev.stop() });
    await ev.start();
    const sa = await until(async () => api.intake.status((await api.intake.manifest(a.receipt))!), (s) => s.done);
    const sb = await until(async () => api.intake.status((await api.intake.manifest(b.receipt))!), (s) => s.done);
    expect(sa.results[0]?.status).toBe("accepted");
    expect(sb.results[0]?.status).toBe("accepted");
  }, 60_000);

  it("given two evaluators, when both run, then the partitions are split between them; when one stops without giving them back, the other takes them all over after the lease", async () => {
    const { url, keyFile, cluster, api } = await setup(8);
    const w1 = await node(url, keyFile, cluster);
    const w2 = await node(url, keyFile, cluster);
    const e1 = new Evaluator(cluster, w1.standing, { id: "e-one" });
    const e2 = new Evaluator(cluster, w2.standing, { id: "e-two" });
    open.push({ close: () => e2.stop() });
    await e1.start();
    await e2.start();
    const split = await until(async () => [e1.held().length, e2.held().length], ([a, b]) => a === 4 && b === 4, 15_000);
    expect(split).toEqual([4, 4]);
    expect(new Set([...e1.held(), ...e2.held()]).size).toBe(8);
    // e1 dies: its timer stops and nothing is given back, as after kill -9.
    (e1 as unknown as { stopped: boolean }).stopped = true;
    for (const l of (e1 as unknown as { leases: Map<number, { stopping: boolean }> }).leases.values()) l.stopping = true;
    const all = await until(async () => e2.held().length, (n) => n === 8, 15_000);
    expect(all).toBe(8);
    const batch = lines(Array.from({ length: 40 }, (_, i) => jaywalk(`t-${i}`, `T${i}`)));
    const sent = await api.intake.submit(batch, { keyId: "k", source: "traffic-police" });
    const s = await until(async () => api.intake.status((await api.intake.manifest(sent.receipt))!), (x) => x.done);
    expect(s.counts.accepted).toBe(40);
    expect((await api.standing.verifyJournal({})).ok).toBe(true);
    expect((await w2.standing.verifyJournal({})).ok).toBe(true);
  }, 60_000);

  it("given a partition fenced by a newer owner, when a stale owner's delivery is applied with its older epoch, then nothing of it commits", async () => {
    const { url, keyFile, cluster } = await setup();
    const w = await node(url, keyFile, cluster);
    await w.standing.ingestDelivered([{ receipt: "r-new", line: 1, input: jaywalk("f-1", "F1") }], async (tx) => {
      expect(await tx.fencePartition(2, 20)).toBe(true);
    });
    await expect(
      w.standing.ingestDelivered([{ receipt: "r-old", line: 1, input: jaywalk("f-2", "F2") }], async (tx) => {
        if (!(await tx.fencePartition(2, 10))) throw new Error("fenced");
      }),
    ).rejects.toThrow("fenced");
    expect(await w.standing.reads.findRecord("traffic-police", "f-2")).toBeUndefined();
    expect(await w.standing.reads.outcomesOf("r-old", 0, 10)).toEqual([]);
  }, 60_000);

  it("given lines delivered again after their commit, when applied, then each keeps its first outcome and has no second effect", async () => {
    const { url, keyFile, cluster } = await setup();
    const w = await node(url, keyFile, cluster);
    const delivery = [
      { receipt: "r-1", line: 1, input: jaywalk("x-1", "X1") },
      { receipt: "r-1", line: 2, input: jaywalk("x-2", "X1") },
    ];
    const first = await w.standing.ingestDelivered(delivery);
    const again = await w.standing.ingestDelivered([...delivery, { receipt: "r-1", line: 3, input: jaywalk("x-3", "X2") }]);
    expect(first.map((r) => [r.result.status, r.applied])).toEqual([
      ["accepted", true],
      ["accepted", true],
    ]);
    expect(again.map((r) => [r.result.status, r.applied])).toEqual([
      ["accepted", false],
      ["accepted", false],
      ["accepted", true],
    ]);
    expect(await w.standing.reads.countRecords()).toBe(3);
  }, 60_000);
});
