// Malformed input never yields a 5xx, never crashes the server, always answers with
// an error from the closed set, and never changes the database. fast-check throws
// more than 10,000 generated requests at every route: wrong types, huge strings (up
// to ~1 MB), deep nesting (up to 100,000 levels), invalid UTF-8, wrong or missing
// content types, truncated NDJSON, oversized bodies, random query strings, path
// parameters and headers. The web pages served beside the API get a family of their
// own: they answer people with HTML, so only "no 5xx" and "nothing stored" apply.
//
// The decision log and the journal (which records every write, the decision log's
// included) are the only tables that may change, and only by the answered checks.
//
// The record and policy generators only ever produce invalid input (every record
// carries at least one mutation that makes it unacceptable; every policy keeps the
// published version, so it can at most be refused as "different content"). Checks
// and screenings may be well-formed by chance (Fastify coerces some wrong types, and
// a random identifier is a valid question); those answers are counted, and the
// decision log must have grown by exactly that many entries and nothing else.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import type { FastifyInstance, InjectOptions } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer } from "./server.js";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { ManualClock } from "../time.js";
import type { NewKeyRequest } from "../services/keys.js";
import { DecisionLog } from "../decision-log.js";
import { errorCodes } from "../errors.js";

const policyText = readFileSync(join(import.meta.dirname, "..", "..", "policies", "municipal-credit.yaml"), "utf8");
const JSON_LIMIT = 1_048_576; // the server's bodyLimit
const NDJSON_LIMIT = 2 * 1_048_576; // set small here so oversized NDJSON is cheap to send

const clock = new ManualClock(Date.parse("2026-10-01T00:00:00Z"));
// A file, so that the test can look at every table through a connection of its own, as
// the sqlite3 shell would: the store itself offers no way around its interface. In
// memory where the system has a RAM disk: the refusals Standing journals are thousands
// of small commits, each synced.
const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "standing-fuzz-"));
const dbPath = join(dir, "fuzz.db");
const standing = new Standing(new SqliteStore(dbPath), clock);
const log = new DecisionLog(standing);
let observer: Database.Database | undefined;
/** A read-only connection of the test's own; it sees what the server has committed. */
const db = (): Database.Database => (observer ??= new Database(dbPath, { readonly: true, fileMustExist: true }));
let app: FastifyInstance;
let debtorId = 0;
/** Keys by principal, created in beforeAll. */
const auth: Record<string, string> = {};
const PRINCIPALS = ["source", "checkpoint", "checkpoint-rail", "admin", "policy-author", "policy-approver", "reviewer", "auditor", "subject", "revoked"];

// ------------------------------------------------------------------ the database

const MUST_COVER = ["records", "quarantine", "states", "subjects", "identifiers", "policies", "keys"];

/** The decision log (checks, and screenings logged compactly), and the hash-chained journal that records every write (including the decision log's). */
const LOGS = ["decisions", "screenings", "journal", "journal_checkpoints"];

const tableNames = (): string[] => (db().prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((t) => t.name);

/**
 * A checksum per table of every table but the logs. The decision log may grow by
 * accepted checks; journal entries are compared separately (journalSince).
 */
function checksum(): Record<string, string> {
  const tables = tableNames();
  for (const t of MUST_COVER) expect(tables).toContain(t);
  const out: Record<string, string> = {};
  for (const t of tables.filter((x) => !LOGS.includes(x)).sort()) {
    const rows = (db().prepare(`SELECT * FROM "${t}"`).all() as unknown[]).map((r) => JSON.stringify(r)).sort();
    out[t] = `${rows.length} rows, sha256 ${createHash("sha256").update(rows.join("\n")).digest("hex")}`;
  }
  return out;
}

/** The journal's last entry (0 when this build has no journal). */
function journalHead(): number {
  if (!tableNames().includes("journal")) return 0;
  return (db().prepare("SELECT coalesce(max(seq), 0) AS n FROM journal").get() as { n: number }).n;
}

/** Journal entries after `seq`, counted by the table they record a change to. */
function journalSince(seq: number): Record<string, number> {
  if (!tableNames().includes("journal")) return {};
  const rows = db().prepare("SELECT coalesce(tbl, kind) AS what, count(*) AS n FROM journal WHERE seq > ? GROUP BY 1").all(seq) as { what: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.what, r.n]));
}

async function loggedDecisions(): Promise<number> {
  await log.flush();
  return standing.reads.countDecisions();
}

// ------------------------------------------------------------------ sending and judging

