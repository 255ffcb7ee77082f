// The journal over HTTP: the checkpoint key for anyone to pin, verification for auditors.
import { createHash, createPublicKey, verify } from "node:crypto";
import { canonicalJson } from "../canonical.js";
import { headPayload } from "../journal/hash.js";
import { verifyReceipt } from "../journal/receipt.js";
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

  it("serves the latest signed head without a key, and with ?since the hash the journal has there now", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/journal/head" });
    expect(res.statusCode).toBe(200);
    const head = res.json() as { seq: number; hash: string; at: number; prev: number; signature: string; fingerprint: string };
    expect(head).toEqual(await standing.journalHead());
    expect(head.fingerprint).toBe(standing.journalKey().fingerprint);
    expect(verify(null, Buffer.from(headPayload(head.seq, head.hash, head.at, head.prev)), createPublicKey(standing.journalKey().publicKey), Buffer.from(head.signature, "base64"))).toBe(true);
    const since = (await app.inject({ method: "GET", url: `/v1/journal/head?since=${head.seq}` })).json() as { since: { seq: number; hash: string } };
    expect(since.since).toEqual({ seq: head.seq, hash: head.hash });
    expect((await app.inject({ method: "GET", url: "/v1/journal/head?since=-1" })).statusCode).toBe(400);
  });

  it("every check answer carries a receipt that verifies with the published key alone", async () => {
    const { key } = await standing.createKey({ role: "checkpoint", label: "Gate 3", contexts: ["air-travel"] });
    const res = await app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: `Bearer ${key}` }, payload: { subject: nid("A1"), context: "air-travel" } });
    expect(res.statusCode).toBe(200);
    const answer = res.json() as { id: string; decision: string; reasons: { code: string }[]; policy: string; at: string; receipt: { batch?: { index: number } } };
    // Signed in a batch with whatever else was answered in the same turn (here: alone).
    expect(answer.receipt.batch?.index).toBe(0);
    const r = verifyReceipt(answer, standing.journalKey().publicKey);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.claims).toMatchObject({ receipt: "standing/1", type: "check", id: answer.id, subject: nid("A1"), context: "air-travel", answer: answer.decision, codes: answer.reasons.map((x) => x.code), policy: answer.policy, at: answer.at });
    // The head it names is one the journal holds: the latest this process had read (at most a second old).
    const named = r.claims.head as { seq: number; hash: string };
    expect(named.seq).toBeGreaterThan(0);
    expect((await standing.journalHead(named.seq))?.since).toEqual(named);
    // Another answer's receipt does not fit this one's claims: change one claim and it fails.
    const forged = { ...(answer.receipt as { payload: string }), payload: Buffer.from(Buffer.from((answer.receipt as { payload: string }).payload, "base64").toString().replace(answer.decision, answer.decision === "deny" ? "allow" : "deny")).toString("base64") };
    expect(verifyReceipt(forged, standing.journalKey().publicKey).ok).toBe(false);
  });

  it("a statement carries a receipt over everything else in it", async () => {
    const subject = (await standing.reads.resolve(nid("A1"))) as number;
    const res = await app.inject({ method: "GET", url: `/v1/subjects/${subject}/statement`, headers: auth.admin });
    expect(res.statusCode).toBe(200);
    const { receipt, ...rest } = res.json() as Record<string, unknown>;
    const r = verifyReceipt(receipt, standing.journalKey().publicKey);
    expect(r.ok).toBe(true);
    if (r.ok && r.claims.type === "statement") expect(r.claims.digest).toBe(createHash("sha256").update(canonicalJson(rest)).digest("hex"));
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
