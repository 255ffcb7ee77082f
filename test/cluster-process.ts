// Real processes of a cluster for the tests: API nodes (`serve --cluster`) and
// evaluators on one fresh PostgreSQL database and a cluster name of their own, with
// keys made through the CLI. Each process can be killed (-9) and started again.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freshDatabase } from "../src/store/postgres/test-helpers.js";
import { freshClusterName, TEST_NATS_URL } from "../src/cluster/test-helpers.js";
import { build, cli, exited, root } from "./pg-process.js";

export { build, cli, root };
const bin = join(root, "bin", "standing.js");

export interface Proc {
  readonly name: string;
  child: ChildProcess;
  out: string;
  base?: string;
}

export interface TestCluster {
  readonly url: string;
  readonly env: Record<string, string>;
  readonly keys: { readonly source: string; readonly checkpoint: string; readonly admin: string };
  readonly procs: Proc[];
  api(name: string, extra?: Record<string, string>): Promise<Proc>;
  evaluator(name: string, extra?: Record<string, string>): Proc;
  /** An evaluator, once it has joined the cluster. */
  evaluatorReady(name: string, extra?: Record<string, string>): Promise<Proc>;
  kill(p: Proc): Promise<void>;
  stopAll(): Promise<void>;
}

/** A database with the policy published and keys made, and a cluster name; no process started yet. */
export async function testCluster(label: string, settings: Record<string, string> = {}): Promise<TestCluster> {
  const db = await freshDatabase(label);
  const env: Record<string, string> = {
    STANDING_JOURNAL_KEY_FILE: db.keyFile,
    STANDING_NATS_URL: TEST_NATS_URL,
    STANDING_CLUSTER: freshClusterName(label),
    STANDING_PARTITIONS: "8",
    STANDING_LEASE_MS: "1500",
    STANDING_ACK_WAIT_MS: "4000",
    ...settings,
  };
  const p = cli(["policy", "propose", "policies/municipal-credit.yaml", "--by", "test author", "--store", db.url, "--json"], env);
  if (p.code !== 0) throw new Error(p.stderr);
  const id = (JSON.parse(p.stdout) as { proposal: { id: string } }).proposal.id;
  const a = cli(["policy", "approve", id, "--by", "test approver", "--store", db.url, "--json"], env);
  if (a.code !== 0) throw new Error(a.stderr);
  const key = (args: string[]): string => {
    const r = cli(["keys", "create", ...args, "--store", db.url, "--json"], env);
    if (r.code !== 0) throw new Error(`keys create ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    return (JSON.parse(r.stdout) as { key: string }).key;
  };
  const keys = { source: key(["--role", "source", "--source", "court"]), checkpoint: key(["--role", "checkpoint", "--contexts", "air-travel"]), admin: key(["--role", "admin"]) };
  const procs: Proc[] = [];
  const spawnProc = (name: string, args: string[], extra: Record<string, string>): Proc => {
    const child = spawn(process.execPath, [bin, ...args, "--store", db.url], { cwd: root, env: { ...process.env, ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
    const proc: Proc = { name, child, out: "" };
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => (proc.out += d));
    child.stderr?.on("data", (d: Buffer) => (proc.out += d.toString()));
    procs.push(proc);
    return proc;
  };
  return {
    url: db.url,
    env,
    keys,
    procs,
    async api(name, extra = {}) {
      const proc = spawnProc(name, ["serve", "--cluster", "--port", "0", "--log-level", "warn"], extra);
      const deadline = Date.now() + 30_000;
      while (!/serving at (http:\/\/\S+)/.test(proc.out) && Date.now() < deadline && proc.child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      const base = /serving at (http:\/\/\S+)/.exec(proc.out)?.[1];
      if (!base) throw new Error(`${name} did not start: ${proc.out}`);
      proc.base = base;
      return proc;
    },
    evaluator(name, extra = {}) {
      return spawnProc(name, ["evaluator"], extra);
    },
    async evaluatorReady(name, extra = {}) {
      const proc = spawnProc(name, ["evaluator"], extra);
      const deadline = Date.now() + 30_000;
      while (!/evaluator \S+ on cluster/.test(proc.out) && Date.now() < deadline && proc.child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      if (!/evaluator \S+ on cluster/.test(proc.out)) throw new Error(`${name} did not start: ${proc.out}`);
      return proc;
    },
    async kill(p) {
      p.child.kill("SIGKILL");
      await exited(p.child);
    },
    async stopAll() {
      await Promise.all(
        procs.map(async (p) => {
          if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
          const t = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
          await exited(p.child);
          clearTimeout(t);
        }),
      );
    },
  };
}

export const NDJSON = { "content-type": "application/x-ndjson" };

export async function post(base: string, key: string, path: string, body: string, headers: Record<string, string> = NDJSON): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${key}`, ...headers }, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

export async function get(base: string, key: string, path: string): Promise<{ status: number; json: unknown }> {
  // A keep-alive socket the server closed just as it was reused fails the request
  // (EPIPE, ECONNRESET) before the server saw it: a GET is sent again.
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
      return { status: res.status, json: (await res.json()) as unknown };
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}

/** Waits for a batch to be done, reading its receipt from `base`. */
export async function settled(base: string, key: string, receipt: string, ms = 120_000): Promise<{ counts: Record<string, number>; done: boolean }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await get(base, key, `/v1/batches/${receipt}?limit=1`).catch(() => ({ status: 0, json: undefined }));
    const s = r.json as { counts: Record<string, number>; done: boolean } | undefined;
    if ((r.status === 200 && s?.done) || Date.now() > deadline) return s ?? { counts: {}, done: false };
    await new Promise((res) => setTimeout(res, 200));
  }
}

const NOW = Date.now();
/** A court's default judgment about `who` (a restriction once it takes effect), line `i` of a load. */
export function judgment(id: string, who: string, daysAgo = 30): Record<string, unknown> {
  return { source: "court", id, type: "court.judgment.default", subject: { scheme: "national-id", value: who }, occurredAt: new Date(NOW - daysAgo * 86_400_000).toISOString(), fields: { case: `C-${id}`, amount: 5000 }, evidence: `case-file://${id}` };
}