/** The read-only web pages (src/web/routes.ts), and the first path segments that belong to the web UI. */
const WEB_PAGES = ["/", "/rulebook", "/stats", "/versions", "/login", "/me", "/console", "/console/subjects", "/console/disputes", "/console/quarantine", "/console/policy", "/console/journal", "/assets/standing.css"];
const WEB_SEGMENTS = new Set(["", "rulebook", "stats", "versions", "login", "logout", "me", "console", "assets"]);
/** The path as the server will see it ("/../x" is "/x"). */
function pathOf(url: string): string {
  try {
    return new URL(url, "http://localhost").pathname;
  } catch {
    return url.split("?")[0] as string;
  }
}
const isWebPage = (url: string): boolean => WEB_SEGMENTS.has(pathOf(url).split("/")[1] ?? "");

/** The codes the records route itself refuses with, before a record reaches Standing.ingest. */
const REFUSED_BEFORE_INGEST = new Set(["unauthorized", "forbidden", "bad-request", "payload-too-large", "unsupported-media-type", "not-found"]);

/**
 * What the generated requests did: answered checks (each is logged), and records that
 * Standing.ingest refused (a batch's refusals are journaled as one "records.rejected" entry).
 */
const stats = { sent: 0, byStatus: new Map<number, number>(), decisions: 0, rejectedByIngest: 0 };

