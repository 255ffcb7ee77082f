// `serve` as an operator starts it: its request log on stdout at the chosen level.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { exited } from "./pg-process.js";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");


/** Starts serve on a new database, asks /healthz and /v1/checks?…, stops it, and returns what it printed. */
async function serveAndAsk(level: string): Promise<string> {
  const db = join(mkdtempSync(join(tmpdir(), "standing-serve-")), "s.db");
  const child = spawn(process.execPath, [bin, "serve", "--db", db, "--port", "0", "--log-level", level], { cwd: root, env: { ...process.env, STANDING_NOW: "2026-11-26T12:00:00Z" } });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => (out += d));
  child.stderr.on("data", () => undefined);
  try {
    const deadline = Date.now() + 30_000;
    while (!/serving at (http:\/\/\S+)/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const url = /serving at (http:\/\/\S+)/.exec(out)?.[1];
    if (!url) throw new Error(`serve did not start: ${out}`);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/v1/checks?subject=national-id:someone-private&context=air-travel`, { headers: { authorization: "Bearer stk_0123456789ab_notakey" } })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    return out;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited(child);
  }
}

describe("serve --log-level", () => {
  it("info: one JSON line per request with request id, route, status and latency; no query, no key", async () => {
    const out = await serveAndAsk("info");
    const lines = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === "request completed");
    expect(requests.map((l) => [l.route, l.statusCode])).toEqual([["/healthz", 200], ["/v1/checks", 401]]);
    for (const l of requests) expect(l).toMatchObject({ reqId: expect.any(String) as string, responseTime: expect.any(Number) as number });
    expect(out).not.toContain("someone-private");
    expect(out).not.toContain("notakey");
  }, 60_000);

  it("warn: no request lines", async () => {
    const out = await serveAndAsk("warn");
    expect(out).toContain("serving at");
    expect(out).not.toContain("request completed");
  }, 60_000);
});

/** Starts serve with `args` on `db`, runs `ask` with its URL and what it printed so far, then stops it with SIGTERM. */
async function serving<T>(db: string, args: string[], ask: (url: string, out: string) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [bin, "serve", "--db", db, "--port", "0", "--log-level", "warn", ...args], { cwd: root, env: { ...process.env, STANDING_NOW: "2026-11-26T12:00:00Z" } });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => (out += d));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  try {
    const deadline = Date.now() + 60_000;
    while (!/serving at (http:\/\/\S+)/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    const url = /serving at (http:\/\/\S+)/.exec(out)?.[1];
    if (!url) throw new Error(`serve did not start: ${out}`);
    return await ask(url, out);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited(child);
  }
}

describe("serve keeps its decision index between runs", () => {
  it("given a server stopped with SIGTERM, when it starts again, then it reads its index from the file beside the database and answers the printed check as before", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "standing-serve-")), "s.db");
    const ask = async (url: string, out: string): Promise<{ indexed: number; answer: unknown }> => {
      const health = (await (await fetch(`${url}/healthz`)).json()) as { indexedSubjects: number };
      const printed = /curl -s -X POST \S+\/v1\/checks -H 'authorization: Bearer (\S+)' -H 'content-type: application\/json' -d '([^']+)'/.exec(out);
      if (!printed) throw new Error(`no check printed: ${out}`);
      const res = await fetch(`${url}/v1/checks`, { method: "POST", headers: { authorization: `Bearer ${printed[1] as string}`, "content-type": "application/json" }, body: printed[2] as string });
      const { decision, reasons } = (await res.json()) as { decision: string; reasons: unknown };
      return { indexed: health.indexedSubjects, answer: { decision, reasons } };
    };
    const first = await serving(db, ["--demo", "--subjects", "400"], ask);
    expect(first.indexed).toBeGreaterThan(0);
    expect(existsSync(`${db}.index`)).toBe(true);
    const second = await serving(db, ["--demo"], async (url, out) => {
      expect(out).toMatch(/decision index: read from .*s\.db\.index, then \d+ changes since it was written/);
      return ask(url, out);
    });
    expect(second).toEqual(first);
    expect(first.answer).toMatchObject({ decision: "deny" });
  }, 120_000);
});

