// What the HTTP API does for each kind of caller: batch ingest with a result per line,
// screenings, the decision log in the subject's statement, the rulebook and policy
// publishing, public statistics, metrics, the OpenAPI document and the notice period.
// A real SQLite store, the published municipal-credit policy, a ManualClock and
// app.inject; nothing of ours is mocked.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { buildServer } from "./server.js";
import { Standing } from "../standing.js";
import { testStore } from "../store/test-store.js";
import { ManualClock } from "../time.js";
import type { NewKeyRequest } from "../services/keys.js";
import { DecisionLog } from "../decision-log.js";

const root = join(import.meta.dirname, "..", "..");
const policyText = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
const DAY = 86_400_000;
const json = { "content-type": "application/json" };
const ndjson = { "content-type": "application/x-ndjson" };

interface World {
  readonly clock: ManualClock;
  readonly standing: Standing;
  readonly log: DecisionLog;
  readonly app: FastifyInstance;
  key(req: NewKeyRequest): Promise<{ auth: string; keyId: string }>;
  close(): Promise<void>;
}

async function world(start: string, options: { maxScreeningLines?: number } = {}): Promise<World> {
  const clock = new ManualClock(Date.parse(start));
  const standing = new Standing(testStore(), clock);
  await standing.publish(policyText, "municipal-credit.yaml");
  // A long flush interval: the tests see that reads flush what is still buffered.
  const log = new DecisionLog(standing, { flushMs: 60_000 });
  const app = buildServer(standing, { decisionLog: log, ...options });
  return {
    clock,
    standing,
    log,
    app,
    async key(req) {
      const { key, row } = await standing.createKey(req);
      return { auth: `Bearer ${key}`, keyId: row.keyId };
    },
    async close() {
      await app.close();
      await standing.close();
    },
  };
}

const nid = (value: string) => ({ scheme: "national-id", value });
let seq = 0;
function debtRecord(subject: { scheme: string; value: string }, occurredAt: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return { source: "court", id: `debt-${seq}`, type: "court.judgment.default", subject, occurredAt, fields: { case: `K-${seq}`, amount: 5000 }, evidence: `file://k-${seq}`, ...extra };
}
const lines = (body: string): Record<string, unknown>[] =>
  body
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("GET /v1/records/{source}/{id} on a single node", () => {
  it("given records stored, quarantined and never sent, when a source asks, then each says where it stands, and another source's are refused", async () => {
    const w = await world("2026-10-01T12:00:00Z");
    try {
      const court = (await w.key({ role: "source", source: "court" })).auth;
      const airline = (await w.key({ role: "source", source: "airline" })).auth;
      const auditor = (await w.key({ role: "auditor" })).auth;
      const stored = debtRecord(nid("rs-1"), "2026-09-01T00:00:00Z");
      await w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: court, ...json }, payload: stored });
      const waiting = { source: "airline", id: "rs-q", type: "aviation.onboard-misconduct", subject: { scheme: "passport", value: "RS-P1" }, occurredAt: "2026-09-20T00:00:00Z", fields: { flight: "CA1" }, evidence: "report://rs-q" };
      expect((await w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: airline, ...json }, payload: waiting })).statusCode).toBe(202);

      const a = await w.app.inject({ method: "GET", url: `/v1/records/court/${String(stored.id)}`, headers: { authorization: court } });
      expect(a.statusCode).toBe(200);
      expect(a.json()).toMatchObject({ status: "accepted", source: "court", id: stored.id, receipt: null });
      const q = await w.app.inject({ method: "GET", url: "/v1/records/airline/rs-q", headers: { authorization: auditor } });
      expect(q.json()).toMatchObject({ status: "quarantined", reason: expect.stringContaining("passport:RS-P1") });
      const none = await w.app.inject({ method: "GET", url: "/v1/records/court/never-sent", headers: { authorization: court } });
      expect(none.statusCode).toBe(404);
      expect(none.json().error.code).toBe("not-found");
      const other = await w.app.inject({ method: "GET", url: `/v1/records/court/${String(stored.id)}`, headers: { authorization: airline } });
      expect(other.statusCode).toBe(403);
      expect(other.json().error.message).toMatch(/source "airline" only/);
      const wait = await w.app.inject({ method: "POST", url: "/v1/records?wait=many", headers: { authorization: court, ...json }, payload: debtRecord(nid("rs-2"), "2026-09-01T00:00:00Z") });
      expect(wait.statusCode).toBe(400);
      expect(wait.json().error.message).toMatch(/wait is a whole number of seconds/);
    } finally {
      await w.close();
    }
  });
});

