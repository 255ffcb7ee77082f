// `standing keys create|list|revoke` as an operator runs them (real processes, a real
// database file), and what the HTTP API then makes of the keys: the server is built
// in-process on the same database file.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../src/api/server.js";
import { Standing } from "../src/standing.js";
import { SqliteStore } from "../src/store/sqlite/store.js";
import { ManualClock } from "../src/time.js";
import { demoKeys } from "../src/cli/welcome.js";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");
const NOW = "2026-11-26T12:00:00Z";
const KEY = /stk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}/g;

function standing(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, STANDING_NOW: NOW } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Publishes a policy as an operator does: one person proposes it, another approves it. */
function publishPolicy(file: string, db: string): { code: number; stdout: string; stderr: string } {
  const p = standing(["policy", "propose", file, "--by", "test author", "--db", db, "--json"]);
  if (p.code !== 0) return p;
  const id = (JSON.parse(p.stdout) as { proposal: { id: string } }).proposal.id;
  return standing(["policy", "approve", id, "--by", "test approver", "--db", db, "--json"]);
}

const dir = mkdtempSync(join(tmpdir(), "standing-keys-"));
const db = join(dir, "s.db");

beforeAll(() => {
  const pub = publishPolicy("policies/municipal-credit.yaml", db);
  if (pub.code !== 0) throw new Error(`policy publish failed: ${pub.stdout}${pub.stderr}`);
}, 180_000);

/** The server, in this process, on the same database file, following the change feed as `standing serve` does. */
async function openServer(): Promise<{ app: FastifyInstance; close: () => Promise<void> }> {
  const s = new Standing(new SqliteStore(db), new ManualClock(Date.parse(NOW)));
  await s.follow();
  const app = buildServer(s);
  return {
    app,
    close: async () => {
      await app.close();
      await s.close();
    },
  };
}