/** Sends one request and checks everything that must hold for any input. */
async function send(req: InjectOptions): Promise<void> {
  const res = await app.inject(req);
  stats.sent++;
  stats.byStatus.set(res.statusCode, (stats.byStatus.get(res.statusCode) ?? 0) + 1);
  const what = `${req.method} ${String(req.url).slice(0, 120)} ${JSON.stringify(req.headers ?? {}).slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
  expect(res.statusCode, what).toBeLessThan(500);
  const type = String(res.headers["content-type"] ?? "");
  if (res.statusCode >= 400) {
    if (req.method === "HEAD") return;
    // The web pages (src/web) answer people, with an HTML page; everything else answers with the JSON error body.
    if (isWebPage(String(req.url)) && type.startsWith("text/html")) return;
    expect(type, what).toMatch(/^application\/json/);
    const body = res.json() as { error?: { code?: unknown; message?: unknown; details?: unknown; requestId?: unknown } };
    const code = body.error?.code;
    expect(Object.keys(errorCodes), what).toContain(code);
    expect(errorCodes[code as keyof typeof errorCodes], what).toBe(res.statusCode);
    expect(typeof body.error?.message, what).toBe("string");
    expect(typeof body.error?.details === "object" && body.error?.details !== null, what).toBe(true);
    expect(typeof body.error?.requestId, what).toBe("string");
    if (pathOf(String(req.url)) === "/v1/records" && !REFUSED_BEFORE_INGEST.has(code as string)) stats.rejectedByIngest++;
    return;
  }
  // A 2xx: nothing may have been stored, and answered checks are counted.
  if (type.startsWith("application/x-ndjson")) {
    for (const line of res.body.split("\n")) {
      if (line === "") continue;
      const r = JSON.parse(line) as { status?: string; decision?: string; error?: { code: string } };
      expect(["accepted", "quarantined"], what).not.toContain(r.status);
      if (r.decision !== undefined) stats.decisions++;
      if (r.status === "rejected" && !REFUSED_BEFORE_INGEST.has(r.error?.code ?? "")) stats.rejectedByIngest++;
    }
  } else if (type.startsWith("application/json") && req.method !== "HEAD") {
    const r = res.json() as { status?: string; decision?: string; id?: string; policy?: string };
    expect(["accepted", "quarantined", "published", "scheduled"], what).not.toContain(r.status);
    if (r.decision !== undefined && r.id !== undefined && r.policy !== undefined) stats.decisions++;
  }
}

// ------------------------------------------------------------------ generators

/** The value a raw JSON text stands for (undefined when it is not JSON). */
const valueOf = (raw: string): unknown => {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
};
/**
 * What the envelope accepts as source, id, type and retracts: 1-200 characters, no control
 * characters. Characters are code points, as the schema counts them: 245 UTF-16 units of
 * astral characters can be 147 characters, a valid id.
 */
const isToken = (v: unknown): boolean => {
  if (typeof v !== "string") return false;
  const n = [...v].length;
  return n >= 1 && n <= 200 && ![...v].some((c) => c.charCodeAt(0) < 0x20);
};
const isObjectWithSource = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v) && "source" in v;
const chars = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCharCode(c));
/** Printable ASCII: safe in header values and, encoded, in URLs. */
const printable = (maxLength = 40) => fc.string({ unit: chars(0x20, 0x7e), maxLength });
const controlChars = fc.string({ unit: chars(0x00, 0x1f), minLength: 1, maxLength: 4 });
/** Long strings: mostly tens of kB, sometimes up to ~1.1 MB. Built by repetition, so cheap. */
const huge = fc
  .tuple(
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 3 }),
    fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 201, max: 20_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 1_100_000 }) }),
  )
  .map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n));
/** Deeply nested JSON (or YAML flow) text, arrays or objects, up to `max` levels. */
const deepUpTo = (max: number) =>
  fc
    .tuple(fc.oneof(fc.integer({ min: 20, max: 2_000 }), fc.integer({ min: 2_000, max })), fc.boolean())
    .map(([d, arrays]) => (arrays ? "[".repeat(d) + "]".repeat(d) : '{"a":'.repeat(d) + "1" + "}".repeat(d)));
const deep = deepUpTo(100_000);
/** A JSON value of the wrong type, or a wrong string, as JSON text. */
const wrongValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("null", "true", "false", "0", "-1", "1e308", "-0.5", "[]", "{}", '""', '[""]', "[1,2]", '{"scheme":1}'),
  fc.double().map((x) => JSON.stringify(x)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
  huge.map((s) => JSON.stringify(s)),
  controlChars.map((s) => JSON.stringify(s)),
  deep,
);
/** Bytes that are never valid UTF-8 wherever they appear. */
const badUtf8 = fc.constantFrom(
  [0xff],
  [0xfe],
  [0xc0, 0x80], // overlong NUL
  [0xc3], // a lead byte without its continuation...
  [0x80], // ...and a continuation without its lead
  [0xed, 0xa0, 0x80], // an encoded surrogate
  [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
  [0xf8, 0x88, 0x80, 0x80, 0x80],
);
/** Inserts invalid bytes into a body at a random place. */
const withBadBytes = (body: string) =>
  fc.tuple(fc.nat({ max: body.length }), fc.array(badUtf8, { minLength: 1, maxLength: 3 })).map(([at, bad]) => {
    const b = Buffer.from(body, "utf8");
    const cut = Math.min(at, b.length);
    return Buffer.concat([b.subarray(0, cut), Buffer.from(bad.flat()), b.subarray(cut)]);
  });
/** A prefix of the body, strictly shorter than it. */
const truncated = (body: string) => fc.nat({ max: Math.max(0, body.length - 1) }).map((n) => body.slice(0, n));
const contentTypes = fc.constantFrom(
  "text/plain",
  "text/html",
  "application/xml",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/octet-stream",
  "image/png",
  "application/jsonx",
  "application/json-seq",
  "application/yaml",
  "application/x-ndjson",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "*/*",
  "json",
  ";;;",
  "application/json; charset=\u0022utf-8",
);
/** A body larger than the limit. */
const oversized = (limit: number) => fc.integer({ min: limit + 1, max: limit + 64 * 1024 }).map((n) => `{"x":"${"y".repeat(n)}"}`);
const queryValue = fc.oneof(printable(30).map(encodeURIComponent), fc.constantFrom("%", "%zz", "%E0%A4%A", "%00", "%FF%FE", "a:b", "national-id:x", "air-travel", "lint", "publish", "text", "json"), fc.integer({ min: 200, max: 20_000 }).map((n) => "q%C3%A9".repeat(n)));
const queryString = fc.oneof(
  fc.constant(""),
  fc.webQueryParameters().map((q) => (q ? `?${q}` : "")),
  fc.array(fc.tuple(fc.constantFrom("subject", "context", "identifier", "format", "action", "x", "", "__proto__", "constructor"), queryValue), { maxLength: 4 }).map((kv) => `?${kv.map(([k, v]) => `${k}=${v}`).join("&")}`),
  fc.constantFrom("?", "?&&", "?=", "?a", "?context", "?context=", "?context[]=air-travel", "?context=air-travel&context=air-travel"),
);

type Body = { payload?: string | Buffer; headers: Record<string, string> };
/** The ways a body can be malformed, given a well-formed (or a deliberately bad) body text for the route. */
function bodyVariants(good: string, contentType: string, limit: number): fc.Arbitrary<Body> {
  return fc.oneof(
    fc.constant({ payload: good, headers: { "content-type": contentType } }),
    contentTypes.map((ct) => ({ payload: good, headers: { "content-type": ct } })),
    fc.constant({ payload: good, headers: {} }),
    withBadBytes(good).map((b) => ({ payload: b, headers: { "content-type": contentType } })),
    truncated(good).map((t) => ({ payload: t, headers: { "content-type": contentType } })),
    oversized(limit).map((b) => ({ payload: b, headers: { "content-type": contentType } })),
    fc.uint8Array({ maxLength: 300 }).map((b) => ({ payload: Buffer.from(b), headers: { "content-type": contentType } })),
    fc
      .jsonValue({ maxDepth: 4 })
      .filter((v) => !isObjectWithSource(v))
      .map((v) => ({ payload: JSON.stringify(v) ?? "", headers: { "content-type": contentType } })),
    fc.constant({ payload: "", headers: { "content-type": contentType } }),
    // A Content-Length that does not match the body.
    fc.integer({ min: 0, max: 10_000 }).filter((n) => n !== Buffer.byteLength(good)).map((n) => ({ payload: good, headers: { "content-type": contentType, "content-length": String(n) } })),
  );
}

/** An Authorization header: the route's own keys mostly, and every other kind of caller. */
function authFor(...roles: string[]): fc.Arbitrary<Record<string, string>> {
  const header = (h: string | undefined): Record<string, string> => (h === undefined ? {} : { authorization: h });
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...roles).map((r) => header(auth[r])) },
    { weight: 2, arbitrary: fc.constantFrom(...PRINCIPALS).map((r) => header(auth[r])) },
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.oneof(printable(80), fc.constantFrom("Bearer", "Bearer ", "bearer  x", `Bearer stk_000000000000_${"A".repeat(43)}`, `Bearer ${"k".repeat(8000)}`, "Basic Zm9vOmJhcg==")).map((h) => ({ authorization: h })) },
  );
}

const inject = (method: string, url: string, a: Record<string, string>, b: Body | undefined): InjectOptions => ({
  method: method as InjectOptions["method"],
  url,
  headers: { ...a, ...(b?.headers ?? {}) },
  ...(b?.payload !== undefined ? { payload: b.payload } : {}),
});

// --- checks: a template with one slot filled by something wrong, or a good body sent badly
const subjectSlot = fc.oneof(wrongValue, wrongValue.map((v) => `{"scheme":${v},"value":"x"}`), wrongValue.map((v) => `{"scheme":"national-id","value":${v}}`), fc.constant('{"scheme":"national-id"}'));
const contextSlot = fc.oneof(wrongValue, fc.constantFrom('"air-travel"', '"rail-high-speed"', '"moon-landing"', '"public-services"'));
const checkBody = fc.oneof(
  fc.tuple(subjectSlot, contextSlot).map(([s, c]) => `{"subject":${s},"context":${c}}`),
  contextSlot.map((c) => `{"subject":{"scheme":"national-id","value":"debtor"},"context":${c}}`),
  subjectSlot.map((s) => `{"subject":${s}}`),
  fc.constant('{"subject":{"scheme":"national-id","value":"debtor"},"context":"air-travel"}'),
);
const checkRequest: fc.Arbitrary<InjectOptions> = fc.oneof(
  fc.tuple(checkBody.chain((good) => bodyVariants(good, "application/json", JSON_LIMIT)), authFor("checkpoint", "checkpoint-rail")).map(([b, a]) => inject("POST", "/v1/checks", a, b)),
  fc.tuple(queryString, authFor("checkpoint", "checkpoint-rail")).map(([q, a]) => inject("GET", `/v1/checks${q}`, a, undefined)),
);

// --- screenings
const screeningLine = fc.oneof(
  fc.constantFrom('"national-id:debtor"', '{"scheme":"national-id","value":"debtor"}', '{"subject":{"scheme":"national-id","value":"x"}}', '"no-colon"', '":x"', '"x:"', "null", "42", "[]", "{", "", "   "),
  wrongValue,
  printable(60),
);
const screeningNdjson = fc.array(screeningLine, { maxLength: 30 }).chain((ls) => fc.constantFrom("\n", "\r\n").map((sep) => ls.join(sep)));
const screeningArray = fc.array(screeningLine.filter((l) => l.trim() !== "" && l !== "{"), { maxLength: 30 }).map((ls) => `[${ls.join(",")}]`);
const screeningRequest: fc.Arbitrary<InjectOptions> = fc
  .tuple(
    fc.oneof(screeningNdjson.chain((good) => bodyVariants(good, "application/x-ndjson", NDJSON_LIMIT)), screeningArray.chain((good) => bodyVariants(good, "application/json", JSON_LIMIT))),
    fc.oneof({ weight: 4, arbitrary: fc.constant("?context=air-travel") }, { weight: 1, arbitrary: queryString }),
    authFor("checkpoint", "checkpoint-rail"),
  )
  .map(([b, q, a]) => inject("POST", `/v1/screenings${q}`, a, b));

// --- records: every generated record is unacceptable by construction
const validRecord = (n: number): Record<string, unknown> => ({
  source: "court",
  id: `fuzz-${n}`,
  type: "court.judgment.default",
  subject: { scheme: "national-id", value: `fuzz-subject-${n}` },
  occurredAt: "2026-09-01T10:00:00+08:00",
  fields: { case: `F-${n}`, amount: 100 },
  evidence: `file://fuzz/${n}`,
});
let recordSeq = 0;
/** Replaces the raw JSON text of one top-level property. */
const withRaw = (rec: Record<string, unknown>, key: string, raw: string): string => {
  const parts = Object.entries(rec).filter(([k]) => k !== key).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  parts.push(`${JSON.stringify(key)}:${raw}`);
  return `{${parts.join(",")}}`;
};
const notAToken = fc.oneof(wrongValue.filter((v) => !isToken(valueOf(v))), fc.constant('""'), controlChars.map((c) => JSON.stringify(`a${c}b`)), huge.filter((s) => !isToken(s)).map((s) => JSON.stringify(s)));
const badRecord: fc.Arbitrary<string> = fc.nat().chain(() => {
  const rec = validRecord(++recordSeq);
  const drop = (k: string) => JSON.stringify(Object.fromEntries(Object.entries(rec).filter(([x]) => x !== k)));
  return fc.oneof(
    fc.constantFrom("source", "id", "type", "subject", "occurredAt", "evidence").map(drop),
    fc.tuple(fc.constantFrom("id", "type", "occurredAt", "retracts"), notAToken).map(([k, v]) => withRaw(rec, k, v)),
    // Evidence is free text of 1-2048 characters: wrong when empty, longer, or not a string.
    fc.oneof(wrongValue.filter((v) => typeof valueOf(v) !== "string"), fc.constant('""'), fc.integer({ min: 2049, max: 100_000 }).map((n) => JSON.stringify("e".repeat(n)))).map((v) => withRaw(rec, "evidence", v)),
    notAToken.map((v) => withRaw(rec, "source", v)),
    fc.constantFrom('"traffic-police"', '"airline"', '"Court"', '" court"', "null").map((v) => withRaw(rec, "source", v)),
    fc.oneof(wrongValue.filter((v) => !v.startsWith("{") || v === "{}"), fc.constantFrom('{"scheme":"zz","value":"x"}', '{"scheme":"national-id"}', '{"scheme":"national-id","value":"x","name":"y"}')).map((v) => withRaw(rec, "subject", v)),
    fc.oneof(wrongValue.filter((v) => !v.startsWith("{")), fc.constantFrom('{"case":"c","amount":"lots"}', '{"case":"c","amount":1,"extra":true}', '{"case":1,"amount":1}'), deep.map((d) => `{"case":${d},"amount":1}`), wrongValue.filter((v) => typeof valueOf(v) !== "string").map((v) => `{"case":${v},"amount":1}`)).map((v) => withRaw(rec, "fields", v)),
    fc.constantFrom('"yesterday"', '"2026-09-01T10:00:00"', '"2026-13-01T00:00:00Z"', '"2031-01-01T00:00:00Z"', '"9999-12-31T23:59:59Z"').map((v) => withRaw(rec, "occurredAt", v)),
    fc.constantFrom('"zz.unknown"', '"traffic.speeding"', '"volunteer.service"', '"social.post"').map((v) => withRaw(rec, "type", v)),
    fc.tuple(fc.constantFrom("score", "tier", "name", "__proto__", "constructor", "source "), wrongValue).map(([k, v]) => withRaw(rec, k, v)),
    fc.constant(withRaw(rec, "retracts", '"c-fixture"')),
  );
});
const junkLine = fc.oneof(printable(80).filter((l) => !isObjectWithSource(valueOf(l))), wrongValue.filter((l) => !isObjectWithSource(valueOf(l))), fc.constant(""));
const recordsNdjson = fc.array(fc.oneof({ weight: 3, arbitrary: badRecord }, { weight: 1, arbitrary: junkLine }), { minLength: 1, maxLength: 10 }).chain((ls) => fc.constantFrom("\n", "\r\n").map((sep) => ls.join(sep)));
/** Bodies for the records route: only ever a bad record, junk, or those sent badly. */
const recordsBody: fc.Arbitrary<Body> = fc.oneof(
  badRecord.chain((r) => bodyVariants(r, "application/json", JSON_LIMIT)),
  recordsNdjson.chain((b) => bodyVariants(b, "application/x-ndjson", NDJSON_LIMIT)),
  // An NDJSON batch cut short, mid-line and mid-character.
  recordsNdjson.chain(truncated).map((t) => ({ payload: t, headers: { "content-type": "application/x-ndjson" } })),
  fc.array(badRecord, { maxLength: 5 }).map((rs) => ({ payload: `[${rs.join(",")}]`, headers: { "content-type": "application/json" } })),
);
const recordsRequest: fc.Arbitrary<InjectOptions> = fc.tuple(recordsBody, authFor("source"), fc.oneof({ weight: 5, arbitrary: fc.constant("") }, { weight: 1, arbitrary: queryString })).map(([b, a, q]) => inject("POST", `/v1/records${q}`, a, b));

