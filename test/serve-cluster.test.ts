// `standing serve --cluster`, as a cluster runs it: real server processes on one
// PostgreSQL database and a real NATS server (a cluster name of the test's own). A
// record posted to one node reaches the other through the change stream, one relay
// holds the database's lease at a time, and when its process ends another takes over,
// so a CLI's commit still reaches the node left. SQLite is refused in one line.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dropClusters, freshClusterName, TEST_NATS_URL } from "../src/cluster/test-helpers.js";
import { behindTheBack, dropCreated, freshDatabase } from "../src/store/postgres/test-helpers.js";
import { exited } from "./pg-process.js";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");
const NOW = Date.parse("2026-11-26T12:00:00Z");
const DAY = 86_400_000;
const iso = (t: number): string => new Date(t).toISOString();
const WAIT = { timeout: 20_000, interval: 50 };


const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await dropClusters();
  await dropCreated();
}, 300_000);

function cli(args: string[], env: Record<string, string>): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function publish(url: string, env: Record<string, string>): number {
  const p = cli(["policy", "propose", "policies/municipal-credit.yaml", "--by", "test author", "--store", url, "--json"], env);
  if (p.code !== 0) return p.code;
  const id = (JSON.parse(p.stdout) as { proposal: { id: string } }).proposal.id;
  return cli(["policy", "approve", id, "--by", "test approver", "--store", url, "--json"], env).code;
}

async function serveNode(url: string, env: Record<string, string>): Promise<{ base: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [bin, "serve", "--cluster", "--store", url, "--port", "0", "--log-level", "warn"], { cwd: root, env: { ...process.env, ...env } });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (d: string) => (out += d));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!/serving at (http:\/\/\S+)/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  const base = /serving at (http:\/\/\S+)/.exec(out)?.[1];
  if (!base) throw new Error(`serve --cluster did not start: ${out}${err}`);
  return {
    base,
    pid: child.pid ?? 0,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited(child);
    },
  };
}

const retraction = (id: string, target: string) => ({ source: "court", id, retracts: target, occurredAt: iso(NOW - DAY), reason: "entered in error" });
/** `standing evaluator`: applies the records the nodes publish. */
async function evaluator(url: string, env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, [bin, "evaluator", "--store", url], { cwd: root, env: { ...process.env, ...env } });
  children.push(child);
  let out = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (d: string) => (out += d));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!/evaluator \S+ on cluster/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  if (!/evaluator \S+ on cluster/.test(out)) throw new Error(`the evaluator did not start: ${out}`);
}

const debt = (id: string, who: string, at: number) => ({ source: "court", id, type: "court.judgment.default", subject: { scheme: "national-id", value: who }, occurredAt: iso(at), fields: { case: `K-${id}`, amount: 9000 }, evidence: "file://k" });

describe("serve --cluster", () => {
  it("given an embedded SQLite store, when served as a cluster node, then it is refused in one line naming PostgreSQL", () => {
    const dir = mkdtempSync(join(tmpdir(), "standing-cluster-sqlite-"));
    try {
      const r = cli(["serve", "--cluster", "--db", join(dir, "s.db"), "--port", "0"], { STANDING_NATS_URL: TEST_NATS_URL });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/--cluster needs a PostgreSQL store/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("given two nodes on one database, then one relay holds the lease, a retraction posted to one and applied by an evaluator is answered by both, and when the relay's process ends the other takes the lease and still follows", async () => {
    const db = await freshDatabase("cluster-serve");
    // Records are ten days old when the nodes start: the debtor measure's notice has run.
    const env = { STANDING_JOURNAL_KEY_FILE: db.keyFile, STANDING_NOW: iso(NOW), STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: freshClusterName("serve"), STANDING_PARTITIONS: "1" };
    const before = { ...env, STANDING_NOW: iso(NOW - 10 * DAY) };
    expect(publish(db.url, before)).toBe(0);
    // Two debtors whose measures are in force by NOW (their notice has run).
    const dir = mkdtempSync(join(tmpdir(), "standing-cluster-"));
    const ingest = (lines: unknown[], at: Record<string, string>): number => {
      const file = join(dir, "r.ndjson");
      writeFileSync(file, lines.map((x) => JSON.stringify(x)).join("\n") + "\n");
      return cli(["ingest", file, "--store", db.url, "--json"], at).code;
    };
    expect(ingest([debt("seed-1", "D1", NOW - 11 * DAY), debt("seed-2", "D2", NOW - 11 * DAY)], before)).toBe(0);
    expect(cli(["tick", "--store", db.url, "--json"], env).code).toBe(0);
    const key = (args: string[]): string => (JSON.parse(cli(["keys", "create", ...args, "--store", db.url, "--json"], env).stdout) as { key: string }).key;
    const court = { authorization: `Bearer ${key(["--role", "source", "--source", "court", "--label", "court"])}` };
    const gate = { authorization: `Bearer ${key(["--role", "checkpoint", "--contexts", "air-travel", "--label", "gate"])}` };

    const [a, b] = await Promise.all([serveNode(db.url, env), serveNode(db.url, env), evaluator(db.url, env)]);
    try {
      const check = async (base: string, who: string): Promise<string> => {
        const r = await fetch(`${base}/v1/checks?subject=national-id:${who}&context=air-travel`, { headers: gate });
        expect(r.status).toBe(200);
        return ((await r.json()) as { decision: string }).decision;
      };
      const health = async (base: string): Promise<{ status: number; body: { feed: { stale: boolean; maxStalenessMs: number; position: number } } }> => {
        const r = await fetch(`${base}/healthz`);
        return { status: r.status, body: (await r.json()) as { feed: { stale: boolean; maxStalenessMs: number; position: number } } };
      };
      await expect.poll(async () => (await health(b.base)).status, WAIT).toBe(200);
      expect((await health(b.base)).body.feed).toMatchObject({ stale: false, maxStalenessMs: 5000 });

      // One relay across both processes: one lease among the database's advisory locks, held by one of the two.
      const holders = async (): Promise<number[]> =>
        (await behindTheBack(db.url, "SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.granted", [0x5352])).rows.map((r) => Number(/pid (\d+)/.exec(String(r.name))?.[1]));
      await expect.poll(async () => (await holders()).length, WAIT).toBe(1);
      const [leader] = await holders();
      expect([a.pid, b.pid]).toContain(leader);
      const [relay, other] = leader === a.pid ? [a, b] : [b, a];

      expect(await check(a.base, "D1")).toBe("deny");
      expect(await check(b.base, "D1")).toBe("deny");
      // Posted to one node, applied by the evaluator, known to both through the change stream.
      const posted = await fetch(`${other.base}/v1/records?wait=10`, { method: "POST", headers: { ...court, "content-type": "application/json" }, body: JSON.stringify(retraction("seed-1-r", "seed-1")) });
      expect(posted.status).toBeLessThan(300);
      await expect.poll(() => check(relay.base, "D1"), WAIT).toBe("allow");
      await expect.poll(() => check(other.base, "D1"), WAIT).toBe("allow");

      // The relay's node goes: the other takes the lease, and a retraction committed by a CLI beside them reaches it.
      await relay.stop();
      await expect.poll(holders, WAIT).toEqual([other.pid]);
      expect(await check(other.base, "D2")).toBe("deny");
      expect(ingest([retraction("seed-2-r", "seed-2")], env)).toBe(0);
      await expect.poll(() => check(other.base, "D2"), WAIT).toBe("allow");
      expect((await health(other.base)).status).toBe(200);
    } finally {
      await a.stop();
      await b.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
