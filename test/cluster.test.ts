// A cluster as an operator runs it: two API nodes (`serve --cluster`) and two
// evaluators, real processes on one PostgreSQL database and the machine's NATS. A batch
// sent to one node is answered 202 with a receipt, applied by the evaluators, readable
// on the other node line by line; both nodes answer checks alike; the journal verifies
// with every state replayed.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dropClusters, freshClusterName, TEST_NATS_URL } from "../src/cluster/test-helpers.js";
import { dropCreated, freshDatabase } from "../src/store/postgres/test-helpers.js";
import { cli, get, judgment, post, root, settled, testCluster, type TestCluster } from "./cluster-process.js";
import { exited } from "./pg-process.js";

let c: TestCluster | undefined;
afterAll(async () => {
  await c?.stopAll();
  await dropClusters();
  await dropCreated();
}, 120_000);

/** A port that is free, with the one after it free too (cluster up numbers its nodes from it). */
async function twoFreePorts(): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((res) => {
      const srv = createServer();
      srv.once("error", () => res(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await free(port)) && (await free(port + 1))) return port;
  }
}

describe("standing cluster up", () => {
  it("given a new database, when cluster up starts two API nodes and an evaluator as a new user would, then the first node prints the demo keys and a check that works as printed, both nodes deny the demo debtor with them, and Ctrl-C stops every node", async () => {
    const db = await freshDatabase("up");
    const cwd = mkdtempSync(join(tmpdir(), "standing-cluster-up-"));
    const port = await twoFreePorts();
    const env = { ...process.env, STANDING_JOURNAL_KEY_FILE: db.keyFile, STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: freshClusterName("up"), STANDING_PARTITIONS: "4" };
    const child = spawn(process.execPath, [join(root, "bin", "standing.js"), "cluster", "up", "--store", db.url, "--api", "2", "--evaluators", "1", "--subjects", "1000", "--port", String(port)], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    try {
      const deadline = Date.now() + 120_000;
      while (!/cluster "\S+" is up/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/cluster "\S+" is up: 2 API nodes, 1 evaluator, 4 partitions/);
      // The check printed for the demo, taken as printed (its key, its body) and sent to both nodes.
      const printed = /curl -s -X POST (http:\/\/\S+)\/v1\/checks -H 'authorization: Bearer (\S+)' -H 'content-type: application\/json' -d '([^']+)'/.exec(out);
      expect(printed, out).not.toBeNull();
      const [, first, key, body] = printed as unknown as [string, string, string, string];
      expect(first).toBe(`http://127.0.0.1:${port}`);
      for (const base of [first, `http://127.0.0.1:${port + 1}`]) {
        const res = await fetch(`${base}/v1/checks`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
        const answer = (await res.json()) as { decision?: string; reasons?: { code: string }[] };
        expect(res.status, base).toBe(200);
        expect(answer.decision, base).toBe("deny");
        expect(answer.reasons?.map((r) => r.code), base).toContain("SPC-DEBTOR");
      }
      child.kill("SIGINT");
      const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited(child);
      clearTimeout(t);
      expect(child.exitCode, out).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited(child);
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 180_000);
});

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