describe("POST /v1/records", () => {
  let w: World;
  let court: string;
  beforeAll(async () => {
    w = await world("2026-11-01T00:00:00Z");
    court = (await w.key({ role: "source", source: "court", label: "district court" })).auth;
  });
  afterAll(() => w.close());

  it("a NDJSON batch answers one result per non-empty line, with line numbers and every status", async () => {
    const ok = debtRecord(nid("batch-1"), "2026-10-30T10:00:00+08:00");
    const body = [
      JSON.stringify(ok), // 1 accepted
      JSON.stringify({ ...ok, occurredAt: "2026-10-30T02:00:00Z" }), // 2 duplicate: the same instant written differently
      "", // 3 blank: no result
      "{not json", // 4 rejected: bad-request
      JSON.stringify(debtRecord({ scheme: "passport", value: "E1234" }, "2026-10-30T10:00:00+08:00")), // 5 quarantined: passports are linked before they count
      JSON.stringify({ ...debtRecord(nid("batch-2"), "2026-10-30T10:00:00+08:00"), type: "court.gossip" }), // 6 rejected: unknown-record-type
      JSON.stringify({ ...debtRecord(nid("batch-3"), "2026-10-30T10:00:00+08:00"), type: "traffic.speeding", fields: { "kmh-over": 30 } }), // 7 rejected: source-not-allowed
      JSON.stringify({ ...debtRecord(nid("batch-4"), "2026-10-30T10:00:00+08:00"), source: "traffic-police" }), // 8 rejected: another source
      JSON.stringify({ ...debtRecord(nid("batch-5"), "2026-10-30T10:00:00+08:00"), fields: { case: "K", amount: "lots" } }), // 9 rejected: invalid-record
      JSON.stringify({ ...debtRecord(nid("batch-6"), "2026-10-30T10:00:00+08:00"), ok: true }) + "\r", // 10 rejected: unknown envelope field (CRLF line end)
    ].join("\n");
    const before = await w.standing.reads.countRecords();
    const res = await w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: court, ...ndjson }, payload: body + "\n" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/x-ndjson/);
    const out = lines(res.body);
    expect(out.map((r) => [r.line, r.status, (r.error as { code?: string } | undefined)?.code ?? null])).toEqual([
      [1, "accepted", null],
      [2, "duplicate", null],
      [4, "rejected", "bad-request"],
      [5, "quarantined", null],
      [6, "rejected", "unknown-record-type"],
      [7, "rejected", "source-not-allowed"],
      [8, "rejected", "forbidden"],
      [9, "rejected", "invalid-record"],
      [10, "rejected", "invalid-record"],
    ]);
    for (const r of out.filter((x) => x.status === "rejected")) {
      const e = r.error as { message: string; details: unknown };
      expect(e.message.length).toBeGreaterThan(0);
      expect(typeof e.details).toBe("object");
    }
    expect(out[0]).toMatchObject({ source: "court", id: ok.id, subject: expect.any(Number) });
    expect(await w.standing.reads.countRecords()).toBe(before + 1);
    expect((await w.standing.reads.listQuarantine(10)).map((q) => `${q.scheme}:${q.value}`)).toEqual(["passport:E1234"]);
  });

  it("one JSON record: 201 accepted, 200 duplicate, 202 quarantined, and a rejection is an error with its code", async () => {
    const rec = debtRecord(nid("json-1"), "2026-10-31T10:00:00+08:00");
    const post = (payload: unknown) => w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: court, ...json }, payload: payload as object });
    const accepted = await post(rec);
    expect(accepted.statusCode).toBe(201);
    expect(accepted.json()).toMatchObject({ status: "accepted", source: "court", id: rec.id, subject: expect.any(Number) });
    const duplicate = await post(rec);
    expect(duplicate.statusCode).toBe(200);
    expect(duplicate.json()).toEqual({ status: "duplicate", source: "court", id: rec.id });
    const quarantined = await post(debtRecord({ scheme: "passport", value: "E999" }, "2026-10-31T10:00:00+08:00"));
    expect(quarantined.statusCode).toBe(202);
    expect(quarantined.json()).toMatchObject({ status: "quarantined", reason: expect.stringContaining("passport:E999") });
    const conflict = await post({ ...rec, fields: { case: "other", amount: 1 } });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ error: { code: "record-conflict", details: { source: "court", id: rec.id }, requestId: expect.any(String) } });
    const invalid = await post({ ...debtRecord(nid("json-2"), "2026-10-31T10:00:00+08:00"), evidence: undefined });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.json()).toMatchObject({ error: { code: "evidence-required" } });
    const future = await post(debtRecord(nid("json-3"), "2027-01-01T00:00:00Z"));
    expect(future.statusCode).toBe(422);
    expect(future.json()).toMatchObject({ error: { code: "occurred-in-future" } });
  });
});