describe("standing keys", () => {
  let checkpointKey = "";
  let checkpointId = "";
  let sourceKey = "";

  it("create prints the key once, with its id, role and what to do with it", () => {
    const r = standing(["keys", "create", "--role", "checkpoint", "--contexts", "air-travel,rail-high-speed", "--label", "Sky Air booking", "--db", db]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const keys = r.stdout.match(KEY) ?? [];
    expect(keys).toHaveLength(1);
    checkpointKey = keys[0] as string;
    checkpointId = checkpointKey.slice(4, 16);
    expect(r.stdout).toContain(`checkpoint key ${checkpointId}`);
    expect(r.stdout).toMatch(/shown once/);
    const json = standing(["keys", "create", "--role", "source", "--source", "court", "--label", "District court", "--db", db, "--json"]);
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { key: string; keyId: string; role: string; source: string; contexts: string[]; subjectId: number | null; label: string };
    expect(out).toMatchObject({ role: "source", source: "court", contexts: [], subjectId: null, label: "District court" });
    expect(out.key).toMatch(KEY);
    expect(out.key.slice(4, 16)).toBe(out.keyId);
    sourceKey = out.key;
  });

  it("list never shows a key, only ids, roles and labels", () => {
    const r = standing(["keys", "list", "--db", db]);
    expect(r.code).toBe(0);
    expect(r.stdout.match(KEY)).toBeNull();
    for (const k of [checkpointKey, sourceKey]) expect(r.stdout).not.toContain(k.slice(17));
    expect(r.stdout).toContain(checkpointId);
    expect(r.stdout).toContain("Sky Air booking");
    expect(r.stdout).toContain("contexts=air-travel,rail-high-speed");
    expect(r.stdout).toContain("source=court");
    const json = standing(["keys", "list", "--db", db, "--json"]);
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(["contexts", "createdAt", "keyId", "label", "revokedAt", "role", "source", "subjectId"]);
      expect(row.revokedAt).toBeNull();
    }
    expect(json.stdout).not.toContain(checkpointKey.slice(17));
  });

  it("the keys work over HTTP; once revoked, the revoked one is refused with 401 within the change feed's bound", async () => {
    const server = await openServer();
    try {
      const ask = () => server.app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: `Bearer ${checkpointKey}` }, payload: { subject: { scheme: "national-id", value: "anyone" }, context: "air-travel" } });
      const before = await ask();
      expect(before.statusCode).toBe(200);
      expect(before.json()).toMatchObject({ decision: "allow", policy: "municipal-credit@2026.1.0" });
      const rec = await server.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: `Bearer ${sourceKey}` }, payload: { source: "court", id: "cli-1", type: "court.judgment.fulfilled", subject: { scheme: "national-id", value: "anyone" }, occurredAt: "2026-11-20T10:00:00+08:00", fields: { case: "K-1" } } });
      expect(rec.statusCode).toBe(201);

      const r = standing(["keys", "revoke", checkpointId, "--db", db]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`revoked ${checkpointId}`);
      // The running server learns of it from the change feed: no restart needed. The
      // feed's bound is one poll (200 ms); the margin is for a loaded machine. Polled on
      // /healthz, which authenticates the key but logs no lookup on anyone's file.
      const health = () => server.app.inject({ method: "GET", url: "/healthz", headers: { authorization: `Bearer ${checkpointKey}` } });
      await expect.poll(async () => (await health()).statusCode, { timeout: 2_000, interval: 20 }).toBe(401);
      const after = await ask();
      expect(after.statusCode).toBe(401);
      expect(after.json()).toMatchObject({ error: { code: "unauthorized", details: { keyId: checkpointId } } });
      // The other key is untouched.
      const still = await server.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: `Bearer ${sourceKey}` }, payload: { source: "court", id: "cli-1", type: "court.judgment.fulfilled", subject: { scheme: "national-id", value: "anyone" }, occurredAt: "2026-11-20T10:00:00+08:00", fields: { case: "K-1" } } });
      expect(still.statusCode).toBe(200);
    } finally {
      await server.close();
    }
    const list = standing(["keys", "list", "--db", db, "--json"]);
    const rows = JSON.parse(list.stdout) as { keyId: string; revokedAt: string | null }[];
    expect(rows.find((k) => k.keyId === checkpointId)?.revokedAt).toBe(new Date(NOW).toISOString());
    expect(standing(["keys", "list", "--db", db]).stdout).toMatch(new RegExp(`${checkpointId}\\s+checkpoint\\s+REVOKED`));
  });

  it("revoking an unknown or already revoked key is refused, exit code 1", () => {
    for (const id of [checkpointId, "000000000000", "nonsense"]) {
      const r = standing(["keys", "revoke", id, "--db", db]);
      expect(r.code, id).toBe(1);
      expect(r.stderr, id).toContain(`[not-found] no active key ${id}`);
      expect(r.stderr, id).not.toContain("    at ");
    }
  });

  it("a key request that makes no sense is refused with exit code 1 and a readable message, and nothing is stored", () => {
    const cases: [string[], string][] = [
      [["--role", "wizard"], 'role "wizard" is not one of source, checkpoint, admin, policy-author, policy-approver, reviewer, auditor, subject'],
      [["--role", "source"], "a source key needs --source ID"],
      [["--role", "source", "--source", "gossip-column"], 'may be submitted by source "gossip-column"'],
      [["--role", "checkpoint"], "a checkpoint key needs --contexts"],
      [["--role", "checkpoint", "--contexts", "air-travel,moon-landing"], '[unknown-context] policy municipal-credit@2026.1.0 has no context "moon-landing"'],
      [["--role", "admin", "--contexts", "air-travel"], "an admin key takes no --contexts"],
      [["--role", "auditor", "--source", "court"], "takes no --source"],
      [["--role", "subject"], "a subject key needs --subject"],
      [["--role", "subject", "--subject", "national-id:nobody"], "[not-found] no subject has national-id:nobody"],
      [["--role", "subject", "--subject", "no-colon"], "[invalid-identifier]"],
    ];
    const before = (JSON.parse(standing(["keys", "list", "--db", db, "--json"]).stdout) as unknown[]).length;
    for (const [args, message] of cases) {
      const r = standing(["keys", "create", ...args, "--db", db]);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toContain(message);
      expect(r.stderr, args.join(" ")).toMatch(/^standing: error \[[a-z-]+\] /);
      expect(r.stderr, args.join(" ")).not.toContain("    at ");
      expect(r.stdout.match(KEY), args.join(" ")).toBeNull();
    }
    // --json: the refusal as data.
    const json = standing(["keys", "create", "--role", "wizard", "--db", db, "--json"]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: "bad-request" } });
    expect((JSON.parse(standing(["keys", "list", "--db", db, "--json"]).stdout) as unknown[]).length).toBe(before);
  });

  it("a missing --role is a usage error, exit code 2", () => {
    const r = standing(["keys", "create", "--db", db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--role");
  });

  it("a subject key reads its own file over HTTP, and only its own", async () => {
    const r = standing(["keys", "create", "--role", "subject", "--subject", "national-id:anyone", "--label", "self", "--db", db, "--json"]);
    expect(r.code).toBe(0);
    const { key, subjectId } = JSON.parse(r.stdout) as { key: string; subjectId: number };
    const server = await openServer();
    try {
      const own = await server.app.inject({ method: "GET", url: `/v1/subjects/${subjectId}/statement`, headers: { authorization: `Bearer ${key}` } });
      expect(own.statusCode).toBe(200);
      // The revoked checkpoint's earlier lookup is on the file, with its label.
      expect((own.json() as { lookups: { askedBy: string }[] }).lookups.map((l) => l.askedBy)).toEqual([expect.stringContaining("Sky Air booking")]);
      const other = await server.app.inject({ method: "GET", url: `/v1/subjects/${subjectId + 1}`, headers: { authorization: `Bearer ${key}` } });
      expect(other.statusCode).toBe(403);
    } finally {
      await server.close();
    }
  });
});


