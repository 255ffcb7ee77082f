// The HTTP API. Fastify with TypeBox schemas as the one source for validation, types
// and the OpenAPI document. Who may call what is declared per route (`allow`) and
// enforced in one hook; everything not granted is refused. Errors use the closed set
// of codes in errors.ts, mapped to statuses there.
import { isUtf8 } from "node:buffer";
import { Readable } from "node:stream";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { Type, type Static, type TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { StandingError, errorCodes, isStandingError, type ErrorCode } from "../errors.js";
import { parseIdentifier, type CheckResult, type IngestResult, type Standing } from "../standing.js";
import type { Receipt } from "../journal/receipt.js";
import { timeOrderedId } from "../ids.js";
import type { ScreenedDecision } from "../store/screening-log.js";
import { describePrincipal, type Principal, type Role } from "../auth/principals.js";
import { DecisionLog } from "../decision-log.js";
import { renderStatement } from "../statement/statement.js";
import { dueProcessRoutes } from "./due-process.js";
import { compilePolicy } from "../policy/compile.js";
import { rulebook } from "../policy/rulebook.js";
import type { Identifier, PolicyProposalRow, SubjectId } from "../store/types.js";
import * as S from "./schemas.js";
import { screeningAnswerLine } from "./screening-lines.js";
import { webRoutes } from "../web/routes.js";
import type { SignInLimits } from "../web/throttle.js";
import type { SessionSettings } from "../services/sessions.js";
import { isNdjsonBody, ndjsonParser, NdjsonBody, yieldToLoop, type Line } from "./body.js";
import { KeyLimiter, resolveLimits, type HttpLimits, type KeyLimits } from "./limits.js";
import { DOCS_CSP, securityHeaders, serverOptions, validation, type LogOptions } from "./hardening.js";
import { storageFailure } from "../store/failure.js";
import type { ClusterIntake } from "../cluster/intake.js";
import { intakeRecords, recordStatusRoutes, singleAnswer, waitSeconds } from "./records-status.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** "public", or the roles that may call the route. */
    allow?: "public" | readonly Role[];
  }
}

export interface ServerOptions {
  readonly decisionLog?: DecisionLog;
  /** Largest NDJSON body (records, screenings); the same as limits.ndjsonBytes. */
  readonly ndjsonLimit?: number;
  /** Most identifiers in one screening (NDJSON lines or JSON array items). */
  readonly maxScreeningLines?: number;
  /** Time and size limits (limits.ts has the defaults). */
  readonly limits?: Partial<HttpLimits>;
  /** Per-key request rate and in-flight bytes; off unless given. */
  readonly keyLimits?: KeyLimits;
  /** Request logs through Fastify's logger; none when absent. */
  readonly log?: LogOptions;
  /**
   * Behind a TLS-terminating proxy: trust its X-Forwarded-Proto/-For/-Host, so that a
   * request that reached the proxy over https counts as https (session cookies get
   * `Secure`) and the client's address is the one sign-in limits count. Off by default:
   * without a proxy in front, those headers are whatever a client writes.
   */
  readonly trustProxy?: boolean;
  /** Web session lifetime (default 2 h idle, 12 h at most). */
  readonly sessions?: SessionSettings;
  /** Failed sign-ins allowed per client address and per key id, in a window. */
  readonly signInLimits?: Partial<SignInLimits>;
  /** Signed receipts on check answers (default on; off only to measure what they cost). */
  readonly receipts?: boolean;
  /** On a cluster node: records go through the cluster's JetStream intake (answered 202 with a receipt). */
  readonly intake?: ClusterIntake;
}

const OPERATORS_READ: readonly Role[] = ["admin", "reviewer", "auditor"];
const NDJSON = "application/x-ndjson";
// Records per transaction on the NDJSON route are as many as take about this long, so
// that other clients wait for one such transaction at most (a record about a new
// subject costs a millisecond or more, one about a known subject far less).
const INGEST_SLICE_MS = 50;
/** Identifiers screened between two turns of the event loop. */
const SCREENING_SLICE = 250;
/** Screened decisions logged per batch: a few dozen rows (one per bucket), a few milliseconds to write. */
const SCREENING_LOG_BATCH = 4096;
/** The codes of a decision without reasons, shared: the log only serialises them. */
const NO_CODES: readonly string[] = Object.freeze([]);

/** A decision's reason codes, as the log and receipts name them; none allocated for an allow. */
/**
 * The decision log's milliseconds for an answer's ISO time. Answers made in the same
 * millisecond share their time, so the last one parsed is kept: a busy checkpoint's
 * checks then parse a date once a millisecond, not once each.
 */
let lastIso = "";
let lastMs = NaN;
function instantOf(iso: string): number {
  if (iso !== lastIso) {
    lastMs = Date.parse(iso);
    lastIso = iso;
  }
  return lastMs;
}