describe("POST /v1/screenings", () => {
  let w: World;
  let airline: string;
  beforeAll(async () => {
    w = await world("2026-10-01T00:00:00Z");
    const r = await w.standing.ingest([debtRecord(nid("screen-debtor"), "2026-09-30T10:00:00+08:00")]);
    expect(r[0]?.status).toBe("accepted");
    w.clock.set(Date.parse("2026-11-01T00:00:00Z"));
    airline = (await w.key({ role: "checkpoint", contexts: ["air-travel"], label: "airline" })).auth;
  });
  afterAll(() => w.close());

  it("NDJSON: one result per non-empty line, a malformed line answered in place", async () => {
    const body = [JSON.stringify(nid("screen-debtor")), '"national-id:nobody"', "{broken", "", JSON.stringify({ subject: nid("screen-debtor") }), "42", '"no-colon"'].join("\n");
    const res = await w.app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: { authorization: airline, ...ndjson }, payload: body });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/x-ndjson/);
    const out = lines(res.body);
    expect(out.map((r) => [r.line, r.decision ?? (r.error as { code: string }).code])).toEqual([
      [1, "deny"],
      [2, "allow"],
      [3, "bad-request"],
      [5, "deny"],
      [6, "bad-request"],
      [7, "bad-request"],
    ]);
    expect(out[0]).toMatchObject({ subject: nid("screen-debtor"), reasons: [{ code: "SPC-DEBTOR" }], id: expect.any(String) });
  });

  it("a JSON array: one result per item", async () => {
    const res = await w.app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: { authorization: airline, ...json }, payload: ["national-id:screen-debtor", { scheme: "national-id", value: "nobody" }, { scheme: 1 }, null] });
    expect(res.statusCode).toBe(200);
    expect(lines(res.body).map((r) => [r.line, r.decision ?? (r.error as { code: string }).code])).toEqual([
      [1, "deny"],
      [2, "allow"],
      [3, "bad-request"],
      [4, "bad-request"],
    ]);
  });

  it("an unknown context is refused as a whole; a body that is neither is a 400", async () => {
    const cp = (await w.key({ role: "checkpoint", contexts: ["air-travel"] })).auth;
    const notArray = await w.app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: { authorization: cp, ...json }, payload: { scheme: "national-id", value: "x" } });
    expect(notArray.statusCode).toBe(400);
    expect(notArray.json()).toMatchObject({ error: { code: "bad-request" } });
  });

  it("100,000 identifiers in one NDJSON body: 100,000 result lines, in order", async () => {
    const n = 100_000;
    const ids: string[] = [];
    for (let i = 1; i <= n; i++) ids.push(i % 10_000 === 0 ? JSON.stringify(nid("screen-debtor")) : `"national-id:p-${i}"`);
    await w.log.flush();
    const before = await w.standing.reads.countDecisions();
    const res = await w.app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: { authorization: airline, ...ndjson }, payload: ids.join("\n") + "\n" });
    expect(res.statusCode).toBe(200);
    const out = res.body.split("\n");
    expect(out.pop()).toBe("");
    expect(out).toHaveLength(n);
    let deny = 0;
    for (let i = 0; i < n; i++) {
      const r = JSON.parse(out[i] as string) as { line: number; decision: string };
      expect(r.line).toBe(i + 1);
      if (r.decision === "deny") deny++;
    }
    expect(deny).toBe(10);
    // Every answer is logged.
    await w.log.flush();
    expect((await w.standing.reads.countDecisions()) - before).toBe(n);
  }, 60_000);

  it("more lines than the limit is a 413", async () => {
    const small = await world("2026-11-01T00:00:00Z", { maxScreeningLines: 3 });
    try {
      const cp = (await small.key({ role: "checkpoint", contexts: ["air-travel"] })).auth;
      const res = await small.app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: { authorization: cp, ...ndjson }, payload: '"a:1"\n"a:2"\n"a:3"\n"a:4"\n' });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ error: { code: "payload-too-large" } });
      await small.log.flush();
      expect(await small.standing.reads.countDecisions()).toBe(0);
    } finally {
      await small.close();
    }
  });
});

