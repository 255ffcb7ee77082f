// `serve` as an operator starts it: its request log on stdout at the chosen level.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
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