/** How the log names a key's holder, made once per principal (the key cache keeps one object per key). */
const askers = new WeakMap<Principal, string>();
function askerOf(p: Principal): string {
  let a = askers.get(p);
  if (a === undefined) askers.set(p, (a = describePrincipal(p)));
  return a;
}

/** An answer with its receipt, spelled out rather than spread: one object shape for every such answer. */
function withReceipt(d: ReturnType<Standing["check"]>, stale: boolean, receipt: Receipt): unknown {
  return stale
    ? { id: d.id, subject: d.subject, decision: d.decision, context: d.context, reasons: d.reasons, privileges: d.privileges, policy: d.policy, at: d.at, stale: true, receipt }
    : { id: d.id, subject: d.subject, decision: d.decision, context: d.context, reasons: d.reasons, privileges: d.privileges, policy: d.policy, at: d.at, receipt };
}

function codesOf(d: CheckResult): readonly string[] {
  return d.reasons.length === 0 ? NO_CODES : d.reasons.map((x) => x.code);
}

export function buildServer(standing: Standing, options: ServerOptions = {}): FastifyInstance {
  const log = options.decisionLog ?? new DecisionLog(standing);
  const limits = resolveLimits({ ...(options.ndjsonLimit !== undefined ? { ndjsonBytes: options.ndjsonLimit } : {}), ...options.limits });
  const maxLines = options.maxScreeningLines ?? limits.ndjsonLines;
  const withReceipts = options.receipts ?? true;
  const keyLimiter = new KeyLimiter(options.keyLimits);
  const app = Fastify({
    ...serverOptions(limits, options.log),
    trustProxy: options.trustProxy ?? false,
    // A malformed URL (bad percent-encoding, an over-long path parameter) is refused
    // before routing; without this Fastify answers with its own body, outside the closed set.
    frameworkErrors: (e, req, reply) => {
      void (reply as FastifyReply).status(400).send({ error: { code: "bad-request", message: e.message, details: {}, requestId: req.id } });
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  validation(app);
  securityHeaders(app);
  keyLimiter.install(app);

  // ---- metrics (prom-client)
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Decisions are tallied in plain numbers and handed to prom-client when scraped: a
  // labelled inc() hashes its label object on every call, which showed in every check.
  // Contexts are checked against the policy before they are counted, so the tally stays small.
  const tally = new Map<string, { allow: number; deny: number }>();
  const countDecision = (context: string, decision: "allow" | "deny"): void => {
    let t = tally.get(context);
    if (t === undefined) {
      t = { allow: 0, deny: 0 };
      tally.set(context, t);
    }
    t[decision]++;
  };
  new Counter({
    name: "standing_checks_total",
    help: "Decisions answered",
    labelNames: ["context", "decision"],
    registers: [registry],
    collect() {
      for (const [context, t] of tally) {
        for (const decision of ["allow", "deny"] as const) {
          if (t[decision] > 0) this.inc({ context, decision }, t[decision]);
          t[decision] = 0;
        }
      }
    },
  });
  const records = new Counter({ name: "standing_records_total", help: "Records received, by outcome", labelNames: ["status"], registers: [registry] });
  new Gauge({ name: "standing_decision_log_dropped", help: "Decision log entries dropped while writes were failing", registers: [registry], collect() { this.set(log.droppedEntries); } });
  new Gauge({ name: "standing_index_subjects", help: "Subjects in the decision index", registers: [registry], collect() { this.set(standing.indexedSubjects); } });
  // How far behind the change feed this process is (docs/cluster.md), and how many of its events it applied.
  new Gauge({ name: "standing_feed_staleness_seconds", help: "Time since everything committed was last known applied here", registers: [registry], collect() { const s = standing.feedStatus().stalenessMs; this.set(s === null ? Number.NaN : s / 1000); } });
  new Counter({ name: "standing_feed_events_applied_total", help: "Change feed events applied to this process's projections", registers: [registry], collect() { this.reset(); this.inc(standing.feedStatus().eventsApplied); } });
  const intake = options.intake;
  if (intake) {
    // A cluster node: how far the evaluators are behind, per partition of the record stream.
    // The three gauges of one scrape share one reading of the consumers.
    let reading: ReturnType<typeof intake.consumerLag> | undefined;
    const lagNow = (): ReturnType<typeof intake.consumerLag> => {
      reading ??= intake.consumerLag().finally(() => setTimeout(() => (reading = undefined), 100));
      return reading;
    };
    const perPartition = (name: string, help: string, value: (c: Awaited<ReturnType<typeof lagNow>>[number]) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ["partition"],
        registers: [registry],
        async collect() {
          for (const c of await lagNow()) this.set({ partition: String(c.partition) }, value(c));
        },
      });
    };
    perPartition("standing_cluster_records_pending", "Records in the stream not yet delivered to an evaluator, by partition", (c) => c.pending);
    perPartition("standing_cluster_records_in_flight", "Records delivered to an evaluator and not yet acknowledged, by partition", (c) => c.inFlight);
    perPartition("standing_cluster_records_redelivered", "Records delivered more than once and not yet acknowledged, by partition", (c) => c.redelivered);
  }

  // ---- body parsers: NDJSON and YAML arrive as text. Every body must be valid UTF-8:
  // decoding invalid bytes to U+FFFD would silently change what a source asserted
  // (and make distinct identifiers collide), so such a body is refused instead.
  const utf8 = (body: Buffer): string => {
    if (!isUtf8(body)) throw new StandingError("bad-request", "the body is not valid UTF-8");
    return body.toString("utf8");
  };
  const jsonParser = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body, done) => {
    let text: string;
    try {
      text = utf8(body as Buffer);
    } catch (e) {
      return done(e as Error, undefined);
    }
    // Fastify's own parser is synchronous and answers through `done`; its type merely allows a promise.
    void jsonParser(req, text, done);
  });
  const textParser = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    try {
      done(null, utf8(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  };
  // NDJSON is read as a stream with its limits checked as it arrives (body.ts).
  const ndjsonLimits = { bytes: limits.ndjsonBytes, lines: limits.ndjsonLines, lineBytes: limits.ndjsonLineBytes };
  const screeningLimits = { ...ndjsonLimits, lines: maxLines };
  app.addContentTypeParser(NDJSON, ndjsonParser((req) => (req.routeOptions.url === "/v1/screenings" ? screeningLimits : ndjsonLimits)));
  app.addContentTypeParser(["application/yaml", "text/yaml", "application/x-yaml", "text/plain"], { parseAs: "buffer", bodyLimit: limits.bodyBytes }, textParser);

  app.decorateRequest("principal", null as never);

  const access = (req: FastifyRequest, principal: Principal): void => {
    req.principal = principal;
    const allow = req.routeOptions.config.allow;
    if (allow === undefined || allow === "public") return;
    if (req.principal.kind === "anonymous") {
      throw new StandingError("unauthorized", "this route needs an API key: send Authorization: Bearer <key>");
    }
    if (!allow.includes(req.principal.role)) {
      throw new StandingError("forbidden", `a ${req.principal.role} key may not ${req.method} ${req.routeOptions.url}`, { role: req.principal.role });
    }
  };
  // A callback hook, not an async one: a cached key is judged without any promise, and
  // only a key not read yet waits for the store.
  app.addHook("onRequest", (req, _reply, done) => {
    const admit = (principal: Principal): void => {
      let refused: Error | undefined;
      try {
        access(req, principal);
        keyLimiter.admit(req, principal.kind === "key" ? principal.keyId : undefined);
      } catch (e) {
        refused = e as Error;
      }
      if (refused === undefined) done();
      else done(refused);
    };
    let now: Principal | undefined;
    try {
      now = standing.authenticateCached(req.headers.authorization);
    } catch (e) {
      done(e as Error);
      return;
    }
    if (now !== undefined) admit(now);
    else standing.authenticate(req.headers.authorization).then(admit, (e: unknown) => done(e as Error));
  });

  app.setErrorHandler((err, req, reply) => {
    const requestId = req.id;
    // Refused before its body was read: close, rather than read the rest of it for nothing.
    if (!req.raw.complete) void reply.header("connection", "close");
    const known = isStandingError(err) ? err : storageFailure(err);
    if (known) {
      if (known.code === "too-many-requests") void reply.header("retry-after", String(known.details.retryAfter ?? 1));
      return reply.status(known.status).send({ error: { ...known.toJSON(), requestId } });
    }
    const e = err as { validation?: unknown; statusCode?: number; code?: string; message: string };
    if (e.validation || (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)) {
      const status = e.statusCode ?? 400;
      const code: ErrorCode = status === 413 ? "payload-too-large" : status === 415 ? "unsupported-media-type" : status === 408 ? "request-timeout" : status === 431 ? "headers-too-large" : status === 429 ? "too-many-requests" : "bad-request";
      // The status follows from the code (errors.ts), so a code never arrives with another status.
      return reply.status(errorCodes[code]).send({ error: { code, message: e.message, details: { validation: e.validation ?? null }, requestId } });
    }
    if (options.log) req.log.error({ err }, "internal error");
    else console.error(err);
    return reply.status(500).send({ error: { code: "internal", message: "internal error", details: {}, requestId } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: "not-found", message: `no route ${req.method} ${req.url.split("?")[0]}`, details: {}, requestId: req.id } }),
  );

  void app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "Standing API", version: "1", description: "Records in, decisions with reasons out. Send `Authorization: Bearer <key>`; keys are created with `standing keys create`." },
      components: { securitySchemes: { key: { type: "http", scheme: "bearer" } } },
    },
  });
  void app.register(swaggerUi, { routePrefix: "/docs", staticCSP: DOCS_CSP });
  void app.register(webRoutes, { standing, decisionLog: log, ...(options.sessions ? { sessions: options.sessions } : {}), ...(options.signInLimits ? { signInLimits: options.signInLimits } : {}) }); // the web pages (src/web)

  const err = { 400: S.ErrorBody, 401: S.ErrorBody, 403: S.ErrorBody, 404: S.ErrorBody, 422: S.ErrorBody };
  const security = [{ key: [] }];

  void app.register(async (plugin) => {
    const r = plugin.withTypeProvider<TypeBoxTypeProvider>();
    dueProcessRoutes(plugin, standing);
    recordStatusRoutes(plugin, standing, options.intake);
    r.get("/openapi.json", { config: { allow: "public" }, schema: { hide: true } }, async () => app.swagger());

    r.get("/healthz", { config: { allow: "public" }, schema: { tags: ["operations"], summary: "Health (503 when the index is past its staleness bound)" } }, async (_req, reply) => {
      const p = standing.activePolicy();
      const feed = standing.feedStatus();
      if (feed.stale) void reply.status(503);
      return {
        status: feed.stale ? "stale" : "ok",
        policy: p?.ref ?? null,
        indexedSubjects: standing.indexedSubjects,
        // How current the index is with what other processes commit: the feed read up to `position`, last at `caughtUpAt`.
        feed: { position: feed.position, caughtUpAt: feed.caughtUpAt === 0 ? null : new Date(feed.caughtUpAt).toISOString(), pollMs: feed.pollMs, stalenessMs: feed.stalenessMs, stale: feed.stale, maxStalenessMs: feed.maxStalenessMs, staleMode: feed.staleMode, eventsApplied: feed.eventsApplied },
      };
    });

    r.get("/metrics", { config: { allow: ["admin", "auditor"] }, schema: { tags: ["operations"], summary: "Prometheus metrics", security } }, async (_req, reply) => {
      await log.flush();
      reply.type(registry.contentType);
      return registry.metrics();
    });

    // ---- checks
    // Synchronous handlers (no promise per request); Fastify sends what they return.
    r.post("/v1/checks", { config: { allow: ["checkpoint"] }, schema: { tags: ["checks"], summary: "May this subject do this here, now?", security, body: S.CheckRequest, response: { 200: S.Decision, ...err } } }, (req, reply) => {
      const { subject, context } = req.body;
      return checkAndLog(req.principal, subject, context, reply);
    });

    r.get("/v1/checks", { config: { allow: ["checkpoint"] }, schema: { tags: ["checks"], summary: "The same check as a GET: ?subject=SCHEME:VALUE&context=NAME", security, querystring: Type.Object({ subject: Type.String({ minLength: 3, maxLength: 401 }), context: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }), response: { 200: S.Decision, ...err } } }, (req, reply) => {
      return checkAndLog(req.principal, parseIdentifier(req.query.subject), req.query.context, reply);
    });

    function assertContext(p: Principal, context: string): void {
      if (p.kind !== "key" || !p.contexts.includes(context)) {
        throw new StandingError("forbidden", `this checkpoint may ask about ${p.kind === "key" ? p.contexts.join(", ") : "nothing"}, not "${context}"`, { context });
      }
    }

    /** One decision, counted, logged and (with receipts on) signed: returned, or sent once its receipt is signed. */
    function checkAndLog(p: Principal, subject: Identifier, context: string, reply: FastifyReply): Static<typeof S.Decision> | undefined {
      assertContext(p, context);
      // Past the staleness bound: refused (index-stale), or answered and flagged (STANDING_STALE=serve).
      const stale = standing.assertFresh();
      if (stale) void reply.header("standing-stale", "true");
      const decided = standing.check(subject, context);
      countDecision(context, decided.decision);
      const codes = codesOf(decided);
      if (p.kind === "key") {
        log.add({ id: decided.id, at: instantOf(decided.at), keyId: p.keyId, askedBy: askerOf(p), scheme: subject.scheme, value: subject.value, context, decision: decided.decision, codes });
      }
      // Signed on the HTTP path, in batches per turn of the event loop (docs/journal.md, "Receipts": why not in check()).
      // The answer is sent when its batch is signed; the response schema serialises it
      // (fast-json-stringify), and its readonly arrays are only read.
      if (withReceipts && standing.receipts.whenSigned({ id: decided.id, subject: decided.subject, context, answer: decided.decision, codes, policy: decided.policy, at: decided.at }, (r) => void reply.send(withReceipt(decided, stale, r)), (e) => void reply.send(e))) return undefined; // a synchronous handler's answer may be sent later
      return (stale ? { ...decided, stale: true as const } : decided) as unknown as Static<typeof S.Decision>;
    }

    // ---- screenings
    r.post("/v1/screenings", { config: { allow: ["checkpoint"] }, schema: { tags: ["checks"], summary: "Screen many identifiers at once", description: `Body: ${NDJSON} (one identifier per line: {"scheme":…,"value":…} or "SCHEME:VALUE") or a JSON array of the same, up to ${maxLines} lines. Answer: ${NDJSON}, one result per line.`, security, querystring: S.ScreeningQuery } }, async (req, reply) => {
      const { context } = req.query;
      assertContext(req.principal, context);
      if (standing.assertFresh()) void reply.header("standing-stale", "true");
      const lines = screeningLines(req.body);
      if (lines.length > maxLines) throw new StandingError("payload-too-large", `at most ${maxLines} identifiers per screening; got ${lines.length}`, { lines: lines.length });
      const p = req.principal;
      const policy = standing.requirePolicy();
      if (!policy.contexts.has(context)) throw new StandingError("unknown-context", `policy ${policy.ref} has no context "${context}"`, { context });
      reply.type(NDJSON);
      return Readable.from(
        (async function* () {
          // Lines are sent in chunks of about 64 KiB rather than one stream chunk (and
          // potentially one socket write) per identifier; still streamed, so a million
          // lines are never held at once. Every slice of identifiers the decision log is
          // written (a few hundred rows, not the thousands a timer would gather) and other
          // requests get a turn, so no single turn of the event loop runs long.
          let chunk = "";
          let n = 0;
          // The decisions are logged compactly, a few thousand at a time: one journaled
          // batch of a few dozen rows (src/store/screening-log.ts), not a row each.
          let logged: ScreenedDecision[] = [];
          let loggedAt = 0;
          const writeLog = async (): Promise<void> => {
            const decisions = logged;
            logged = [];
            if (decisions.length === 0 || p.kind !== "key") return;
            await standing.logScreening({ id: timeOrderedId(), at: loggedAt, keyId: p.keyId, askedBy: askerOf(p), context, decisions });
          };
          try {
            for (const line of lines) {
              if (++n % SCREENING_SLICE === 0) {
                if (logged.length >= SCREENING_LOG_BATCH) await writeLog();
                await yieldToLoop();
              }
              const item = screeningItem(line);
              if ("error" in item) {
                chunk += JSON.stringify({ line: item.line, error: item.error }) + "\n";
              } else {
                const d = standing.check(item.subject, context);
                countDecision(context, d.decision);
                if (logged.length === 0) loggedAt = Date.parse(d.at);
                logged.push({ id: d.id, scheme: item.subject.scheme, value: item.subject.value, decision: d.decision, codes: codesOf(d) });
                chunk += screeningAnswerLine(item.line, item.subject, d.decision, d.reasons, d.id) + "\n";
              }
              if (chunk.length >= 65_536) {
                yield chunk;
                chunk = "";
              }
            }
            // Logged before the last lines are sent: an answer that ends whole was logged whole.
            await writeLog();
            if (chunk !== "") yield chunk;
          } finally {
            // A client gone part way (the stream closed under the generator): the decisions
            // made for it, some of them already sent, are logged all the same.
            if (logged.length > 0) await writeLog().catch((e: unknown) => console.error("standing: logging a screening cut short failed:", (e as Error).message));
          }
        })(),
      );
    });

    // ---- records
    r.post("/v1/records", { config: { allow: ["source"] }, validatorCompiler: () => () => true, schema: { tags: ["records"], summary: "Submit one record (JSON) or a batch (NDJSON)", description: `JSON: one record; the answer's status is 201 accepted, 200 duplicate, 202 quarantined, or an error. ${NDJSON}: one record per line; the answer is ${NDJSON} with one result per non-empty line, in order, streamed as each slice commits; a store failure after the first slice ends it with one {"error":…} line, and the lines not answered were not taken. On a cluster node (serve --cluster) the records are published to the evaluators and the answer is 202 with a receipt (GET /v1/batches/{receipt}); ?wait=SECONDS waits up to that long for them and answers as above.`, security, body: S.RecordInput, response: { 200: S.IngestResult, 201: S.IngestResult, 202: Type.Union([S.IngestResult, S.BatchReceipt]), ...err } } }, async (req, reply) => {
      const p = req.principal;
      const source = p.kind === "key" ? p.source : null;
      const own = (input: unknown): IngestResult | undefined => {
        const s = typeof input === "object" && input !== null ? (input as Record<string, unknown>).source : undefined;
        // Without a source the envelope is malformed: ingest says so (422), not the access check.
        if (s === source || typeof s !== "string") return undefined;
        return { status: "rejected", error: { code: "forbidden", message: `this key submits as source "${source}", not ${JSON.stringify(s)}`, details: { source: s ?? null } } };
      };
      const ct = String(req.headers["content-type"] ?? "");
      const wait = waitSeconds(req.query);
      if (options.intake) {
        if (!ct.startsWith(NDJSON) && !ct.startsWith("application/json")) throw new StandingError("unsupported-media-type", `send application/json (one record) or ${NDJSON} (a batch)`);
        const body = ct.startsWith(NDJSON) ? { ndjson: (isNdjsonBody(req.body) ? req.body : new NdjsonBody([], 0)).lines } : { json: req.body };
        return intakeRecords(options.intake, req, reply, body, wait, (status, n = 1) => records.inc({ status }, n));
      }
      if (ct.startsWith(NDJSON)) {
        const body = isNdjsonBody(req.body) ? req.body : new NdjsonBody([], 0);
        // One transaction per slice, and a turn of the event loop between them (body.ts).
        const slices = body.paced(INGEST_SLICE_MS)[Symbol.asyncIterator]();
        const ingestSlice = async (chunk: readonly Line[]): Promise<string> => {
          const parsed = chunk.map((l) => {
            try {
              const v = JSON.parse(l.text) as unknown;
              return { line: l.line, value: v, pre: own(v) };
            } catch (e) {
              return { line: l.line, value: undefined, pre: { status: "rejected", error: { code: "bad-request", message: `line ${l.line} is not valid JSON: ${(e as Error).message}`, details: {} } } as IngestResult };
            }
          });
          const todo = parsed.filter((x) => x.pre === undefined);
          const results = await standing.ingest(todo.map((x) => x.value));
          let k = 0;
          let text = "";
          for (const x of parsed) {
            const res = x.pre ?? (results[k++] as IngestResult);
            records.inc({ status: res.status });
            text += JSON.stringify({ line: x.line, ...res }) + "\n";
          }
          return text;
        };
        // The first slice is worked before the answer starts, so a store that fails at
        // once still answers with its status (503). A larger batch is then answered as it
        // goes: each slice's results are sent once its transaction has committed, so the
        // connection never sits idle for the length of a million-line batch (and past the
        // server's idle timeout), and the results are never all held at once. A failure
        // after that ends the answer with one `{"error":…}` line: every line answered
        // before it is durable; the lines without an answer were not taken.
        const first = await slices.next();
        const head = first.done ? "" : await ingestSlice(first.value);
        reply.type(NDJSON);
        if (first.done || first.value.length >= body.lines.length) return reply.send(head as never);
        const requestId = req.id;
        const stream = Readable.from(
          (async function* () {
            yield head;
            try {
              for (let n = await slices.next(); !n.done; n = await slices.next()) yield await ingestSlice(n.value);
            } catch (e) {
              const known = isStandingError(e) ? e : storageFailure(e);
              if (!known) req.log.error({ err: e }, "internal error during a record batch");
              const error = known ? { ...known.toJSON(), requestId } : { code: "internal", message: "internal error", details: {}, requestId };
              yield JSON.stringify({ error }) + "\n";
            }
          })(),
        );
        return reply.send(stream as never);
      }
      if (!ct.startsWith("application/json")) throw new StandingError("unsupported-media-type", `send application/json (one record) or ${NDJSON} (a batch)`);
      const forbidden = own(req.body);
      if (forbidden && forbidden.status === "rejected") throw new StandingError("forbidden", forbidden.error.message, forbidden.error.details);
      const [res] = await standing.ingest([req.body]);
      const result = res as IngestResult;
      records.inc({ status: result.status });
      return singleAnswer(reply, result);
    });

    // ---- subjects
    const subjectAllow: readonly Role[] = [...OPERATORS_READ, "subject"];
    function mayRead(p: Principal, id: SubjectId): void {
      if (p.kind === "key" && p.role === "subject" && p.subjectId !== id) throw new StandingError("forbidden", "a subject key reads only its own file");
    }
    async function requireSubject(id: SubjectId): Promise<void> {
      if (!(await standing.reads.subjectExists(id))) throw new StandingError("not-found", `no subject #${id}`, { subject: id });
    }

    r.get("/v1/subjects", { config: { allow: subjectAllow }, schema: { tags: ["subjects"], summary: "Find a subject by identifier", security, querystring: S.SubjectQuery } }, async (req) => {
      const ident = parseIdentifier(req.query.identifier);
      let id: SubjectId;
      try {
        id = await standing.resolveSubject(ident);
      } catch (e) {
        // A subject key learns nothing about identifiers that are not its own, not even whether they exist.
        if (isStandingError(e) && e.code === "not-found" && req.principal.kind === "key" && req.principal.role === "subject") throw new StandingError("forbidden", "a subject key reads only its own file");
        throw e;
      }
      mayRead(req.principal, id);
      return { id, identifiers: await standing.reads.identifiersOf(id), links: { self: `/v1/subjects/${id}`, statement: `/v1/subjects/${id}/statement` } };
    });

    r.get("/v1/subjects/:id", { config: { allow: subjectAllow }, schema: { tags: ["subjects"], summary: "A subject's current state", security, params: S.SubjectParams } }, async (req) => {
      const id = Number(req.params.id);
      mayRead(req.principal, id);
      await requireSubject(id);
      const policy = standing.requirePolicy();
      const [st, identifiers] = await Promise.all([standing.stateOf(policy, id, standing.clock.now()), standing.reads.identifiersOf(id)]);
      return { id, identifiers, policy: policy.ref, score: st.score, tier: st.tier, lists: st.lists, measures: st.measures };
    });

    r.get("/v1/subjects/:id/statement", { config: { allow: subjectAllow }, schema: { tags: ["subjects"], summary: "The subject's whole file; ?format=text for a readable page", security, params: S.SubjectParams, querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal("json"), Type.Literal("text")])) }, { additionalProperties: false }) } }, async (req, reply) => {
      const id = Number(req.params.id);
      mayRead(req.principal, id);
      await requireSubject(id);
      await log.flush();
      const st = await standing.signedStatement(id);
      if (req.query.format === "text") {
        reply.type("text/plain; charset=utf-8");
        return renderStatement(st);
      }
      return st;
    });

    // ---- policy
    const iso = (t: number): string => new Date(t).toISOString();
    /** Who proposed and who approved a version, as shown to everyone. */
    const provenance = (ref: string) => {
      const p = standing.policyProvenance(ref);
      return p ? { proposal: p.proposal, proposedBy: p.proposedBy, proposedAt: iso(p.proposedAt), approvedBy: p.approvedBy, approvedAt: iso(p.approvedAt) } : { proposal: null, proposedBy: null, proposedAt: null, approvedBy: null, approvedAt: null };
    };
    const proposalView = (p: PolicyProposalRow, withText: boolean) => ({
      id: p.id,
      ref: p.ref,
      hash: p.hash,
      status: p.status,
      proposedBy: p.proposedBy,
      proposedAt: iso(p.proposedAt),
      decidedBy: p.decidedBy,
      decidedAt: p.decidedAt === null ? null : iso(p.decidedAt),
      note: p.note,
      ...(withText ? { text: p.text } : {}),
    });
    r.get("/v1/policy", { config: { allow: "public" }, schema: { tags: ["policy"], summary: "The published rulebook in force, and every version with who proposed and who approved it" } }, async () => {
      const p = standing.requirePolicy();
      return { ...rulebook(p), ...provenance(p.ref), versions: standing.publishedPolicies().map((v) => ({ ref: v.ref, effective: iso(v.effective), publishedAt: iso(v.publishedAt), hash: v.hash, ...provenance(v.ref) })) };
    });

    r.post("/v1/policies", { config: { allow: ["policy-author", "admin"] }, schema: { tags: ["policy"], summary: "Lint or propose a policy (YAML body, or JSON {text}); a proposal is published when a policy approver other than its author approves it", security, querystring: S.PolicyQuery } }, async (req, reply) => {
      const body = req.body as unknown;
      const text = typeof body === "string" ? body : typeof body === "object" && body !== null && typeof (body as { text?: unknown }).text === "string" ? (body as { text: string }).text : undefined;
      if (text === undefined) throw new StandingError("bad-request", "send the policy as YAML (content-type application/yaml) or as JSON {\"text\": \"…\"}");
      if (req.query.action === "publish") {
        throw new StandingError("bad-request", "a policy is published by approving a proposal: POST /v1/policies?action=propose as its author, then POST /v1/policies/proposals/{id}/approve with a policy-approver key");
      }
      if (req.query.action === "propose") {
        const res = await standing.proposePolicy(text, describePrincipal(req.principal));
        return reply.status(res.status === "proposed" ? 201 : 200).send({ status: res.status, proposal: proposalView(res.proposal, false), warnings: res.warnings });
      }
      const res = compilePolicy(text, "request");
      return res.ok ? { ok: true, policy: res.policy.ref, warnings: res.warnings } : { ok: false, errors: res.errors };
    });

    const proposalReaders = ["policy-author", "policy-approver", "admin", "auditor"] as const;
    const proposal = async (id: string): Promise<PolicyProposalRow> => {
      const p = (await standing.reads.policyProposals()).find((x) => x.id === id);
      if (!p) throw new StandingError("not-found", `no policy proposal ${id}`, { proposal: id });
      return p;
    };
    r.get("/v1/policies/proposals", { config: { allow: [...proposalReaders] }, schema: { tags: ["policy"], summary: "Policy proposals, oldest first: who proposed each, and who approved or rejected it", security } }, async () => ({
      proposals: (await standing.reads.policyProposals()).map((p) => proposalView(p, false)),
    }));
    r.get("/v1/policies/proposals/:id", { config: { allow: [...proposalReaders] }, schema: { tags: ["policy"], summary: "One proposal, with its text", security, params: S.ProposalParams } }, async (req) => proposalView(await proposal(req.params.id), true));
    r.post("/v1/policies/proposals/:id/approve", { config: { allow: ["policy-approver"] }, schema: { tags: ["policy"], summary: "Approve a proposal: publishes it and re-evaluates every subject. Never its author", security, params: S.ProposalParams } }, async (req, reply) => {
      const p = await proposal(req.params.id);
      const res = await standing.approvePolicy(p.id, describePrincipal(req.principal));
      return reply.status(res.status === "unchanged" ? 200 : 201).send({ ...res, proposal: proposalView(res.proposal, false) });
    });
    r.post("/v1/policies/proposals/:id/reject", { config: { allow: ["policy-approver"] }, schema: { tags: ["policy"], summary: "Reject a proposal with a written reason. Never its author", security, params: S.ProposalParams, body: S.RejectBody } }, async (req) => {
      const p = await proposal(req.params.id);
      return proposalView(await standing.rejectPolicy(p.id, describePrincipal(req.principal), req.body.reason), false);
    });

    // ---- journal (src/journal, docs/journal.md): the checkpoint key to pin, and verification
    r.get("/v1/catalogue", { config: { allow: "public" }, schema: { tags: ["policy"], summary: "The catalogue of permitted record categories in force, with its fingerprint and the versions adopted before it" } }, async () => standing.catalogueDocument());
    r.get("/v1/journal/key", { config: { allow: "public" }, schema: { tags: ["audit"], summary: "The Ed25519 public key that signs journal checkpoints" } }, async () => standing.journalKey());
    void standing.receipts.refresh();
    r.get(
      "/v1/journal/head",
      { config: { allow: "public" }, schema: { tags: ["audit"], summary: "The latest signed journal head; with ?since=SEQ also the hash the journal now has at that seq (what a witness checks)", querystring: Type.Object({ since: Type.Optional(Type.String({ pattern: "^[1-9][0-9]{0,14}$" })) }, { additionalProperties: false }) } },
      async (req) => {
        const since = req.query.since === undefined ? undefined : Number(req.query.since);
        const head = await standing.journalHead(since);
        if (!head) throw new StandingError("not-found", "the journal is empty: nothing has been signed yet");
        return head;
      },
    );
    r.get("/v1/journal/verify", { config: { allow: ["auditor"] }, schema: { tags: ["audit"], summary: "Verify the journal chain and signatures, every row against the journal, and replay every stored state", security } }, async () => {
      await log.flush();
      return standing.verifyJournal();
    });

    // ---- public aggregates
    let statsCache: { at: number; body: unknown } | undefined;
    r.get("/v1/stats", { config: { allow: "public" }, schema: { tags: ["policy"], summary: "Public aggregates: list sizes and measures per context" } }, async () => {
      const now = standing.clock.now();
      if (!statsCache || now - statsCache.at > 10_000 || now < statsCache.at) {
        const [subjects, lists, measures] = await Promise.all([standing.reads.countSubjects(), standing.reads.listCounts(), standing.reads.measureCounts()]);
        statsCache = { at: now, body: { at: new Date(now).toISOString(), policy: standing.activePolicy()?.ref ?? null, subjects, lists, measures } };
      }
      return statsCache.body;
    });
  });

  app.addHook("onClose", async () => {
    await log.flush();
  });
  return app;
}