describe("the decision log and the subject's file", () => {
  let w: World;
  let airline: { auth: string; keyId: string };
  let rail: { auth: string; keyId: string };
  let subjectKey: string;
  let admin: string;
  let debtorId = 0;
  let otherId = 0;
  beforeAll(async () => {
    w = await world("2026-10-01T00:00:00Z");
    const r = await w.standing.ingest([debtRecord(nid("looked-up"), "2026-09-30T10:00:00+08:00"), { source: "volunteer-registry", id: "v-1", type: "volunteer.service", subject: nid("someone-else"), occurredAt: "2026-09-30T10:00:00+08:00", fields: { hours: 4 } }]);
    expect(r.map((x) => x.status)).toEqual(["accepted", "accepted"]);
    w.clock.set(Date.parse("2026-11-01T00:00:00Z"));
    debtorId = (await w.standing.reads.resolve(nid("looked-up"))) as number;
    otherId = (await w.standing.reads.resolve(nid("someone-else"))) as number;
    airline = await w.key({ role: "checkpoint", contexts: ["air-travel"], label: "Sky Airlines booking" });
    rail = await w.key({ role: "checkpoint", contexts: ["rail-high-speed"], label: "Rail ticket office 7" });
    subjectKey = (await w.key({ role: "subject", subjectId: debtorId, label: "the debtor" })).auth;
    admin = (await w.key({ role: "admin" })).auth;
  });
  afterAll(() => w.close());

  it("after checks, the statement lists who looked the subject up: key id and label, context, decision", async () => {
    const a = await w.app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: airline.auth, ...json }, payload: { subject: nid("looked-up"), context: "air-travel" } });
    expect(a.json()).toMatchObject({ decision: "deny" });
    w.clock.advance(60_000);
    const b = await w.app.inject({ method: "GET", url: "/v1/checks?subject=national-id:looked-up&context=rail-high-speed", headers: { authorization: rail.auth } });
    expect(b.json()).toMatchObject({ decision: "deny" });
    w.clock.advance(60_000);
    const c = await w.app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: airline.auth, ...json }, payload: { subject: nid("someone-else"), context: "air-travel" } });
    expect(c.json()).toMatchObject({ decision: "allow" });
    // Written in batches: nothing is on disk yet, and the statement still shows it all.
    expect(w.log.pending).toBe(3);
    const res = await w.app.inject({ method: "GET", url: `/v1/subjects/${debtorId}/statement`, headers: { authorization: subjectKey } });
    expect(res.statusCode).toBe(200);
    expect(w.log.pending).toBe(0);
    const st = res.json() as { lookups: { at: string; askedBy: string; context: string; decision: string; codes: string[]; identifier: string }[] };
    expect(st.lookups).toHaveLength(2);
    const [newest, oldest] = st.lookups;
    expect(newest).toMatchObject({ context: "rail-high-speed", decision: "deny", codes: ["SPC-DEBTOR"], identifier: "national-id:looked-up", at: "2026-11-01T00:01:00.000Z" });
    expect(newest?.askedBy).toContain(rail.keyId);
    expect(newest?.askedBy).toContain("Rail ticket office 7");
    expect(oldest).toMatchObject({ context: "air-travel", decision: "deny", codes: ["SPC-DEBTOR"], at: "2026-11-01T00:00:00.000Z" });
    expect(oldest?.askedBy).toContain(airline.keyId);
    expect(oldest?.askedBy).toContain("Sky Airlines booking");
    // The readable page says the same.
    const text = await w.app.inject({ method: "GET", url: `/v1/subjects/${debtorId}/statement?format=text`, headers: { authorization: subjectKey } });
    expect(text.statusCode).toBe(200);
    expect(text.headers["content-type"]).toMatch(/^text\/plain/);
    expect(text.body).toContain("Sky Airlines booking");
    // The other subject's file lists only the lookup about them.
    const other = await w.app.inject({ method: "GET", url: `/v1/subjects/${otherId}/statement`, headers: { authorization: admin } });
    expect((other.json() as { lookups: { context: string; decision: string }[] }).lookups.map((l) => [l.context, l.decision])).toEqual([["air-travel", "allow"]]);
  });

  it("after a screening, the statement lists it among the lookups, as a check is listed; the other subject screened in it sees only their own line", async () => {
    w.clock.advance(60_000);
    // Thousands of others in the same screening: the subject's line is found among them.
    const lines = ["national-id:looked-up", ...Array.from({ length: 5_000 }, (_, i) => `national-id:crowd-${i}`), "national-id:someone-else"].map((x) => JSON.stringify(x)).join("\n");
    const r = await w.app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: { authorization: airline.auth, "content-type": "application/x-ndjson" }, payload: lines });
    expect(r.statusCode).toBe(200);
    const answers = r.body.trim().split("\n").map((l) => JSON.parse(l) as { id: string; decision: string });
    expect(answers).toHaveLength(5_002);
    const res = await w.app.inject({ method: "GET", url: `/v1/subjects/${debtorId}/statement`, headers: { authorization: subjectKey } });
    const st = res.json() as { lookups: { at: string; askedBy: string; context: string; decision: string; codes: string[]; identifier: string }[] };
    expect(st.lookups).toHaveLength(3);
    expect(st.lookups[0]).toMatchObject({ context: "air-travel", decision: "deny", codes: ["SPC-DEBTOR"], identifier: "national-id:looked-up", at: "2026-11-01T00:03:00.000Z" });
    expect(st.lookups[0]?.askedBy).toContain("Sky Airlines booking");
    const other = await w.app.inject({ method: "GET", url: `/v1/subjects/${otherId}/statement`, headers: { authorization: admin } });
    expect((other.json() as { lookups: { context: string; decision: string }[] }).lookups.map((l) => [l.context, l.decision])).toEqual([["air-travel", "allow"], ["air-travel", "allow"]]);
  });

  it("a subject key reads its own state, and only its own", async () => {
    const own = await w.app.inject({ method: "GET", url: `/v1/subjects/${debtorId}`, headers: { authorization: subjectKey } });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ id: debtorId, identifiers: [nid("looked-up")], policy: "municipal-credit@2026.1.0", score: 900, lists: [{ list: "judgment-defaulters" }] });
    const byIdentifier = await w.app.inject({ method: "GET", url: "/v1/subjects?identifier=national-id:looked-up", headers: { authorization: subjectKey } });
    expect(byIdentifier.json()).toMatchObject({ id: debtorId, links: { statement: `/v1/subjects/${debtorId}/statement` } });
    const other = await w.app.inject({ method: "GET", url: `/v1/subjects/${otherId}`, headers: { authorization: subjectKey } });
    expect(other.statusCode).toBe(403);
    const adminReads = await w.app.inject({ method: "GET", url: `/v1/subjects/${otherId}`, headers: { authorization: admin } });
    expect(adminReads.json()).toMatchObject({ id: otherId, score: 1004 });
    const missing = await w.app.inject({ method: "GET", url: "/v1/subjects/424242", headers: { authorization: admin } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: "not-found" } });
  });
});

