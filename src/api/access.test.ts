// Who may call what: every route × every principal, with the exact status written out
// by hand below (not derived from the server's own allow lists), plus the specific
// refusals the issue names. A real SQLite store, the published municipal-credit
// policy, a ManualClock and app.inject; nothing of ours is mocked.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance, InjectOptions } from "fastify";
import { buildServer } from "./server.js";
import { Standing } from "../standing.js";
import { testStore } from "../store/test-store.js";
import { ManualClock } from "../time.js";
import type { NewKeyRequest } from "../services/keys.js";
import { DecisionLog } from "../decision-log.js";
import { errorCodes } from "../errors.js";

const policyText = readFileSync(join(import.meta.dirname, "..", "..", "policies", "municipal-credit.yaml"), "utf8");
const NOW = Date.parse("2026-11-01T00:00:00Z");

// The fixture's records arrive a month before the tests run, so every notice period has passed.
const clock = new ManualClock(Date.parse("2026-10-01T12:00:00Z"));
const store = testStore();
const standing = new Standing(store, clock);
const decisionLog = new DecisionLog(standing);
let app: FastifyInstance;

/** The principals of the matrix, in the column order of the expected table. */
const WHO = ["none", "revoked", "source", "cp-air", "cp-rail", "admin", "author", "approver", "reviewer", "auditor", "subject", "malformed", "unknown"] as const;
type Who = (typeof WHO)[number];
const header: Partial<Record<Who, string>> = {};

const debtor = { scheme: "national-id", value: "debtor-1" };
const other = { scheme: "national-id", value: "other-1" };
let debtorId = 0;
let otherId = 0;
let recordSeq = 0;

function courtRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  recordSeq++;
  return {
    source: "court",
    id: `matrix-${recordSeq}`,
    type: "court.judgment.default",
    subject: { scheme: "national-id", value: `matrix-subject-${recordSeq}` },
    occurredAt: "2026-10-01T09:00:00+08:00",
    fields: { case: `M-${recordSeq}`, amount: 1200 },
    evidence: `file://matrix/${recordSeq}`,
    ...overrides,
  };
}

beforeAll(async () => {
  await standing.publish(policyText, "municipal-credit.yaml");
  const ingest = await standing.ingest([
    { source: "court", id: "c-debtor", type: "court.judgment.default", subject: debtor, occurredAt: "2026-10-01T09:00:00+08:00", fields: { case: "K-1", amount: 9000 }, evidence: "file://k-1" },
    { source: "airline", id: "a-other", type: "aviation.onboard-misconduct", subject: other, occurredAt: "2026-10-01T09:00:00+08:00", fields: { flight: "CA1234" }, evidence: "report://1" },
  ]);
  expect(ingest.map((r) => r.status)).toEqual(["accepted", "accepted"]);
  clock.set(NOW);
  debtorId = (await standing.reads.resolve(debtor)) as number;
  otherId = (await standing.reads.resolve(other)) as number;
  const key = async (req: NewKeyRequest): Promise<string> => `Bearer ${(await standing.createKey(req)).key}`;
  header.source = await key({ role: "source", source: "court", label: "district court" });
  header["cp-air"] = await key({ role: "checkpoint", contexts: ["air-travel"], label: "airline booking" });
  header["cp-rail"] = await key({ role: "checkpoint", contexts: ["rail-high-speed"], label: "rail ticket office" });
  header.admin = await key({ role: "admin", label: "admin" });
  header.author = await key({ role: "policy-author", label: "author" });
  header.approver = await key({ role: "policy-approver", label: "approver" });
  header.reviewer = await key({ role: "reviewer", label: "reviewer" });
  header.auditor = await key({ role: "auditor", label: "auditor" });
  header.subject = await key({ role: "subject", subjectId: debtorId, label: "the debtor" });
  const revoked = await standing.createKey({ role: "admin", label: "former admin" });
  header.revoked = `Bearer ${revoked.key}`;
  expect(await standing.revokeKey(revoked.row.keyId)).toBe(true);
  header.malformed = "Basic dXNlcjpwYXNz";
  // Well-formed (stk_ + 12 hex + 43 base64url) but never issued.
  header.unknown = `Bearer stk_0123456789ab_${"A".repeat(43)}`;
  app = buildServer(standing, { decisionLog });
  await app.ready();
  standingDispute = await freshDispute();
});

