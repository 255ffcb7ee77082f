// A cluster as an operator runs it: two API nodes (`serve --cluster`) and two
// evaluators, real processes on one PostgreSQL database and the machine's NATS. A batch
// sent to one node is answered 202 with a receipt, applied by the evaluators, readable
// on the other node line by line; both nodes answer checks alike; the journal verifies
// with every state replayed.
import { afterAll, describe, expect, it } from "vitest";
import { dropClusters } from "../src/cluster/test-helpers.js";
import { dropCreated } from "../src/store/postgres/test-helpers.js";
import { cli, get, judgment, post, settled, testCluster, type TestCluster } from "./cluster-process.js";

let c: TestCluster | undefined;
afterAll(async () => {
  await c?.stopAll();
  await dropClusters();
  await dropCreated();
}, 120_000);

describe("standing serve --cluster and standing evaluator", () => {
  it("given two API nodes and two evaluators, when a batch goes to one node, then it is answered 202 with a receipt, applied once, readable on the other node, and both nodes check alike", async () => {
    c = await testCluster("cl");
    const a = await c.api("api-a");
    const b = await c.api("api-b");
    c.evaluator("ev-1");
    c.evaluator("ev-2");
    const lines = Array.from({ length: 600 }, (_, i) => JSON.stringify(judgment(`k-${i}`, `K${i % 200}`)));
    lines.splice(10, 0, "{not json", JSON.stringify({ source: "court", id: "no-type" }), JSON.stringify({ ...judgment("other", "K1"), source: "airline" }));
    const sent = await post(a.base as string, c.keys.source, "/v1/records", lines.join("\n") + "\n");
    expect(sent.status).toBe(202);
    const body = sent.json as { receipt: string; lines: number; published: number; rejected: number; errors: { line: number; status: string; error: { code: string } }[] };
    expect(body).toMatchObject({ lines: 603, published: 600, rejected: 3 });
    expect(body.errors.map((e) => [e.line, e.error.code])).toEqual([
      [11, "bad-request"],
      [12, "invalid-record"],
      [13, "forbidden"],
    ]);
    const done = await settled(b.base as string, c.keys.source, body.receipt);
    expect(done.done).toBe(true);
    expect(done.counts).toEqual({ pending: 0, accepted: 600, duplicate: 0, quarantined: 0, rejected: 3 });
    const page = await get(b.base as string, c.keys.source, `/v1/batches/${body.receipt}?after=9&limit=5`);
    expect((page.json as { results: { line: number; status: string }[] }).results.map((r) => [r.line, r.status])).toEqual([
      [10, "accepted"],
      [11, "rejected"],
      [12, "rejected"],
      [13, "rejected"],
      [14, "accepted"],
    ]);
    const one = await get(b.base as string, c.keys.source, "/v1/records/court/k-7");
    expect(one.json).toMatchObject({ status: "accepted", receipt: body.receipt, line: 8 });
    expect((await get(b.base as string, c.keys.source, "/v1/records/court/never")).status).toBe(404);

    // The synchronous mode answers as a single node does.
    const sync = await post(b.base as string, c.keys.source, "/v1/records?wait=20", JSON.stringify(judgment("sync-1", "S1")), { "content-type": "application/json" });
    expect(sync.status).toBe(201);
    expect(sync.json).toMatchObject({ status: "accepted", id: "sync-1" });
    const again = await post(a.base as string, c.keys.source, "/v1/records?wait=20", JSON.stringify(judgment("sync-1", "S1")), { "content-type": "application/json" });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ status: "duplicate" });

    // Both nodes follow the store and answer alike.
    const deadline = Date.now() + 20_000;
    let differ: string[];
    do {
      differ = [];
      for (let i = 0; i < 200; i += 7) {
        const q = `/v1/checks?subject=national-id:K${i}&context=air-travel`;
        const [x, y] = await Promise.all([get(a.base as string, c.keys.checkpoint, q), get(b.base as string, c.keys.checkpoint, q)]);
        const ax = x.json as { decision: string; reasons: unknown };
        const by = y.json as { decision: string; reasons: unknown };
        if (ax.decision !== by.decision) differ.push(`K${i}`);
      }
      if (differ.length > 0) await new Promise((r) => setTimeout(r, 300));
    } while (differ.length > 0 && Date.now() < deadline);
    expect(differ).toEqual([]);

    // The evaluators' lag per partition is in the node's metrics.
    const metrics = await fetch(`${a.base}/metrics`, { headers: { authorization: `Bearer ${c.keys.admin}` } });
    const text = await metrics.text();
    expect(text, text.split("\n").filter((l) => l.includes("cluster")).join("\n")).toMatch(/standing_cluster_records_pending\{partition="0"\} 0/);
    expect(text).toMatch(/standing_cluster_records_redelivered\{partition="7"\} \d+/);

    const verify = cli(["audit", "verify", "--store", c.url, "--json"], c.env);
    expect(verify.stderr).toBe("");
    expect((JSON.parse(verify.stdout) as { ok: boolean }).ok).toBe(true);
  }, 180_000);

  it("given --cluster on the embedded store, or no NATS, when serve starts, then it refuses in one line naming what is missing", async () => {
    const r = cli(["serve", "--cluster", "--db", ":memory:", "--port", "0"], { STANDING_STORE: "" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs a PostgreSQL store/);
    const url = c?.url as string;
    const n = cli(["serve", "--cluster", "--store", url, "--port", "0"], { ...c?.env, STANDING_NATS_URL: "nats://127.0.0.1:1" });
    expect(n.code).toBe(1);
    expect(n.stderr).toMatch(/cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  }, 60_000);
});