describe("policy: the rulebook, lint and publish", () => {
  let w: World;
  let author: string;
  beforeAll(async () => {
    w = await world("2026-11-01T00:00:00Z");
    author = (await w.key({ role: "policy-author", label: "rulebook team" })).auth;
  });
  afterAll(() => w.close());

  it("GET /v1/policy is the published rulebook with its versions", async () => {
    const res = await w.app.inject({ method: "GET", url: "/v1/policy" });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { ref: string; records: { type: string }[]; versions: { ref: string; effective: string; publishedAt: string; hash: string }[]; measures: unknown[] };
    expect(body.ref).toBe("municipal-credit@2026.1.0");
    expect(body.records.map((r) => r.type)).toContain("court.judgment.default");
    expect(body.measures.length).toBeGreaterThan(0);
    // Published through the library (no proposal): nobody is named as proposer or approver.
    expect(body.versions).toEqual([{ ref: "municipal-credit@2026.1.0", effective: "2025-12-31T16:00:00.000Z", publishedAt: "2026-11-01T00:00:00.000Z", hash: expect.stringMatching(/^[0-9a-f]{64}$/), proposal: null, proposedBy: null, proposedAt: null, approvedBy: null, approvedAt: null }]);
  });

  it("lint answers errors with line and column for a policy that breaks a guardrail", async () => {
    const bad = readFileSync(join(root, "policies", "rejected", "g3-jaywalking-bans-flying.yaml"), "utf8");
    const res = await w.app.inject({ method: "POST", url: "/v1/policies?action=lint", headers: { authorization: author, "content-type": "application/yaml" }, payload: bad });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { ok: boolean; errors: { line: number; col: number; code: string; message: string }[] };
    expect(body.ok).toBe(false);
    const g3 = body.errors.find((e) => e.code === "G3");
    expect(g3).toBeDefined();
    expect(g3?.line).toBeGreaterThan(1);
    expect(g3?.col).toBeGreaterThan(0);
    expect(g3?.message).toContain("traffic.jaywalking");
    // Broken YAML, sent as JSON {text}: the position of the break.
    const yaml = await w.app.inject({ method: "POST", url: "/v1/policies", headers: { authorization: author, ...json }, payload: { text: "standing: 1\npolicy: [\n" } });
    expect(yaml.json()).toMatchObject({ ok: false, errors: [{ code: "yaml", line: expect.any(Number), col: expect.any(Number) }] });
    // A good policy lints clean (the default action is lint: nothing is published).
    const good = await w.app.inject({ method: "POST", url: "/v1/policies", headers: { authorization: author, "content-type": "application/yaml" }, payload: policyText });
    expect(good.json()).toMatchObject({ ok: true, policy: "municipal-credit@2026.1.0" });
    expect(w.standing.publishedPolicies()).toHaveLength(1);
  });

  it("propose by a policy author, approve by a policy approver: 201 and the new version is in force; published versions are immutable", async () => {
    const approver = (await w.key({ role: "policy-approver", label: "rulebook board" })).auth;
    const next = policyText.replace("version: 2026.1.0", "version: 2026.2.0").replace("effective: 2026-01-01T00:00:00+08:00", "effective: 2026-10-01T00:00:00+08:00").replace("notice: P3D", "notice: P5D");
    expect(next).not.toBe(policyText);
    const propose = (text: string, type = "application/yaml") => w.app.inject({ method: "POST", url: "/v1/policies?action=propose", headers: { authorization: author, "content-type": type }, payload: text });
    const proposed = await propose(next);
    expect(proposed.statusCode).toBe(201);
    const id = (proposed.json() as { proposal: { id: string } }).proposal.id;
    // Publishing is not one step any more: the old action answers how it is done.
    const direct = await w.app.inject({ method: "POST", url: "/v1/policies?action=publish", headers: { authorization: author, "content-type": "application/yaml" }, payload: next });
    expect(direct.statusCode).toBe(400);
    expect(direct.json()).toMatchObject({ error: { code: "bad-request", message: expect.stringContaining("approv") } });
    expect(w.standing.publishedPolicies()).toHaveLength(1);
    const res = await w.app.inject({ method: "POST", url: `/v1/policies/proposals/${id}/approve`, headers: { authorization: approver } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ policy: "municipal-credit@2026.2.0", status: "published", proposal: { proposedBy: expect.stringContaining("(rulebook team)"), decidedBy: expect.stringContaining("(rulebook board)") } });
    const health = await w.app.inject({ method: "GET", url: "/healthz" });
    expect(health.json()).toMatchObject({ policy: "municipal-credit@2026.2.0" });
    const rulebook = (await w.app.inject({ method: "GET", url: "/v1/policy" })).json() as { ref: string; approvedBy: string; versions: { ref: string; proposedBy: string | null }[] };
    expect(rulebook.ref).toBe("municipal-credit@2026.2.0");
    expect(rulebook.approvedBy).toContain("(rulebook board)");
    expect(rulebook.versions.map((v) => [v.ref, v.proposedBy === null ? null : "someone"])).toEqual([["municipal-credit@2026.1.0", null], ["municipal-credit@2026.2.0", "someone"]]);
    const cp = (await w.key({ role: "checkpoint", contexts: ["air-travel"] })).auth;
    const check = await w.app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: cp, ...json }, payload: { subject: nid("anyone"), context: "air-travel" } });
    expect(check.json()).toMatchObject({ policy: "municipal-credit@2026.2.0" });
    // The same text proposed again once published: refused as published; other content under the same version too.
    const again = await propose(next);
    expect(again.statusCode).toBe(422);
    expect(again.json()).toMatchObject({ error: { code: "invalid-policy", message: expect.stringContaining("already published") } });
    const altered = await propose(next.replace("notice: P5D", "notice: P6D"));
    expect(altered.statusCode).toBe(422);
    expect(altered.json()).toMatchObject({ error: { code: "invalid-policy" } });
    // A policy that does not compile is refused with its errors, and nothing is proposed or published.
    const bad = readFileSync(join(root, "policies", "rejected", "g4-list-never-ends.yaml"), "utf8");
    const refused = await propose(bad, "text/yaml");
    expect(refused.statusCode).toBe(422);
    expect((refused.json() as { error: { details: { errors: { code: string; line: number }[] } } }).error.details.errors.some((e) => e.code === "G4" && e.line > 0)).toBe(true);
    expect(w.standing.publishedPolicies()).toHaveLength(2);
    const list = (await w.app.inject({ method: "GET", url: "/v1/policies/proposals", headers: { authorization: approver } })).json() as { proposals: { ref: string; status: string }[] };
    expect(list.proposals.map((p) => [p.ref, p.status])).toEqual([["municipal-credit@2026.2.0", "approved"]]);
  });
});