afterAll(async () => {
  await app.close();
  await standing.close();
});

function headersFor(who: Who, extra: Record<string, string> = {}): Record<string, string> {
  const h = header[who];
  return h === undefined ? { ...extra } : { authorization: h, ...extra };
}

interface Route {
  readonly name: string;
  /** Async where the request needs something stored first (a record, a dispute). */
  readonly request: () => InjectOptions | Promise<InjectOptions>;
}

const json = { "content-type": "application/json" };
const ndjson = { "content-type": "application/x-ndjson" };

const routes = {
  healthz: { name: "GET /healthz", request: () => ({ method: "GET", url: "/healthz" }) },
  openapi: { name: "GET /openapi.json", request: () => ({ method: "GET", url: "/openapi.json" }) },
  docs: { name: "GET /docs", request: () => ({ method: "GET", url: "/docs" }) },
  policy: { name: "GET /v1/policy", request: () => ({ method: "GET", url: "/v1/policy" }) },
  stats: { name: "GET /v1/stats", request: () => ({ method: "GET", url: "/v1/stats" }) },
  metrics: { name: "GET /metrics", request: () => ({ method: "GET", url: "/metrics" }) },
  checkPost: { name: "POST /v1/checks", request: () => ({ method: "POST", url: "/v1/checks", headers: json, payload: JSON.stringify({ subject: debtor, context: "air-travel" }) }) },
  checkGet: { name: "GET /v1/checks", request: () => ({ method: "GET", url: `/v1/checks?subject=national-id:${debtor.value}&context=air-travel` }) },
  screen: { name: "POST /v1/screenings", request: () => ({ method: "POST", url: "/v1/screenings?context=air-travel", headers: ndjson, payload: `${JSON.stringify(debtor)}\n"national-id:nobody"\n` }) },
  records: { name: "POST /v1/records", request: () => ({ method: "POST", url: "/v1/records", headers: json, payload: JSON.stringify(courtRecord()) }) },
  recordStatus: { name: "GET /v1/records/{source}/{id}", request: async () => ({ method: "GET", url: `/v1/records/court/${await freshDebtorRecord()}` }) },
  batch: { name: "GET /v1/batches/{receipt} (none on a single node)", request: () => ({ method: "GET", url: "/v1/batches/01a23aeb-7cd6-7704-93cf-6f169db4674e" }) },
  subjectByIdentifier: { name: "GET /v1/subjects?identifier=", request: () => ({ method: "GET", url: `/v1/subjects?identifier=national-id:${debtor.value}` }) },
  subject: { name: "GET /v1/subjects/{id}", request: () => ({ method: "GET", url: `/v1/subjects/${debtorId}` }) },
  statement: { name: "GET /v1/subjects/{id}/statement", request: () => ({ method: "GET", url: `/v1/subjects/${debtorId}/statement` }) },
  lint: { name: "POST /v1/policies?action=lint", request: () => ({ method: "POST", url: "/v1/policies?action=lint", headers: { "content-type": "application/yaml" }, payload: policyText }) },
  publish: { name: "POST /v1/policies?action=publish (not a way to publish)", request: () => ({ method: "POST", url: "/v1/policies?action=publish", headers: json, payload: JSON.stringify({ text: policyText }) }) },
  propose: { name: "POST /v1/policies?action=propose (a new version)", request: () => ({ method: "POST", url: "/v1/policies?action=propose", headers: { "content-type": "application/yaml" }, payload: nextVersion() }) },
  proposals: { name: "GET /v1/policies/proposals", request: () => ({ method: "GET", url: "/v1/policies/proposals" }) },
  proposal: { name: "GET /v1/policies/proposals/{id}", request: async () => ({ method: "GET", url: `/v1/policies/proposals/${await freshProposal()}` }) },
  approve: { name: "POST /v1/policies/proposals/{id}/approve", request: async () => ({ method: "POST", url: `/v1/policies/proposals/${await freshProposal()}/approve` }) },
  reject: { name: "POST /v1/policies/proposals/{id}/reject", request: async () => ({ method: "POST", url: `/v1/policies/proposals/${await freshProposal()}/reject`, headers: json, payload: JSON.stringify({ reason: "Not this quarter, please." }) }) },
  journalKey: { name: "GET /v1/journal/key", request: () => ({ method: "GET", url: "/v1/journal/key" }) },
  journalHead: { name: "GET /v1/journal/head", request: () => ({ method: "GET", url: "/v1/journal/head" }) },
  catalogue: { name: "GET /v1/catalogue", request: () => ({ method: "GET", url: "/v1/catalogue" }) },
  journalVerify: { name: "GET /v1/journal/verify", request: () => ({ method: "GET", url: "/v1/journal/verify" }) },
  unknownRoute: { name: "GET /v1/nothing-here", request: () => ({ method: "GET", url: "/v1/nothing-here" }) },
  disputeOpen: { name: "POST /v1/disputes", request: async () => ({ method: "POST", url: "/v1/disputes", headers: json, payload: JSON.stringify({ subject: debtorId, source: "court", record: await freshDebtorRecord(), grounds: "The judgment was paid; receipt attached." }) }) },
  disputeList: { name: "GET /v1/disputes", request: () => ({ method: "GET", url: "/v1/disputes" }) },
  disputeGet: { name: "GET /v1/disputes/{id}", request: () => ({ method: "GET", url: `/v1/disputes/${standingDispute}` }) },
  disputeAnswer: { name: "POST /v1/disputes/{id}/answer", request: async () => ({ method: "POST", url: `/v1/disputes/${await freshDispute()}/answer`, headers: json, payload: JSON.stringify({ answer: "confirm", note: "The case file names this subject." }) }) },
  disputeDecision: { name: "POST /v1/disputes/{id}/decision", request: async () => ({ method: "POST", url: `/v1/disputes/${await freshDispute(true)}/decision`, headers: json, payload: JSON.stringify({ decision: "dismissed", reason: "The record matches the court file." }) }) },
  notices: { name: "GET /v1/subjects/{id}/notices", request: () => ({ method: "GET", url: `/v1/subjects/${debtorId}/notices` }) },
  // Too early for early exit (a year on the list): allowed principals get 400, the rest are refused first.
  application: { name: "POST /v1/subjects/{id}/applications", request: () => ({ method: "POST", url: `/v1/subjects/${debtorId}/applications`, headers: json, payload: JSON.stringify({ list: "judgment-defaulters" }) }) },
} satisfies Record<string, Route>;