describe("the demo keys `serve --demo` prints", () => {
  const policyText = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
  const demoDir = mkdtempSync(join(tmpdir(), "standing-demo-keys-"));
  const demoDb = join(demoDir, "standing.db");

  /** A fresh database with one debtor whose air-travel ban is in force. */
  async function freshDemo(): Promise<Standing> {
    rmSync(demoDir, { recursive: true, force: true });
    const clock = new ManualClock(Date.parse("2026-10-01T00:00:00Z"));
    const s = new Standing(new SqliteStore(demoDb), clock);
    await s.publish(policyText, "municipal-credit.yaml");
    await s.ingest([{ source: "court", id: "d-1", type: "court.judgment.default", subject: { scheme: "national-id", value: "demo-debtor" }, occurredAt: "2026-09-30T10:00:00+08:00", fields: { case: "K-1", amount: 100 }, evidence: "file://k-1" }]);
    clock.set(Date.parse(NOW));
    await s.advance();
    return s;
  }

  async function works(s: Standing, keys: Record<string, string>): Promise<number[]> {
    const app = buildServer(s);
    try {
      const statuses: number[] = [];
      statuses.push((await app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${keys.admin}` } })).statusCode);
      statuses.push((await app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: `Bearer ${keys.checkpoint}` }, payload: { subject: { scheme: "national-id", value: "demo-debtor" }, context: "air-travel" } })).statusCode);
      return statuses;
    } finally {
      await app.close();
    }
  }

  it("are kept while they open the database, and made afresh when the database was replaced", async () => {
    const first = await freshDemo();
    const a = await demoKeys(first, demoDb);
    expect(a).toBeDefined();
    expect(await works(first, a?.keys ?? {})).toEqual([200, 200]);
    expect((await demoKeys(first, demoDb))?.keys).toEqual(a?.keys);
    await first.close();
    // The database is deleted and made again; the keys file beside it is left over.
    const keysFile = readFileSync(join(demoDir, "demo-keys.json"), "utf8");
    const second = await freshDemo();
    writeFileSync(join(demoDir, "demo-keys.json"), keysFile, { mode: 0o600 });
    const b = await demoKeys(second, demoDb);
    expect(b?.keys.admin).not.toBe(a?.keys.admin);
    expect(await works(second, b?.keys ?? {})).toEqual([200, 200]);
    await second.close();
  });
});