describe("public statistics, metrics and the API description", () => {
  let w: World;
  beforeAll(async () => {
    w = await world("2026-10-01T00:00:00Z");
    const at = "2026-09-30T10:00:00+08:00";
    const r = await w.standing.ingest([
      debtRecord(nid("stat-debtor-1"), at),
      debtRecord(nid("stat-debtor-2"), at),
      { source: "airline", id: "air-1", type: "aviation.onboard-misconduct", subject: nid("stat-flyer"), occurredAt: at, fields: { flight: "MU5101" }, evidence: "report://1" },
      ...[1, 2, 3].map((i) => ({ source: "volunteer-registry", id: `vol-${i}`, type: "volunteer.service", subject: nid("stat-volunteer"), occurredAt: at, fields: { hours: 10 } })),
    ]);
    expect(r.every((x) => x.status === "accepted")).toBe(true);
  });
  afterAll(() => w.close());

  it("GET /v1/stats: list sizes and measure counts match what was ingested, pending during notice and active after", async () => {
    const res = await w.app.inject({ method: "GET", url: "/v1/stats" });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { policy: string; subjects: number; lists: unknown[]; measures: { context: string; measure: string; effect: string; active: number; pending: number }[] };
    expect(body.policy).toBe("municipal-credit@2026.1.0");
    expect(body.subjects).toBe(4);
    expect(body.lists).toEqual([
      { list: "aviation-banned", effect: "restrict", members: 1 },
      { list: "green-lane", effect: "privilege", members: 1 },
      { list: "judgment-defaulters", effect: "restrict", members: 2 },
    ]);
    const measures = (m: typeof body.measures) => Object.fromEntries(m.map((x) => [`${x.context}/${x.measure}`, [x.effect, x.active, x.pending]]));
    expect(measures(body.measures)).toEqual({
      "air-travel/express-security": ["privilege", 1, 0],
      "air-travel/no-flights-debtor": ["deny", 0, 2],
      "air-travel/no-flights-misconduct": ["deny", 0, 1],
      "property-purchase/no-property-debtor": ["deny", 0, 2],
      "public-services/deposit-free-rental": ["privilege", 1, 0],
      "rail-high-speed/no-high-speed-rail-debtor": ["deny", 0, 2],
      "rail-high-speed/priority-booking": ["privilege", 1, 0],
    });
    // Once the notice periods have run (the scheduler advances the stored states), they are active.
    w.clock.advance(8 * DAY);
    await w.standing.advance();
    const later = (await w.app.inject({ method: "GET", url: "/v1/stats" })).json() as typeof body;
    expect(measures(later.measures)).toMatchObject({
      "air-travel/no-flights-debtor": ["deny", 2, 0],
      "air-travel/no-flights-misconduct": ["deny", 1, 0],
      "rail-high-speed/no-high-speed-rail-debtor": ["deny", 2, 0],
    });
    // Nothing about any subject.
    expect(JSON.stringify(later)).not.toContain("stat-debtor");
  });

  it("GET /metrics is Prometheus text with standing_checks_total", async () => {
    const cp = (await w.key({ role: "checkpoint", contexts: ["air-travel"] })).auth;
    const auditor = (await w.key({ role: "auditor" })).auth;
    await w.app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: cp, ...json }, payload: { subject: nid("stat-debtor-1"), context: "air-travel" } });
    const res = await w.app.inject({ method: "GET", url: "/metrics", headers: { authorization: auditor } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
    expect(res.body).toContain("# TYPE standing_checks_total counter");
    expect(res.body).toMatch(/^standing_checks_total\{context="air-travel",decision="deny"\} 1$/m);
    expect(res.body).toMatch(/^standing_index_subjects \d+$/m);
    // Counted between scrapes and handed over at each: totals keep growing, screenings count too.
    await w.app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: cp, ...json }, payload: { subject: nid("stat-debtor-1"), context: "air-travel" } });
    await w.app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: { authorization: cp, "content-type": "application/x-ndjson" }, payload: `${JSON.stringify(nid("stat-debtor-1"))}\n"national-id:nobody-at-all"\n` });
    const again = await w.app.inject({ method: "GET", url: "/metrics", headers: { authorization: auditor } });
    expect(again.body).toMatch(/^standing_checks_total\{context="air-travel",decision="deny"\} 3$/m);
    expect(again.body).toMatch(/^standing_checks_total\{context="air-travel",decision="allow"\} \d+$/m);
  });

  it("GET /openapi.json is an OpenAPI 3 document listing every /v1 route; /docs serves the browsable UI", async () => {
    const res = await w.app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; info: { title: string }; paths: Record<string, Record<string, { security?: unknown[] }>> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title.length).toBeGreaterThan(0);
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    for (const op of [
      "POST /v1/records",
      "POST /v1/checks",
      "GET /v1/checks",
      "POST /v1/screenings",
      "GET /v1/subjects",
      "GET /v1/subjects/{id}",
      "GET /v1/subjects/{id}/statement",
      "GET /v1/policy",
      "POST /v1/policies",
      "GET /v1/stats",
      "GET /healthz",
      "GET /metrics",
    ]) {
      expect(ops, op).toContain(op);
    }
    // Routes that need a key say so.
    expect(doc.paths["/v1/checks"]?.post?.security).toEqual([{ key: [] }]);
    expect(doc.paths["/v1/policy"]?.get?.security).toBeUndefined();
    const ui = await w.app.inject({ method: "GET", url: "/docs" });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers["content-type"]).toMatch(/^text\/html/);
    expect(ui.body).toMatch(/swagger/i);
  });
});