// --- subjects
const idParam = fc.oneof(
  fc.constantFrom("0", "-1", "1.5", "1e3", "01", "abc", "%zz", "%E0%A4%A", "%00", "9999999999999999", "99999999999999999999", "424242", "1%2F2", "..", "%2e%2e"),
  fc.nat({ max: 50 }).map(String),
  printable(20).map(encodeURIComponent),
  fc.integer({ min: 90, max: 300 }).map((n) => "1".repeat(n)),
);
const subjectsRequest: fc.Arbitrary<InjectOptions> = fc
  .tuple(
    fc.oneof(
      queryString.map((q) => `/v1/subjects${q}`),
      fc.tuple(idParam, queryString).map(([id, q]) => `/v1/subjects/${id}${q}`),
      fc.tuple(fc.oneof(idParam, fc.constant("DEBTOR")), queryString).map(([id, q]) => `/v1/subjects/${id}/statement${q}`),
    ),
    authFor("admin", "reviewer", "auditor", "subject"),
    fc.constantFrom("GET", "GET", "GET", "HEAD", "POST", "DELETE"),
  )
  .map(([url, a, m]) => inject(m, url.replace("DEBTOR", String(debtorId)), a, undefined));

// --- policies: the published version's text, broken; or junk. Never a new version.
const policyLines = policyText.split("\n");
const versionLine = policyLines.findIndex((l) => l.startsWith("version:"));
const brokenPolicy: fc.Arbitrary<string> = fc.oneof(
  truncated(policyText),
  fc.nat({ max: policyLines.length - 1 }).map((i) => policyLines.filter((_, j) => j !== Math.max(i, versionLine + 1)).join("\n")),
  fc.tuple(fc.nat({ max: policyLines.length - 1 }), printable(40)).map(([i, junk]) => policyLines.map((l, j) => (j === Math.max(i, versionLine + 1) ? junk : l)).join("\n")),
  fc.constantFrom("", "standing: 1", "standing: 1\npolicy: [\n", "- - - -", "a: &a [1]\nb: *a\n", ":", "{", "\t\tx", "%YAML 9.9\n---\n"),
  // The YAML parser takes ~25 ms per 1,000 levels before it overflows the stack: 10,000 is deep enough.
  deepUpTo(10_000),
  huge,
  printable(400),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.constant(`a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(", ")}]`).join("\n")}\n`),
);
const policyBody: fc.Arbitrary<Body> = fc.oneof(
  brokenPolicy.chain((t) => bodyVariants(t, "application/yaml", JSON_LIMIT)),
  brokenPolicy.map((t) => ({ payload: JSON.stringify({ text: t }), headers: { "content-type": "application/json" } })),
  wrongValue.map((v) => ({ payload: `{"text":${v}}`, headers: { "content-type": "application/json" } })),
);
const policyRequest: fc.Arbitrary<InjectOptions> = fc.oneof(
  fc
    .tuple(policyBody, fc.oneof(fc.constantFrom("?action=lint", "?action=publish", "", "?action=propose"), queryString), authFor("policy-author"))
    .map(([b, q, a]) => inject("POST", `/v1/policies${q}`, a, b)),
  fc.tuple(queryString, authFor("policy-author", "admin")).map(([q, a]) => inject("GET", `/v1/policy${q}`, a, undefined)),
  // Proposals that do not exist, ids of every shape, bodies of every shape: never a change.
  fc
    .tuple(
      fc.oneof(printable(80).map(encodeURIComponent), fc.constantFrom("", "%zz", "0", "..", "constructor", "__proto__", "x".repeat(65))),
      fc.constantFrom("approve", "reject", ""),
      fc.option(fc.oneof(wrongValue.map((v) => `{"reason":${v}}`), printable(100)).chain((b) => bodyVariants(b, "application/json", JSON_LIMIT)), { nil: undefined }),
      authFor("policy-approver", "policy-author"),
    )
    .map(([id, action, b, a]) => (action === "" ? inject("GET", `/v1/policies/proposals/${id}`, a, undefined) : inject("POST", `/v1/policies/proposals/${id}/${action}`, a, b))),
);

// --- everything else: public and operations routes, unknown paths and methods
const anyPath = fc
  .oneof(
    fc.constantFrom("/healthz", "/metrics", "/openapi.json", "/docs", "/docs/", "/docs/static/index.html", "/docs/json", "/v1/stats", "/v1/policy", "/v1", "//", "/v1/checks/", "/V1/CHECKS", "/v1/records/1", "/v1/%63hecks", "/v2/checks", "/.env", "/v1/../healthz"),
    fc.webPath().filter((p) => p.startsWith("/")),
    fc.array(fc.oneof(printable(12).map(encodeURIComponent), fc.constantFrom("%zz", "%", "..", "v1", "subjects", "%E0%A4%A")), { maxLength: 5 }).map((s) => `/${s.join("/")}`),
  )
  .filter((p) => !isWebPage(p)); // the web pages have a family of their own below
const otherRequest: fc.Arbitrary<InjectOptions> = fc
  .tuple(
    anyPath,
    queryString,
    fc.constantFrom("GET", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
    authFor("admin", "auditor"),
    fc.option(fc.oneof(wrongValue, printable(100)).chain((b) => bodyVariants(b, "application/json", JSON_LIMIT)), { nil: undefined }),
  )
  .map(([p, q, m, a, b]) => inject(m, `${p}${q}`, a, m === "GET" || m === "HEAD" ? undefined : b));

// --- the web pages served beside the API (src/web): every kind of caller, read-only methods
const webRequest: fc.Arbitrary<InjectOptions> = fc
  .tuple(fc.constantFrom(...WEB_PAGES), queryString, fc.constantFrom("GET", "GET", "HEAD"), authFor("admin", "subject", "reviewer"))
  .map(([p, q, m, a]) => inject(m, `${p}${q}`, a, undefined));

// ------------------------------------------------------------------ the tests

beforeAll(async () => {
  await standing.publish(policyText, "municipal-credit.yaml");
  const r = await standing.ingest([
    { source: "court", id: "c-fixture", type: "court.judgment.default", subject: { scheme: "national-id", value: "debtor" }, occurredAt: "2026-09-01T10:00:00+08:00", fields: { case: "K-1", amount: 9000 }, evidence: "file://k-1" },
    { source: "volunteer-registry", id: "v-fixture", type: "volunteer.service", subject: { scheme: "national-id", value: "helper" }, occurredAt: "2026-09-01T10:00:00+08:00", fields: { hours: 5 } },
    { source: "court", id: "q-fixture", type: "court.judgment.default", subject: { scheme: "passport", value: "E1" }, occurredAt: "2026-09-01T10:00:00+08:00", fields: { case: "K-2", amount: 10 }, evidence: "file://k-2" },
  ]);
  expect(r.map((x) => x.status)).toEqual(["accepted", "accepted", "quarantined"]);
  clock.set(Date.parse("2026-11-01T00:00:00Z"));
  debtorId = (await standing.reads.resolve({ scheme: "national-id", value: "debtor" })) as number;
  const key = async (name: string, req: NewKeyRequest): Promise<void> => {
    auth[name] = `Bearer ${(await standing.createKey(req)).key}`;
  };
  await key("source", { role: "source", source: "court" });
  await key("checkpoint", { role: "checkpoint", contexts: ["air-travel", "public-services"] });
  await key("checkpoint-rail", { role: "checkpoint", contexts: ["rail-high-speed"] });
  await key("admin", { role: "admin" });
  await key("policy-author", { role: "policy-author" });
  await key("policy-approver", { role: "policy-approver" });
  await key("reviewer", { role: "reviewer" });
  await key("auditor", { role: "auditor" });
  await key("subject", { role: "subject", subjectId: debtorId });
  const revoked = await standing.createKey({ role: "admin" });
  expect(await standing.revokeKey(revoked.row.keyId)).toBe(true);
  auth.revoked = `Bearer ${revoked.key}`;
  app = buildServer(standing, { decisionLog: log, ndjsonLimit: NDJSON_LIMIT });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  observer?.close();
  await standing.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("malformed requests: no 5xx, errors from the closed set, the database unchanged", () => {
  let before: Record<string, string> = {};
  let decisionsBefore = 0;
  let journalBefore = 0;
  beforeAll(async () => {
    decisionsBefore = await loggedDecisions();
    before = checksum();
    journalBefore = journalHead();
  });

  const families: [string, fc.Arbitrary<InjectOptions>, number][] = [
    ["POST /v1/records (JSON and NDJSON, as the source and as anyone)", recordsRequest, 2_600],
    ["POST and GET /v1/checks", checkRequest, 2_400],
    ["POST /v1/screenings", screeningRequest, 1_600],
    ["GET /v1/subjects, /v1/subjects/{id}, /v1/subjects/{id}/statement", subjectsRequest, 1_400],
    ["POST /v1/policies, GET /v1/policy, policy proposals", policyRequest, 1_200],
    ["health, metrics, stats, OpenAPI, docs, unknown paths and methods", otherRequest, 1_200],
    ["the web pages beside the API (src/web), with every kind of Authorization header", webRequest, 400],
  ];

  for (const [name, arb, runs] of families) {
    it(`${name}: ${runs} requests`, async () => {
      const sentBefore = stats.sent;
      await fc.assert(fc.asyncProperty(arb, send), { numRuns: runs, endOnFailure: true });
      expect(stats.sent - sentBefore).toBeGreaterThanOrEqual(runs);
      expect(checksum()).toEqual(before);
      await log.flush();
      // The journal grew only by logged decisions and by the refusals Standing.ingest records.
      expect(Object.keys(journalSince(journalBefore)).filter((t) => t !== "decisions" && t !== "screenings" && t !== "records.rejected")).toEqual([]);
    });
  }

  it("at least 10,000 requests in all; only answered checks reached the decision log; the server still answers", async () => {
    expect(stats.sent).toBeGreaterThanOrEqual(10_000);
    expect(checksum()).toEqual(before);
    const decisions = (await loggedDecisions()) - decisionsBefore;
    expect(decisions).toBe(stats.decisions);
    // The journal recorded those decisions, and the records Standing.ingest refused, one
    // "records.rejected" entry per batch that counts them (auditable; no row changed), and nothing else.
    if (journalBefore > 0) {
      const expected: Record<string, number> = {};
      // The decision log is journaled per batch (docs/journal.md): every journal entry about
      // it is a batch entry. Checks and screenings are logged compactly: a batch entry per
      // flush or screening, over rows that each count their decisions; rows of the older
      // row-per-decision table, if any, are listed by their batch entries.
      const batches = db().prepare("SELECT data FROM journal WHERE seq > ? AND kind = 'decisions.batch'").pluck().all(journalBefore) as string[];
      const checked = batches.reduce((n, d) => n + (JSON.parse(d) as { rows: unknown[] }).rows.length, 0);
      const screenings = db().prepare("SELECT count(*) FROM journal WHERE seq > ? AND kind = 'screenings.batch'").pluck().get(journalBefore) as number;
      const screened = db().prepare("SELECT coalesce(sum(lines), 0) FROM screenings WHERE batch > ?").pluck().get(journalBefore) as number;
      expect(checked + screened).toBe(decisions);
      if (batches.length > 0) expected.decisions = batches.length;
      if (screenings > 0) expected.screenings = screenings;
      const journaled = journalSince(journalBefore);
      const refusals = db().prepare("SELECT data FROM journal WHERE seq > ? AND kind = 'records.rejected'").pluck().all(journalBefore) as string[];
      expect(refusals.reduce((n, d) => n + (JSON.parse(d) as { count: number }).count, 0)).toBe(stats.rejectedByIngest);
      if (refusals.length > 0) expected["records.rejected"] = refusals.length;
      expect(journaled).toEqual(expected);
    }
    // Every kind of refusal was exercised.
    for (const status of [400, 401, 403, 404, 413, 415, 422]) expect(stats.byStatus.get(status) ?? 0, `status ${status}`).toBeGreaterThan(0);
    const ok = await app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: auth.checkpoint as string }, payload: { subject: { scheme: "national-id", value: "debtor" }, context: "air-travel" } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ decision: "deny", reasons: [{ code: "SPC-DEBTOR" }] });
  });
});