let standingDispute = "";
let versionSeq = 0;
/** The published policy under a version not used before (same content otherwise). */
function nextVersion(): string {
  versionSeq++;
  return policyText.replace(/^version: .*$/m, `version: 2026.1.${versionSeq}`);
}
/** A proposal by another author than any key of the matrix, open. */
async function freshProposal(): Promise<string> {
  return (await standing.proposePolicy(nextVersion(), "matrix author")).proposal.id;
}
let disputeSeq = 0;
/** A new court record about the debtor, so each allowed call has something undisputed to dispute. */
async function freshDebtorRecord(): Promise<string> {
  const id = `dp-${++disputeSeq}`;
  const [r] = await standing.ingest([{ source: "court", id, type: "court.judgment.default", subject: debtor, occurredAt: "2026-10-01T09:00:00+08:00", fields: { case: `D-${disputeSeq}`, amount: 10 }, evidence: `file://${id}` }]);
  expect(r?.status).toBe("accepted");
  return id;
}
async function freshDispute(answered = false): Promise<string> {
  const d = await standing.openDispute({ subjectId: debtorId, source: "court", recordId: await freshDebtorRecord(), grounds: "Disputed for the access matrix.", openedBy: "test" });
  // A reviewer decides only once the source has answered.
  if (answered) await standing.answerDispute(d.id, "court", "confirm", "The case file names this subject.");
  return d.id;
}

