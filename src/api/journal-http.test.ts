// The journal over HTTP: the checkpoint key for anyone to pin, verification for auditors.
import { createPublicKey } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer } from "./server.js";
import { Standing } from "../standing.js";
import { sqlBehindTheBack, testStoreAt } from "../store/test-store.js";
import { ManualClock } from "../time.js";
import { NOW, POLICY_TEXT, nid, tempDir } from "../store/sqlite/test-helpers.js";

describe("GET /v1/journal/key and /v1/journal/verify", () => {
  const clock = new ManualClock(NOW);
  // A file: the last test changes a row through a connection of its own.
  const dir = tempDir("standing-journal-http-");
  const path = join(dir, "s.db");
  const standing = new Standing(testStoreAt(path), clock);
  const app = buildServer(standing);
  const auth: Record<string, Record<string, string>> = {};

  beforeAll(async () => {
    await standing.publish(POLICY_TEXT, "municipal-credit.yaml");
    await standing.ingest([{ source: "court", id: "c-1", type: "court.judgment.default", subject: nid("A1"), occurredAt: new Date(NOW - 86_400_000).toISOString(), fields: { case: "C-1", amount: 5000 }, evidence: "case-file://C-1" }]);
    for (const role of ["auditor", "admin"] as const) {
      const { key } = await standing.createKey({ role, label: role });
      auth[role] = { authorization: `Bearer ${key}` };
    }
  });
  afterAll(async () => {
    await app.close();
    await standing.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the public key without a key, so it can be pinned elsewhere", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/journal/key" });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { algorithm: string; publicKey: string; fingerprint: string };
    expect(body.algorithm).toBe("Ed25519");
    expect(createPublicKey(body.publicKey).asymmetricKeyType).toBe("ed25519");
    expect(body.fingerprint).toBe(standing.journalKey().fingerprint);
  });

  it("verification is for auditors only", async () => {
    expect((await app.inject({ method: "GET", url: "/v1/journal/verify" })).statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/v1/journal/verify", headers: auth.admin })).statusCode).toBe(403);
    const res = await app.inject({ method: "GET", url: "/v1/journal/verify", headers: auth.auditor });
    expect(res.statusCode).toBe(200);
    const r = res.json() as { ok: boolean; problems: unknown[]; states: { checked: number }; entries: number };
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.states.checked).toBe(1);
    expect(r.entries).toBeGreaterThan(0);
  });

  it("names a row changed behind the service's back", async () => {
    // A connection of its own goes around the store: the change leaves no entry.
    await sqlBehindTheBack(path, "UPDATE states SET evaluated_at = evaluated_at + 1");
    const r = (await app.inject({ method: "GET", url: "/v1/journal/verify", headers: auth.auditor })).json() as { ok: boolean; problems: { kind: string; where: string }[] };
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: "row", where: "states subject_id=1" });
  });
});
