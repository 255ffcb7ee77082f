import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer } from "./server.js";
import { Standing } from "../standing.js";
import { testStore, testStoreAt } from "../store/test-store.js";
import { ManualClock } from "../time.js";
import { DecisionLog } from "../decision-log.js";

const policyText = readFileSync(join(import.meta.dirname, "..", "..", "policies", "municipal-credit.yaml"), "utf8");
const DAY = 86_400_000;

describe("HTTP checks", () => {
  const clock = new ManualClock(Date.parse("2026-11-01T00:00:00Z"));
  const standing = new Standing(testStore(), clock);
  const app = buildServer(standing);
  let auth: Record<string, string> = {};

  beforeAll(async () => {
    await standing.publish(policyText, "municipal-credit.yaml");
    const { key } = await standing.createKey({ role: "checkpoint", contexts: ["air-travel", "public-services"] });
    auth = { authorization: `Bearer ${key}` };
    const r = await standing.ingest([
      { source: "court", id: "c-1", type: "court.judgment.default", subject: { scheme: "national-id", value: "d-1" }, occurredAt: "2026-10-31T09:00:00Z", fields: { case: "K-1", amount: 9000 }, evidence: "file://k-1" },
    ]);
    expect(r[0]?.status).toBe("accepted");
  });
  afterAll(async () => {
    await app.close();
    await standing.close();
  });

  it("given a debtor inside the notice period, when a checkpoint asks, then it is allowed", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/checks", headers: auth, payload: { subject: { scheme: "national-id", value: "d-1" }, context: "air-travel" } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ decision: "allow", reasons: [], policy: "municipal-credit@2026.1.0" });
  });

  it("given the notice period has passed, when a checkpoint asks, then it is denied with code and basis", async () => {
    clock.advance(8 * DAY);
    const res = await app.inject({ method: "GET", url: "/v1/checks?subject=national-id:d-1&context=air-travel", headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { decision: string; reasons: { code: string; basis: string; until: string }[]; id: string };
    expect(body.decision).toBe("deny");
    expect(body.reasons[0]?.code).toBe("SPC-DEBTOR");
    expect(body.reasons[0]?.basis).toMatch(/art\. 3\(1\)/);
    expect(body.reasons[0]?.until).toBe("2028-10-31T09:00:00.000Z");
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("in an unrelated context the same subject is allowed", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/checks", headers: auth, payload: { subject: { scheme: "national-id", value: "d-1" }, context: "public-services" } });
    expect(res.json()).toMatchObject({ decision: "allow" });
  });

  it("malformed requests get a structured 4xx, never a 5xx", async () => {
    const cases = [
      { method: "POST" as const, url: "/v1/checks", payload: "{", headers: { "content-type": "application/json" } },
      { method: "POST" as const, url: "/v1/checks", payload: { subject: "x", context: 1 } },
      { method: "POST" as const, url: "/v1/checks", payload: { subject: { scheme: "a", value: "b" }, context: "nowhere" } },
      { method: "POST" as const, url: "/v1/checks", payload: "hello", headers: { "content-type": "text/plain" } },
      { method: "GET" as const, url: "/v1/checks?subject=nocolon&context=air-travel" },
      { method: "GET" as const, url: "/v1/checks" },
      { method: "GET" as const, url: "/nope" },
    ];
    for (const c of cases) {
      const res = await app.inject({ ...c, headers: { ...auth, ...("headers" in c ? c.headers : {}) } });
      expect(res.statusCode, `${c.method} ${c.url}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `${c.method} ${c.url}`).toBeLessThan(500);
      const body = res.json() as { error: { code: string; message: string; requestId: string } };
      expect(typeof body.error.code).toBe("string");
      expect(body.error.message.length).toBeGreaterThan(0);
    }
  });

  it("health names the policy in force", async () => {
    const res = await app.inject({ method: "GET", url: "/healthz" });
    expect(res.json()).toMatchObject({ status: "ok", policy: "municipal-credit@2026.1.0" });
  });
});

// Keys are cached in the server (src/services/keys.ts); a revocation must still bite on the
// next request, including one made by `standing keys revoke` in another process while
// the server runs (here: a second Standing on the same database file), once the change
// feed has delivered it (catchUp() reads the feed now, instead of waiting for a poll).
describe("revocation while the server runs", () => {
  const dir = mkdtempSync(join(tmpdir(), "standing-revoke-"));
  const clock = new ManualClock(Date.parse("2026-11-01T00:00:00Z"));
  const store = testStoreAt(join(dir, "s.db"));
  const standing = new Standing(store, clock);
  const log = new DecisionLog(standing);
  const app = buildServer(standing, { decisionLog: log });
  let cli: Standing;

  beforeAll(async () => {
    await standing.publish(policyText, "municipal-credit.yaml");
    // Opened after the policy is published, as the CLI is beside a running server.
    cli = new Standing(testStoreAt(join(dir, "s.db")), clock);
    await cli.start();
  });
  afterAll(async () => {
    await app.close();
    await cli.close();
    await standing.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = (key: string) =>
    app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: `Bearer ${key}` }, payload: { subject: { scheme: "national-id", value: "anyone" }, context: "air-travel" } });

  for (const by of ["another process", "another process, while the server follows the feed", "the server's own store"] as const) {
    it(`a checkpoint key revoked by ${by} is refused on the next request, with decisions logged in between`, async () => {
      const { key, row } = await standing.createKey({ role: "checkpoint", contexts: ["air-travel"] });
      for (let i = 0; i < 3; i++) expect((await ask(key)).statusCode).toBe(200);
      await log.flush(); // a write through the server's connection between the requests
      expect((await ask(key)).statusCode).toBe(200);
      const revoker = by === "the server's own store" ? standing : cli;
      expect(await revoker.revokeKey(row.keyId)).toBe(true);
      if (by === "another process") await standing.catchUp();
      if (by === "another process, while the server follows the feed") {
        // The feed's bound is one poll (200 ms); the margin is for a loaded machine.
        await standing.follow();
        await expect.poll(async () => (await ask(key)).statusCode, { timeout: 2_000, interval: 20 }).toBe(401);
      }
      const res = await ask(key);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: "unauthorized", details: { keyId: row.keyId } } });
      // A key issued by another process works at once.
      const fresh = await cli.createKey({ role: "checkpoint", contexts: ["air-travel"] });
      expect((await ask(fresh.key)).statusCode).toBe(200);
    });
  }
});