// The expected status of every route for every principal, written out by hand.
// Columns:        none revoked source cp-air cp-rail admin author approver reviewer auditor subject malformed unknown
const expected: Record<keyof typeof routes, readonly number[]> = {
  healthz:             [200, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
  openapi:             [200, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
  docs:                [200, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
  policy:              [200, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
  stats:               [200, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
  metrics:             [401, 401, 403, 403, 403, 200, 403, 403, 403, 200, 403, 401, 401],
  checkPost:           [401, 401, 403, 200, 403, 403, 403, 403, 403, 403, 403, 401, 401],
  checkGet:            [401, 401, 403, 200, 403, 403, 403, 403, 403, 403, 403, 401, 401],
  screen:              [401, 401, 403, 200, 403, 403, 403, 403, 403, 403, 403, 401, 401],
  records:             [401, 401, 201, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401],
  recordStatus:        [401, 401, 200, 403, 403, 200, 403, 403, 200, 200, 403, 401, 401],
  batch:               [401, 401, 404, 403, 403, 404, 403, 403, 404, 404, 403, 401, 401],
  subjectByIdentifier: [401, 401, 403, 403, 403, 200, 403, 403, 200, 200, 200, 401, 401],
  subject:             [401, 401, 403, 403, 403, 200, 403, 403, 200, 200, 200, 401, 401],
  statement:           [401, 401, 403, 403, 403, 200, 403, 403, 200, 200, 200, 401, 401],
  lint:                [401, 401, 403, 403, 403, 200, 200, 403, 403, 403, 403, 401, 401],
  publish:             [401, 401, 403, 403, 403, 400, 400, 403, 403, 403, 403, 401, 401],
  propose:             [401, 401, 403, 403, 403, 201, 201, 403, 403, 403, 403, 401, 401],
  proposals:           [401, 401, 403, 403, 403, 200, 200, 200, 403, 200, 403, 401, 401],
  proposal:            [401, 401, 403, 403, 403, 200, 200, 200, 403, 200, 403, 401, 401],
  approve:             [401, 401, 403, 403, 403, 403, 403, 201, 403, 403, 403, 401, 401],
  reject:              [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 401, 401],
  journalKey:          [200, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
  journalHead:         [200, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
  catalogue:           [200, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401],
  journalVerify:       [401, 401, 403, 403, 403, 403, 403, 403, 403, 200, 403, 401, 401],
  unknownRoute:        [404, 401, 404, 404, 404, 404, 404, 404, 404, 404, 404, 401, 401],
  disputeOpen:         [401, 401, 403, 403, 403, 201, 403, 403, 201, 403, 201, 401, 401],
  disputeList:         [401, 401, 200, 403, 403, 200, 403, 403, 200, 200, 403, 401, 401],
  disputeGet:          [401, 401, 200, 403, 403, 200, 403, 403, 200, 200, 200, 401, 401],
  disputeAnswer:       [401, 401, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401],
  disputeDecision:     [401, 401, 403, 403, 403, 403, 403, 403, 200, 403, 403, 401, 401],
  notices:             [401, 401, 403, 403, 403, 200, 403, 403, 200, 200, 200, 401, 401],
  application:         [401, 401, 403, 403, 403, 400, 403, 403, 403, 403, 400, 401, 401],
};

/** Routes in the OpenAPI document deliberately left out of the matrix (none). */
const NOT_YET_IN_MATRIX: readonly string[] = [];

const cases = Object.entries(routes).flatMap(([key, route]) =>
  WHO.map((who, i) => ({ route: route.name, key: key as keyof typeof routes, who, status: (expected[key as keyof typeof routes] as readonly number[])[i] as number })),
);

describe("route × principal matrix", () => {
  it("covers every route and principal", () => {
    expect(cases).toHaveLength(Object.keys(routes).length * WHO.length);
    for (const row of Object.values(expected)) expect(row).toHaveLength(WHO.length);
  });

  it("every route the OpenAPI document lists is in the matrix, or named as not yet covered", async () => {
    const doc = (await app.inject({ method: "GET", url: "/openapi.json" })).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    const inMatrix = new Set(Object.values(routes).map((r) => r.name.replace(/\?.*$/, "").replace(/ \(.*\)$/, "")));
    const missing = documented.filter((op) => !inMatrix.has(op) && !NOT_YET_IN_MATRIX.includes(op));
    expect(missing).toEqual([]);
  });

  it.each(cases)("$route as $who → $status", async ({ key, who, status }) => {
    const req: InjectOptions = await routes[key].request();
    const res = await app.inject({ ...req, headers: headersFor(who, (req.headers ?? {}) as Record<string, string>) });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(status);
    if (status >= 400) {
      const body = res.json() as { error: { code: string; message: string; details: unknown; requestId: string } };
      const code = status === 401 ? "unauthorized" : status === 403 ? "forbidden" : status === 400 ? "bad-request" : "not-found";
      expect(body.error.code).toBe(code);
      expect(errorCodes[body.error.code as keyof typeof errorCodes]).toBe(status);
      expect(body.error.message.length).toBeGreaterThan(0);
      expect(typeof body.error.details).toBe("object");
      expect(body.error.requestId.length).toBeGreaterThan(0);
    }
  });
});

describe("the refusals the issue names", () => {
  const reads = standing.reads;
  /** What is stored, through the read models: identifiers and states are counted subject by subject. */
  const stored = async (): Promise<{ records: number; subjects: number; identifiers: number; quarantine: number; states: number }> => {
    const subjects = await reads.countSubjects();
    let identifiers = 0;
    let states = 0;
    for (let id = 1, seen = 0; seen < subjects; id++) {
      if (id > 2 * subjects + 1000) throw new Error(`found ${seen} of ${subjects} subjects`);
      if (!(await reads.subjectExists(id))) continue;
      seen++;
      identifiers += (await reads.identifiersOf(id)).length;
      if ((await reads.storedState(id)) !== undefined) states++;
    }
    return { records: await reads.countRecords(), subjects, identifiers, quarantine: (await reads.listQuarantine(1_000_000)).length, states };
  };

  it("a rail-high-speed checkpoint asking about air-travel is refused, and nothing is logged", async () => {
    await decisionLog.flush();
    const before = await reads.countDecisions();
    const post = await app.inject({ method: "POST", url: "/v1/checks", headers: headersFor("cp-rail", json), payload: { subject: debtor, context: "air-travel" } });
    expect(post.statusCode).toBe(403);
    expect(post.json()).toMatchObject({ error: { code: "forbidden", details: { context: "air-travel" } } });
    const get = await app.inject({ method: "GET", url: `/v1/checks?subject=national-id:${debtor.value}&context=air-travel`, headers: headersFor("cp-rail") });
    expect(get.statusCode).toBe(403);
    const screen = await app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: headersFor("cp-rail", ndjson), payload: `"national-id:${debtor.value}"\n` });
    expect(screen.statusCode).toBe(403);
    // Its own context is answered.
    const own = await app.inject({ method: "POST", url: "/v1/checks", headers: headersFor("cp-rail", json), payload: { subject: debtor, context: "rail-high-speed" } });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ decision: "deny", reasons: [{ code: "SPC-DEBTOR" }] });
    await decisionLog.flush();
    expect(await reads.countDecisions()).toBe(before + 1);
  });

  it("a source submitting a record type it is not granted is refused with source-not-allowed, and nothing is stored", async () => {
    const before = await stored();
    const speeding = { source: "court", id: "not-granted-1", type: "traffic.speeding", subject: { scheme: "national-id", value: "speeder-1" }, occurredAt: "2026-10-20T10:00:00+08:00", fields: { "kmh-over": 30 }, evidence: "cam://1" };
    const res = await app.inject({ method: "POST", url: "/v1/records", headers: headersFor("source", json), payload: speeding });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: "source-not-allowed", details: { source: "court", type: "traffic.speeding" } } });
    // The same in a batch: the line is rejected with the code, the others are unaffected.
    const batch = await app.inject({ method: "POST", url: "/v1/records", headers: headersFor("source", ndjson), payload: `${JSON.stringify({ ...speeding, id: "not-granted-2" })}\n` });
    expect(batch.statusCode).toBe(200);
    expect(JSON.parse(batch.body.trim())).toMatchObject({ line: 1, status: "rejected", error: { code: "source-not-allowed" } });
    expect(await stored()).toEqual(before);
    expect(await reads.resolve({ scheme: "national-id", value: "speeder-1" })).toBeUndefined();
  });

  it("a source submitting as another source is refused, and nothing is stored", async () => {
    const before = await reads.countRecords();
    const asPolice = { source: "traffic-police", id: "impersonated-1", type: "traffic.speeding", subject: { scheme: "national-id", value: "speeder-2" }, occurredAt: "2026-10-20T10:00:00+08:00", fields: { "kmh-over": 30 }, evidence: "cam://2" };
    const res = await app.inject({ method: "POST", url: "/v1/records", headers: headersFor("source", json), payload: asPolice });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: "forbidden" } });
    const batch = await app.inject({ method: "POST", url: "/v1/records", headers: headersFor("source", ndjson), payload: `${JSON.stringify({ ...asPolice, id: "impersonated-2" })}\n` });
    expect(batch.statusCode).toBe(200);
    expect(JSON.parse(batch.body.trim())).toMatchObject({ line: 1, status: "rejected", error: { code: "forbidden" } });
    // A retraction of another source's record is no way around it either.
    const retract = await app.inject({ method: "POST", url: "/v1/records", headers: headersFor("source", json), payload: { source: "airline", id: "retract-1", retracts: "a-other", occurredAt: "2026-10-20T10:00:00+08:00" } });
    expect(retract.statusCode).toBe(403);
    expect(await reads.countRecords()).toBe(before);
    expect(await reads.resolve({ scheme: "national-id", value: "speeder-2" })).toBeUndefined();
  });

  it("a subject key reads only its own file", async () => {
    for (const url of [`/v1/subjects/${otherId}`, `/v1/subjects/${otherId}/statement`, `/v1/subjects?identifier=national-id:${other.value}`, `/v1/subjects/${otherId}/statement?format=text`]) {
      const res = await app.inject({ method: "GET", url, headers: headersFor("subject") });
      expect(res.statusCode, url).toBe(403);
      expect(res.json(), url).toMatchObject({ error: { code: "forbidden" } });
      expect(res.body, url).not.toContain(other.value);
    }
    // Whether an unknown subject exists is not revealed to a subject key either.
    for (const url of ["/v1/subjects/999999", "/v1/subjects?identifier=national-id:nobody-at-all"]) {
      const res = await app.inject({ method: "GET", url, headers: headersFor("subject") });
      expect(res.statusCode, url).toBe(403);
    }
    const own = await app.inject({ method: "GET", url: `/v1/subjects/${debtorId}`, headers: headersFor("subject") });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ id: debtorId, identifiers: [debtor] });
  });

  it("a checkpoint answer never carries the score, the tier or list memberships", async () => {
    // The receipt signs the same: the decision id, subject, context, answer, codes, policy, time and journal head.
    const allowedKeys = ["id", "subject", "decision", "context", "reasons", "privileges", "policy", "at", "receipt"].sort();
    for (const [who, subject, context] of [
      ["cp-air", debtor, "air-travel"],
      ["cp-air", other, "air-travel"],
      ["cp-rail", other, "rail-high-speed"],
      ["cp-rail", debtor, "rail-high-speed"],
    ] as const) {
      const res = await app.inject({ method: "POST", url: "/v1/checks", headers: headersFor(who, json), payload: { subject, context } });
      expect(res.statusCode).toBe(200);
      const body = res.json() as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(allowedKeys);
      for (const r of body.reasons as Record<string, unknown>[]) expect(Object.keys(r).sort()).toEqual(["basis", "code", "measure", "until"]);
      for (const word of ["score", "tier", "lists", "judgment-defaulters", "aviation-banned", "rail-banned", "green-lane", "points"]) expect(res.body).not.toContain(word);
    }
    // The rail office learns nothing of the subject's aviation ban.
    const rail = await app.inject({ method: "GET", url: `/v1/checks?subject=national-id:${other.value}&context=rail-high-speed`, headers: headersFor("cp-rail") });
    expect(rail.json()).toMatchObject({ decision: "allow", reasons: [], privileges: [] });
    expect(rail.body).not.toContain("CAAC");
    const screen = await app.inject({ method: "POST", url: "/v1/screenings?context=air-travel", headers: headersFor("cp-air", ndjson), payload: `${JSON.stringify(debtor)}\n${JSON.stringify(other)}\n` });
    expect(screen.statusCode).toBe(200);
    const lines = screen.body.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.decision)).toEqual(["deny", "deny"]);
    for (const l of lines) expect(Object.keys(l).sort()).toEqual(["decision", "id", "line", "reasons", "subject"]);
    for (const word of ["score", "tier", "lists", "judgment-defaulters", "aviation-banned"]) expect(screen.body).not.toContain(word);
  });

  it("a key that worked is refused with 401 everywhere once revoked", async () => {
    const created = await standing.createKey({ role: "checkpoint", contexts: ["air-travel"], label: "soon revoked" });
    const h = { authorization: `Bearer ${created.key}`, ...json };
    const ok = await app.inject({ method: "POST", url: "/v1/checks", headers: h, payload: { subject: debtor, context: "air-travel" } });
    expect(ok.statusCode).toBe(200);
    expect(await standing.revokeKey(created.row.keyId)).toBe(true);
    const after = await app.inject({ method: "POST", url: "/v1/checks", headers: h, payload: { subject: debtor, context: "air-travel" } });
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ error: { code: "unauthorized", details: { keyId: created.row.keyId } } });
    // A key with one character changed is unknown, not a near miss.
    const last = created.key.at(-1) === "A" ? "B" : "A";
    const tampered = await app.inject({ method: "GET", url: "/healthz", headers: { authorization: `Bearer ${created.key.slice(0, -1)}${last}` } });
    expect(tampered.statusCode).toBe(401);
  });

  it("a policy is published only when someone other than its author approves it, and both are shown", async () => {
    const text = policyText.replace(/^version: .*$/m, "version: 2026.9.0");
    const proposed = await app.inject({ method: "POST", url: "/v1/policies?action=propose", headers: headersFor("author", { "content-type": "application/yaml" }), payload: text });
    expect(proposed.statusCode, proposed.body).toBe(201);
    const { proposal } = proposed.json() as { proposal: { id: string; ref: string; status: string; proposedBy: string } };
    expect(proposal).toMatchObject({ ref: "municipal-credit@2026.9.0", status: "proposed" });
    expect(proposal.proposedBy).toMatch(/^policy-author key [0-9a-f]{12} \(author\)$/);
    // Proposed is not published.
    expect(standing.publishedPolicies().map((p) => p.ref)).not.toContain("municipal-credit@2026.9.0");
    // The author's key cannot approve (wrong role); nor can an actor named as its author (the CLI's --by).
    expect((await app.inject({ method: "POST", url: `/v1/policies/proposals/${proposal.id}/approve`, headers: headersFor("author") })).statusCode).toBe(403);
    await expect(standing.approvePolicy(proposal.id, proposal.proposedBy)).rejects.toMatchObject({ code: "forbidden" });
    await expect(standing.approvePolicy(proposal.id, ` ${proposal.proposedBy.toUpperCase()} `)).rejects.toMatchObject({ code: "forbidden" });
    expect(standing.publishedPolicies().map((p) => p.ref)).not.toContain("municipal-credit@2026.9.0");
    const approved = await app.inject({ method: "POST", url: `/v1/policies/proposals/${proposal.id}/approve`, headers: headersFor("approver") });
    expect(approved.statusCode, approved.body).toBe(201);
    expect(approved.json()).toMatchObject({ policy: "municipal-credit@2026.9.0", status: "published", proposal: { status: "approved", decidedBy: expect.stringMatching(/^policy-approver key [0-9a-f]{12} \(approver\)$/) } });
    const pub = (await app.inject({ method: "GET", url: "/v1/policy" })).json() as { ref?: string; proposedBy: string; approvedBy: string; versions: { ref: string; proposedBy: string | null; approvedBy: string | null }[] };
    const v = pub.versions.find((x) => x.ref === "municipal-credit@2026.9.0");
    expect(v).toMatchObject({ proposedBy: proposal.proposedBy, approvedBy: expect.stringContaining("policy-approver key") });
    // Approving again changes nothing; a rejected proposal cannot be approved.
    expect((await app.inject({ method: "POST", url: `/v1/policies/proposals/${proposal.id}/approve`, headers: headersFor("approver") })).json()).toMatchObject({ status: "unchanged" });
    const other = await standing.proposePolicy(policyText.replace(/^version: .*$/m, "version: 2026.9.1"), "someone");
    const rej = await app.inject({ method: "POST", url: `/v1/policies/proposals/${other.proposal.id}/reject`, headers: headersFor("approver", json), payload: { reason: "Wait for the council's vote." } });
    expect(rej.json()).toMatchObject({ status: "rejected", note: "Wait for the council's vote." });
    const late = await app.inject({ method: "POST", url: `/v1/policies/proposals/${other.proposal.id}/approve`, headers: headersFor("approver") });
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ error: { code: "record-conflict" } });
    expect((await app.inject({ method: "POST", url: "/v1/policies/proposals/nope/approve", headers: headersFor("approver") })).statusCode).toBe(404);
  });

  it("keys are stored hashed: no table holds a key", async () => {
    const keyText = (header.admin as string).slice("Bearer ".length);
    const secret = keyText.split("_").slice(2).join("_");
    const dump = JSON.stringify(await standing.listKeys());
    expect(dump).not.toContain(secret);
  });
});
