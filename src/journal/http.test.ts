// The journal over HTTP: the checkpoint key for anyone to pin, verification for auditors.
import { createPublicKey } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer } from "../api/server.js";
import { createKey } from "../auth/keys.js";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { ManualClock } from "../time.js";
import { NOW, POLICY_TEXT, nid } from "./test-helpers.js";

describe("GET /v1/journal/key and /v1/journal/verify", () => {
  const clock = new ManualClock(NOW);
  const store = new SqliteStore(":memory:");
  const standing = new Standing(store, clock);
  const app = buildServer(standing);
  const auth: Record<string, Record<string, string>> = {};

  beforeAll(() => {
    standing.publish(POLICY_TEXT, "municipal-credit.yaml");
    standing.ingest([{ source: "court", id: "c-1", type: "court.judgment.default", subject: nid("A1"), occurredAt: new Date(NOW - 86_400_000).toISOString(), fields: { case: "C-1", amount: 5000 }, evidence: "case-file://C-1" }]);
    for (const role of ["auditor", "admin"] as const) {
      const { key } = createKey(store, standing.activePolicy(), { role, label: role }, clock.now());
      auth[role] = { authorization: `Bearer ${key}` };
    }
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  it("serves the public key without a key, so it can be pinned elsewhere", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/journal/key" });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { algorithm: string; publicKey: string; fingerprint: string };
    expect(body.algorithm).toBe("Ed25519");
    expect(createPublicKey(body.publicKey).asymmetricKeyType).toBe("ed25519");
    expect(body.fingerprint).toBe(store.journal.fingerprint);
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
    store.db.exec("DROP TRIGGER temp.journal_au_states"); // what a second connection would do: no entry
    store.db.prepare("UPDATE states SET evaluated_at = evaluated_at + 1").run();
    const r = (await app.inject({ method: "GET", url: "/v1/journal/verify", headers: auth.auditor })).json() as { ok: boolean; problems: { kind: string; where: string }[] };
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: "row", where: "states subject_id=1" });
    store.journal.installTriggers();
  });
});