type ScreeningItem = { line: number; subject: Identifier } | { line: number; error: { code: string; message: string } };
/** A screening line: NDJSON text, still to parse, or an item of a JSON array. */
type ScreeningLine = Line | { line: number; value: unknown };

function toIdentifier(v: unknown): Identifier | undefined {
  if (typeof v === "string") {
    const i = v.indexOf(":");
    return i > 0 && i < v.length - 1 && v.length <= 401 ? { scheme: v.slice(0, i), value: v.slice(i + 1) } : undefined;
  }
  if (typeof v === "object" && v !== null) {
    const o = (v as { subject?: unknown }).subject ?? v;
    const { scheme, value } = o as { scheme?: unknown; value?: unknown };
    if (typeof scheme === "string" && typeof value === "string" && scheme.length > 0 && value.length > 0 && scheme.length <= 200 && value.length <= 200) return { scheme, value };
  }
  return undefined;
}

function screeningLines(body: unknown): readonly ScreeningLine[] {
  if (isNdjsonBody(body)) return body.lines;
  if (!Array.isArray(body)) throw new StandingError("bad-request", `send ${NDJSON} or a JSON array of identifiers`);
  return body.map((value: unknown, i) => ({ line: i + 1, value }));
}

/** Parsed when its turn comes, so a large screening is never held parsed at once. */
function screeningItem(l: ScreeningLine): ScreeningItem {
  const expect = 'expected {"scheme":…,"value":…} or "SCHEME:VALUE"';
  const { line } = l;
  let v: unknown;
  if ("text" in l) {
    try {
      v = JSON.parse(l.text);
    } catch {
      return { line, error: { code: "bad-request", message: `line ${line} is not valid JSON` } };
    }
  } else v = l.value;
  const id = toIdentifier(v);
  return id ? { line, subject: id } : { line, error: { code: "bad-request", message: `${"text" in l ? "line" : "item"} ${line}: ${expect}` } };
}

export type { FastifyReply, FastifyRequest };