describe("the notice period, over HTTP", () => {
  let w: World;
  let court: string;
  let airline: string;
  beforeAll(async () => {
    w = await world("2026-11-01T00:00:00Z");
    court = (await w.key({ role: "source", source: "court" })).auth;
    airline = (await w.key({ role: "checkpoint", contexts: ["air-travel"] })).auth;
  });
  afterAll(() => w.close());

  const ask = async () => {
    const res = await w.app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: airline, ...json }, payload: { subject: nid("new-debtor"), context: "air-travel" } });
    expect(res.statusCode).toBe(200);
    return res.json() as { decision: string; reasons: { code: string; measure: string; basis: string | null; until: string | null }[]; policy: string; id: string };
  };

  it("allow while the notice runs, deny with code and basis the moment it has passed, allow again once the debt is paid", async () => {
    // Known to the subject now: the record occurs and arrives at the same instant.
    const rec = { source: "court", id: "judgment-77", type: "court.judgment.default", subject: nid("new-debtor"), occurredAt: "2026-11-01T00:00:00Z", fields: { case: "K-77", amount: 12_000 }, evidence: "file://k-77" };
    const ack = await w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: court, ...json }, payload: rec });
    expect(ack.statusCode).toBe(201);
    expect(await ask()).toMatchObject({ decision: "allow", reasons: [] });
    w.clock.advance(7 * DAY - 60_000);
    expect(await ask()).toMatchObject({ decision: "allow", reasons: [] });
    w.clock.advance(60_000);
    const deny = await ask();
    expect(deny).toMatchObject({ decision: "deny", policy: "municipal-credit@2026.1.0" });
    expect(deny.reasons).toEqual([
      {
        code: "SPC-DEBTOR",
        measure: "no-flights-debtor",
        basis: "Several Provisions of the Supreme People's Court on Restricting High Consumption of Judgment Debtors, art. 3(1)",
        until: "2028-11-01T00:00:00.000Z",
      },
    ]);
    expect(deny.id).toMatch(/^[0-9a-f-]{36}$/);
    // Recovery by rule: the court reports the judgment fulfilled.
    const paid = await w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: court, ...json }, payload: { source: "court", id: "judgment-77-paid", type: "court.judgment.fulfilled", subject: nid("new-debtor"), occurredAt: new Date(w.clock.now()).toISOString(), fields: { case: "K-77" } } });
    expect(paid.statusCode).toBe(201);
    expect(await ask()).toMatchObject({ decision: "allow", reasons: [] });
  });
});

