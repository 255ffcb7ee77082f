// Failures under ingest on PostgreSQL, with real processes: the server's connections
// killed mid-transaction (pg_terminate_backend), and the server process itself killed
// and started again, while a client keeps sending batches and retries what was not
// acknowledged. No acknowledged record is lost; none is stored or accepted twice.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { behindTheBack, dropCreated, freshDatabase } from "../src/store/postgres/test-helpers.js";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");
const NOW = Date.parse("2026-11-26T12:00:00Z");
const DAY = 86_400_000;
const iso = (t: number): string => new Date(t).toISOString();

beforeAll(() => {
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
}, 120_000);

const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await dropCreated();
}, 300_000);

function cli(args: string[], env: Record<string, string>): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Publishes a policy as an operator does: one person proposes it, another approves it. */
function publish(url: string, env: Record<string, string>): number {
  const p = cli(["policy", "propose", "policies/municipal-credit.yaml", "--by", "test author", "--store", url, "--json"], env);
  if (p.code !== 0) return p.code;
  const id = (JSON.parse(p.stdout) as { proposal: { id: string } }).proposal.id;
  return cli(["policy", "approve", id, "--by", "test approver", "--store", url, "--json"], env).code;
}

async function serve(url: string, env: Record<string, string>): Promise<{ base: string; child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [bin, "serve", "--store", url, "--port", "0", "--log-level", "warn"], { cwd: root, env: { ...process.env, ...env } });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (d: string) => (out += d));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!/serving at (http:\/\/\S+)/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  const base = /serving at (http:\/\/\S+)/.exec(out)?.[1];
  if (!base) throw new Error(`serve did not start: ${out}${err}`);
  return { base, child, stderr: () => err };
}

const debt = (id: string, who: string) => ({ source: "court", id, type: "court.judgment.default", subject: { scheme: "national-id", value: who }, occurredAt: iso(NOW - DAY), fields: { case: `K-${id}`, amount: 9000 }, evidence: "file://k" });

describe("ingest through a server on PostgreSQL, under failures", () => {
  it("given connections killed mid-transaction and the server killed and restarted, when the client retries what was not acknowledged, then every record is stored once", async () => {
    const db = await freshDatabase("failures");
    const env = { STANDING_JOURNAL_KEY_FILE: db.keyFile, STANDING_NOW: iso(NOW) };
    expect(publish(db.url, env)).toBe(0);
    const court = { authorization: `Bearer ${(JSON.parse(cli(["keys", "create", "--role", "source", "--source", "court", "--store", db.url, "--json"], env).stdout) as { key: string }).key}`, "content-type": "application/x-ndjson" };

    let server = await serve(db.url, env);
    const total = 600;
    const records = Array.from({ length: total }, (_, i) => debt(`f-${i}`, `P${i % 150}`));
    const acceptedAcks = new Map<string, number>();
    const acknowledged = new Set<string>();
    let failures = 0;
    let killed = 0;
    let stop = false;
    // Kills the server's connections that are inside a statement or a transaction.
    const killer = (async () => {
      while (!stop && killed < 6) {
        const r = await behindTheBack(
          db.url,
          "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'standing' AND state IN ('active', 'idle in transaction')",
        );
        killed += Number(r.rows[0]?.n ?? 0);
        await new Promise((res) => setTimeout(res, Number(r.rows[0]?.n ?? 0) > 0 ? 700 : 20));
      }
    })();
    try {
      for (let i = 0; i < total; i += 50) {
        const batch = records.slice(i, i + 50);
        if (i === total / 2) {
          // The server process dies in the middle of the run, and a new one takes over.
          server.child.kill("SIGKILL");
          await new Promise((res) => server.child.once("exit", res));
          server = await serve(db.url, env);
        }
        for (let attempt = 0; ; attempt++) {
          expect(attempt).toBeLessThan(200);
          let statuses: { status?: string; id?: string; error?: { code?: string } }[] | undefined;
          try {
            const r = await fetch(`${server.base}/v1/records`, { method: "POST", headers: court, body: batch.map((x) => JSON.stringify(x)).join("\n") + "\n" });
            if (r.status === 200) statuses = (await r.text()).trim().split("\n").map((l) => JSON.parse(l) as { status: string; id?: string });
            else {
              const body = (await r.json()) as { error?: { code?: string } };
              expect(r.status, JSON.stringify(body)).toBe(503); // a storage error, never a 500
              expect(body.error?.code).toBe("storage-unavailable");
            }
          } catch {
            // the connection to the server failed: not acknowledged
          }
          if (statuses) {
            // A batch is answered slice by slice: a failure after the first slice ends the
            // answer with one error line, and only the lines answered before it were taken.
            const last = statuses.at(-1);
            const cut = last?.error !== undefined;
            if (cut) expect(last?.error?.code).toBe("storage-unavailable");
            (cut ? statuses.slice(0, -1) : statuses).forEach((s, j) => {
              const id = batch[j]?.id as string;
              expect(["accepted", "duplicate"]).toContain(s.status);
              acknowledged.add(id);
              if (s.status === "accepted") acceptedAcks.set(id, (acceptedAcks.get(id) ?? 0) + 1);
            });
            if (!cut) break;
          }
          failures++;
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    } finally {
      stop = true;
      await killer;
      server.child.kill("SIGTERM");
      await new Promise((res) => server.child.once("exit", res));
    }
    expect(killed).toBeGreaterThan(0);
    expect(failures).toBeGreaterThan(0);
    expect(acknowledged.size).toBe(total);
    expect([...acceptedAcks.values()].every((n) => n === 1)).toBe(true);
    const stored = await behindTheBack(db.url, "SELECT count(*) AS n, count(DISTINCT record_id) AS d FROM records");
    expect(Number(stored.rows[0]?.n)).toBe(total);
    expect(Number(stored.rows[0]?.d)).toBe(total);
    const v = cli(["audit", "verify", "--store", db.url, "--json"], env);
    expect((JSON.parse(v.stdout) as { problems: unknown[] }).problems).toEqual([]);
    expect(v.code).toBe(0);
  }, 480_000);
});