describe("refusals that never reach a handler", () => {
  let w: World;
  let court: string;
  let admin: string;
  beforeAll(async () => {
    w = await world("2026-11-01T00:00:00Z");
    court = (await w.key({ role: "source", source: "court" })).auth;
    admin = (await w.key({ role: "admin" })).auth;
  });
  afterAll(() => w.close());

  const expectError = (res: { statusCode: number; json: () => unknown }, status: number, code: string) => {
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error: { code, message: expect.any(String), details: expect.any(Object), requestId: expect.any(String) } });
  };

  it("a malformed URL or an over-long path parameter is a 400 from the closed set", async () => {
    expectError(await w.app.inject({ method: "GET", url: "/v1/subjects/%E0%A4%A", headers: { authorization: admin } }), 400, "bad-request");
    expectError(await w.app.inject({ method: "GET", url: `/v1/subjects/${"1".repeat(150)}`, headers: { authorization: admin } }), 400, "bad-request");
    // Ids beyond 15 digits are not safe integers: refused rather than rounded to another subject's id.
    expectError(await w.app.inject({ method: "GET", url: "/v1/subjects/9007199254740993", headers: { authorization: admin } }), 400, "bad-request");
  });

  it("a body that is not valid UTF-8 is refused, not decoded into something else, and nothing is stored", async () => {
    const rec = (value: Buffer) =>
      Buffer.concat([Buffer.from('{"source":"court","id":"utf8-1","type":"court.judgment.default","subject":{"scheme":"national-id","value":"'), value, Buffer.from('"},"occurredAt":"2026-10-30T10:00:00+08:00","fields":{"case":"K","amount":1},"evidence":"e"}')]);
    const latin1 = Buffer.from("M\xfcller", "latin1"); // a Latin-1 ü is not UTF-8
    expectError(await w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: court, ...json }, payload: rec(latin1) }), 400, "bad-request");
    expectError(await w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: court, ...ndjson }, payload: Buffer.concat([rec(latin1), Buffer.from("\n")]) }), 400, "bad-request");
    expectError(await w.app.inject({ method: "POST", url: "/v1/policies", headers: { authorization: (await w.key({ role: "policy-author" })).auth, "content-type": "application/yaml" }, payload: Buffer.from([0x73, 0x74, 0xff, 0x0a]) }), 400, "bad-request");
    expect(await w.standing.reads.countRecords()).toBe(0);
    expect(await w.standing.reads.countSubjects()).toBe(0);
    // The same record in UTF-8 is accepted, under the name as written.
    const ok = await w.app.inject({ method: "POST", url: "/v1/records", headers: { authorization: court, ...json }, payload: rec(Buffer.from("Müller", "utf8")) });
    expect(ok.statusCode).toBe(201);
    expect(await w.standing.reads.resolve(nid("Müller"))).toBeDefined();
  });
});
