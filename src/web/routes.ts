// The web pages, served by the API process itself: server-rendered HTML, one small
// stylesheet, no script. Registered by buildServer as its own plugin, so the form
// parser, error pages and security headers here apply to these routes only.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import cookie from "@fastify/cookie";
import formbody from "@fastify/formbody";
import { anonymous, describePrincipal, operatorRoles, type Principal, type Role } from "../auth/principals.js";
import type { DecisionLog } from "../decision-log.js";
import { StandingError, isStandingError } from "../errors.js";
import { compilePolicy } from "../policy/compile.js";
import type { PolicyDiagnostic } from "../policy/types.js";
import { parseIdentifier, type Standing } from "../standing.js";
import { CAN, can, consoleHome, disputeQueue, journalPage, policyPage, quarantinePage, searchForm, type PolicyOutcome } from "./console.js";
import { html, type Html } from "./html.js";
import { CSS, page } from "./layout.js";
import { catalogueSection, diffTable, fmtFor, noPolicy, overview, rulebookSection, statsSection, versionsSection } from "./public.js";
import { assertSameOrigin, clearSessionCookie, principalOf, sessionToken, setSessionCookie } from "./session.js";
import { DEFAULT_SIGN_IN_LIMITS, SignInThrottle, type SignInLimits } from "./throttle.js";
import type { SessionSettings } from "../services/sessions.js";
import { computeStats, type PublicStats } from "./stats.js";
import { disputeForm, subjectFile } from "./subject.js";

export interface WebOptions {
  readonly standing: Standing;
  /** The server's decision log, flushed before a page shows who looked a subject up. */
  readonly decisionLog?: DecisionLog;
  /** How long a web session lasts (default: 2 h idle, 12 h at most). */
  readonly sessions?: SessionSettings;
  /** Failed sign-ins allowed per address and per key id (default: 20 and 5 per 15 minutes). */
  readonly signInLimits?: Partial<SignInLimits>;
}

type Form = Record<string, string>;

declare module "fastify" {
  interface FastifyRequest {
    /** Null when an earlier hook refused the request before the cookie was read. */
    webPrincipal: Principal | null;
    staleKey: string | null;
  }
}

const FLASH: Record<string, string> = {
  applied: "Your application was recorded; the file below shows the result.",
  filed: "Your dispute was filed. The source must answer by the deadline shown; you can follow it here.",
  decided: "The decision was recorded and the subject's file re-evaluated.",
  linked: "The identifier was linked and the records waiting for it were released.",
  "signed-out": "You are signed out.",
};

/** Pages are not part of the JSON API: keep them out of the OpenAPI document. */
const HIDE = { schema: { hide: true } };

const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function flash(req: FastifyRequest): Html | undefined {
  const k = (req.query as { done?: unknown } | undefined)?.done;
  // Own keys only: `?done=constructor` must not reach Object.prototype.
  const text = typeof k === "string" && Object.hasOwn(FLASH, k) ? FLASH[k] : undefined;
  return text ? html`<div class="success" role="status" id="flash">${text}</div>` : undefined;
}

function field(form: Form, name: string): string {
  const v = form[name];
  return typeof v === "string" ? v : "";
}

export async function webRoutes(app: FastifyInstance, opts: WebOptions): Promise<void> {
  const { standing } = opts;
  // A field sent twice arrives as an array, which field() reads as absent.
  await app.register(formbody, { bodyLimit: 1_048_576 });
  await app.register(cookie);

  app.decorateRequest("webPrincipal", null as never);
  app.decorateRequest("staleKey", null);
  const throttle = new SignInThrottle({ ...DEFAULT_SIGN_IN_LIMITS, ...opts.signInLimits });
  app.addHook("onRequest", async (req) => {
    const { principal, stale } = await principalOf(standing, req, opts.sessions);
    req.webPrincipal = principal;
    req.staleKey = stale;
    if (req.method === "POST") assertSameOrigin(req);
  });
  app.addHook("onSend", async (req, reply, payload) => {
    void reply.header("content-security-policy", CSP);
    void reply.header("x-content-type-options", "nosniff");
    void reply.header("referrer-policy", "same-origin");
    void reply.header("x-frame-options", "DENY");
    if (!req.url.startsWith("/assets/")) void reply.header("cache-control", "no-store");
    if (req.staleKey !== null && !reply.hasHeader("set-cookie")) clearSessionCookie(req, reply);
    return payload;
  });

  const send = (req: FastifyRequest, reply: FastifyReply, title: string, body: Html | string, status = 200): FastifyReply =>
    reply
      .status(status)
      .type("text/html; charset=utf-8")
      .send(page({ title, principal: req.webPrincipal ?? anonymous, path: req.url.split("?")[0] as string, body: typeof body === "string" ? html`${body}` : body }));

  app.setErrorHandler((err, req, reply) => {
    if (isStandingError(err)) {
      return send(req, reply, "Not possible", html`<h1>That did not work</h1><div class="alert" role="alert">${err.message}</div><p><a href="/">Back to the overview</a></p>`, err.status);
    }
    const e = err as { statusCode?: number; message: string };
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      return send(req, reply, "Bad request", html`<h1>Bad request</h1><div class="alert" role="alert">${e.message}</div>`, e.statusCode);
    }
    console.error(err);
    return send(req, reply, "Error", html`<h1>Something went wrong</h1><p>The error was logged. Please try again.</p>`, 500);
  });

  /** Signed in with one of `roles`, or a redirect to the login page / a refusal. */
  const gate = (req: FastifyRequest, reply: FastifyReply, roles: readonly Role[]): Principal | undefined => {
    const p = req.webPrincipal ?? anonymous;
    if (p.kind === "anonymous") {
      void reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
      return undefined;
    }
    if (!roles.includes(p.role)) {
      void send(req, reply, "Not for this key", html`<h1>Not for this key</h1><div class="alert" role="alert">A ${p.role} key may not open this page.</div><p><a href="${p.role === "subject" ? "/me" : "/console"}">Go to your start page</a></p>`, 403);
      return undefined;
    }
    return p;
  };

  let statsCache: { at: number; real: number; stats: Promise<PublicStats> } | undefined;
  const stats = (): Promise<PublicStats> => {
    const now = standing.clock.now();
    const real = Date.now();
    // Cached for two seconds (about 50 ms to compute for 10,000 subjects); the pages'
    // own changes drop the cache at once, changes through the API show within 2 s.
    // The promise is cached, so pages asked for meanwhile share one computation.
    if (!statsCache || real - statsCache.real > 2_000 || Math.abs(now - statsCache.at) > 2_000) {
      const entry = { at: now, real, stats: computeStats(standing) };
      statsCache = entry;
      // A failed read is not cached: the next page tries again.
      entry.stats.catch(() => {
        if (statsCache === entry) statsCache = undefined;
      });
    }
    return statsCache.stats;
  };
  const changed = (): void => {
    statsCache = undefined;
  };
  const fmt = (): ((t: number) => string) => fmtFor(standing.activePolicy());

  // ---- assets
  app.get("/assets/standing.css", HIDE, async (_req, reply) => reply.type("text/css; charset=utf-8").header("cache-control", "public, max-age=3600").send(CSS));

  // ---- public portal
  app.get("/", HIDE, async (req, reply) => send(req, reply, "Overview", html`${flash(req) ?? ""}${overview(standing, await stats())}`));
  app.get("/rulebook", HIDE, async (req, reply) => {
    const p = standing.activePolicy();
    return send(req, reply, "Rulebook", p ? rulebookSection(p, 1, standing.policyProvenance(p.ref)) : noPolicy());
  });
  app.get("/stats", HIDE, async (req, reply) => send(req, reply, "Statistics", statsSection(await stats(), standing.activePolicy())));
  app.get("/catalogue", HIDE, async (req, reply) => send(req, reply, "What may be recorded", catalogueSection(standing.catalogue(), standing.activePolicy())));
  app.get("/versions", HIDE, async (req, reply) => send(req, reply, "Policy versions", versionsSection(standing.publishedPolicies(), standing.activePolicy(), standing.clock.now(), (ref) => standing.policyProvenance(ref))));

  // ---- sign in and out
  const loginPage = (next: string, error?: string): Html => html`<h1>Sign in with a key</h1>
<p class="lead">Paste the API key you were given: a subject key opens your own file; an operator key opens the console. The key is checked once and not kept: this site gives your browser a session that scripts cannot read, which ends when you sign out, after two hours unused, or if the key is revoked.</p>
${error ? html`<div class="alert" role="alert" id="login-error">${error}</div>` : ""}
<form class="stack" method="post" action="/login">
<input type="hidden" name="next" value="${next}">
<div><label for="key">API key <span class="hint">Starts with stk_</span></label><input type="password" id="key" name="key" required autocomplete="off" spellcheck="false"></div>
<div class="buttons"><button type="submit">Sign in</button></div>
</form>
<p class="hint">No key? Keys are issued by the operator of this service (<code>standing keys create --role subject --subject SCHEME:VALUE</code>). A demo started with <code>npm start</code> prints one for every role.</p>`;
  // `?next=` given twice arrives as an array: only a plain local path is followed.
  // Control characters (CR, LF) cannot go into a Location header: such a `next` is dropped.
  const safeNext = (next: unknown): string => (typeof next === "string" && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") && ![...next].some((c) => c < " " || c === "\u007f") ? next : "");

  app.get("/login", HIDE, async (req, reply) => send(req, reply, "Sign in", loginPage(safeNext((req.query as { next?: unknown }).next))));
  app.post("/login", HIDE, async (req, reply) => {
    const form = (req.body ?? {}) as Form;
    const key = field(form, "key").trim();
    const next = safeNext(field(form, "next"));
    // Throttled before the key is looked at: a right key after too many wrong ones waits too.
    const wait = throttle.retryAfter(req.ip, key, Date.now());
    if (wait > 0) {
      void reply.header("retry-after", String(wait));
      return send(req, reply, "Sign in", loginPage(next, `Too many failed sign-ins from here or for this key. Try again in ${wait} second${wait === 1 ? "" : "s"}.`), 429);
    }
    const refuse = (message: string, status: number): FastifyReply => {
      throttle.failed(req.ip, key, Date.now());
      return send(req, reply, "Sign in", loginPage(next, message), status);
    };
    let p: Principal;
    try {
      p = key === "" ? { kind: "anonymous" } : await standing.authenticate(`Bearer ${key}`);
    } catch (e) {
      if (!isStandingError(e)) throw e;
      return refuse("That key was not accepted: it is unknown, revoked or mistyped.", 401);
    }
    if (p.kind !== "key") return refuse("That key was not accepted.", 401);
    if (p.role !== "subject" && !operatorRoles.includes(p.role)) {
      return send(req, reply, "Sign in", loginPage(next, `A ${p.role} key is for machines: use it with the API (see /docs), not here.`), 403);
    }
    throttle.succeeded(key);
    // A session of its own, never the key: signing in again replaces the one this browser had.
    const old = sessionToken(req);
    if (old !== undefined) await standing.endSession(old);
    const { token } = await standing.openSession(p, opts.sessions);
    setSessionCookie(req, reply, token);
    req.staleKey = null;
    const home = p.role === "subject" ? "/me" : "/console";
    return reply.redirect(next && (p.role === "subject" ? next.startsWith("/me") : next.startsWith("/console")) ? next : home, 303);
  });
  app.post("/logout", HIDE, async (req, reply) => {
    const token = sessionToken(req);
    if (token !== undefined) await standing.endSession(token);
    clearSessionCookie(req, reply);
    return reply.redirect("/?done=signed-out", 303);
  });

  // ---- subject portal
  const renderMe = async (req: FastifyRequest, reply: FastifyReply, p: Principal & { kind: "key" }, form?: { values: { record?: string; grounds?: string; evidence?: string }; error: string; status: number }): Promise<FastifyReply> => {
    if (!standing.activePolicy()) return send(req, reply, "Your file", noPolicy());
    await opts.decisionLog?.flush();
    const id = p.subjectId as number;
    const st = await standing.statement(id);
    const formHtml = disputeForm(st, form?.values ?? {}, form?.error);
    return send(req, reply, "Your file", await subjectFile(standing, id, st, { audience: "subject", disputeForm: formHtml, ...(flash(req) ? { flash: flash(req) as Html } : {}) }), form?.status ?? 200);
  };
  app.get("/me", HIDE, async (req, reply) => {
    const p = gate(req, reply, ["subject"]);
    if (!p || p.kind !== "key") return reply;
    return renderMe(req, reply, p);
  });
  app.post("/me/disputes", HIDE, async (req, reply) => {
    const p = gate(req, reply, ["subject"]);
    if (!p || p.kind !== "key") return reply;
    const form = (req.body ?? {}) as Form;
    const values = { record: field(form, "record"), grounds: field(form, "grounds"), evidence: field(form, "evidence") };
    try {
      let ref: unknown;
      try {
        ref = JSON.parse(values.record);
      } catch {
        ref = undefined;
      }
      if (!Array.isArray(ref) || ref.length !== 2 || typeof ref[0] !== "string" || typeof ref[1] !== "string") throw new StandingError("bad-request", "choose the record to dispute");
      const evidence = values.evidence.trim();
      await standing.openDispute({ subjectId: p.subjectId as number, source: ref[0], recordId: ref[1], grounds: values.grounds, ...(evidence ? { evidence } : {}), openedBy: describePrincipal(p) });
      changed();
    } catch (e) {
      if (!isStandingError(e)) throw e;
      return renderMe(req, reply, p, { values, error: e.message, status: e.status });
    }
    return reply.redirect("/me?done=filed#disputes", 303);
  });

  app.post("/me/applications", HIDE, async (req, reply) => {
    const p = gate(req, reply, ["subject"]);
    if (!p || p.kind !== "key") return reply;
    const list = field((req.body ?? {}) as Form, "list").slice(0, 200);
    await standing.applyEarlyExit(p.subjectId as number, list, describePrincipal(p));
    changed();
    return reply.redirect("/me?done=applied#recovery", 303);
  });

  // ---- operator console
  const OPS = operatorRoles;
  app.get("/console", HIDE, async (req, reply) => {
    const p = gate(req, reply, OPS);
    if (!p) return reply;
    return send(req, reply, "Console", consoleHome(p));
  });

  app.get("/console/subjects", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.search);
    if (!p) return reply;
    const q = String((req.query as { identifier?: string }).identifier ?? "").trim().slice(0, 401);
    if (q === "") return send(req, reply, "Find a subject", searchForm(""));
    let id: number | undefined;
    let problem: string | undefined;
    // Fifteen digits at most, as the API: Number() of a longer id could round to another subject's.
    if (/^#[1-9][0-9]{0,14}$/.test(q)) {
      id = Number(q.slice(1));
      if (!(await standing.reads.subjectExists(id))) problem = `No subject ${q}.`;
    } else {
      try {
        const ident = parseIdentifier(q);
        try {
          id = await standing.resolveSubject(ident);
        } catch (e) {
          if (!isStandingError(e) || e.code !== "not-found") throw e;
          problem = `No subject has ${ident.scheme}:${ident.value}.`;
        }
      } catch (e) {
        if (!isStandingError(e)) throw e;
        problem = e.message;
      }
    }
    if (problem !== undefined || id === undefined) return send(req, reply, "Find a subject", html`${searchForm(q)}<div class="alert" role="alert" id="search-result">${problem ?? "Not found."}</div>`, 404);
    if (!standing.activePolicy()) return send(req, reply, "Find a subject", html`${searchForm(q)}${noPolicy()}`);
    await opts.decisionLog?.flush();
    const st = await standing.statement(id);
    return send(req, reply, `Subject #${id}`, html`${searchForm(q)}<hr>${await subjectFile(standing, id, st, { audience: "operator" })}`);
  });

  const queue = async (req: FastifyRequest, reply: FastifyReply, p: Principal, error?: { id: string; message: string; status: number }): Promise<FastifyReply> => {
    const [open, confirmed, proposed, every] = await Promise.all([
      standing.reads.listDisputes({ status: "open", limit: 1000 }),
      standing.reads.listDisputes({ status: "confirmed", limit: 1000 }),
      standing.reads.listDisputes({ status: "uphold-proposed", limit: 1000 }),
      standing.reads.listDisputes({ limit: 100_000 }),
    ]);
    const all = [...open, ...confirmed, ...proposed].sort((a, b) => a.deadlineAt - b.deadlineAt);
    const closed = every
      .filter((d) => d.closedAt !== null && d.status !== "open" && d.status !== "confirmed" && d.status !== "uphold-proposed")
      .sort((a, b) => (b.closedAt as number) - (a.closedAt as number))
      .slice(0, 20);
    const f = flash(req);
    return send(req, reply, "Dispute queue", disputeQueue({ rows: all, closed, now: standing.clock.now(), fmt: fmt(), canDecide: can(p, "decide"), ...(f ? { flash: f } : {}), ...(error ? { error } : {}) }), error?.status ?? 200);
  };
  app.get("/console/disputes", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.disputes);
    if (!p) return reply;
    return queue(req, reply, p);
  });
  app.post("/console/disputes/:id/decision", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.decide);
    if (!p) return reply;
    const id = String((req.params as { id: string }).id).slice(0, 64);
    const form = (req.body ?? {}) as Form;
    const decision = field(form, "decision");
    try {
      if (decision !== "upheld" && decision !== "dismissed") throw new StandingError("bad-request", "choose upheld or dismissed");
      await standing.decideDispute(id, describePrincipal(p), decision, field(form, "reason"));
      changed();
    } catch (e) {
      if (!isStandingError(e)) throw e;
      return queue(req, reply, p, { id, message: e.message, status: e.status });
    }
    return reply.redirect("/console/disputes?done=decided", 303);
  });

  const quarantine = async (req: FastifyRequest, reply: FastifyReply, p: Principal, error?: { message: string; status: number; values: { known: string; extra: string } }): Promise<FastifyReply> => {
    const f = flash(req);
    return send(req, reply, "Quarantine", quarantinePage({ rows: await standing.reads.listQuarantine(200), fmt: fmt(), canLink: can(p, "link"), ...(f ? { flash: f } : {}), ...(error ? { error: error.message, values: error.values } : {}) }), error?.status ?? 200);
  };
  app.get("/console/quarantine", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.quarantine);
    if (!p) return reply;
    return quarantine(req, reply, p);
  });
  app.post("/console/link", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.link);
    if (!p) return reply;
    const form = (req.body ?? {}) as Form;
    const values = { known: field(form, "known").trim().slice(0, 401), extra: field(form, "extra").trim().slice(0, 401) };
    try {
      await standing.link(parseIdentifier(values.known), parseIdentifier(values.extra));
      changed();
    } catch (e) {
      if (!isStandingError(e)) throw e;
      return quarantine(req, reply, p, { message: e.message, status: e.status, values });
    }
    return reply.redirect("/console/quarantine?done=linked", 303);
  });

  const renderPolicy = async (req: FastifyRequest, reply: FastifyReply, p: Principal, text: string, outcome?: PolicyOutcome, status = 200): Promise<FastifyReply> => {
    const active = standing.activePolicy();
    const proposals = await standing.reads.policyProposals();
    const diffOf = (x: { ref: string; text: string }): Html => diffTable(active?.text ?? "", x.text, `${active?.ref ?? "nothing"} → ${x.ref}`);
    return send(req, reply, "Policy", policyPage({ text, active: active?.ref ?? null, proposals, diffOf, fmt: fmt(), canPropose: can(p, "propose"), canApprove: can(p, "approve"), ...(outcome ? { outcome } : {}) }), status);
  };
  app.get("/console/policy", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.policy);
    if (!p) return reply;
    const active = standing.activePolicy();
    const latest = standing.publishedPolicies().at(-1);
    return renderPolicy(req, reply, p, latest?.text ?? active?.text ?? "");
  });
  app.post("/console/policy", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.propose);
    if (!p) return reply;
    const form = (req.body ?? {}) as Form;
    const text = field(form, "text").replace(/\r\n/g, "\n");
    const action = field(form, "action");
    const active = standing.activePolicy();
    let outcome: PolicyOutcome;
    let status = 200;
    if (action === "propose") {
      try {
        const r = await standing.proposePolicy(text, describePrincipal(p), "draft");
        outcome = { kind: "proposed", proposal: r.proposal, status: r.status, warnings: r.warnings };
      } catch (e) {
        if (!isStandingError(e)) throw e;
        outcome = { kind: "error", message: e.message, errors: ((e.details as { errors?: PolicyDiagnostic[] }).errors ?? []) };
        status = e.status;
      }
    } else if (action === "diff") {
      outcome = { kind: "diff", table: diffTable(active?.text ?? "", text, `${active?.ref ?? "nothing"} → draft`) };
    } else {
      const r = compilePolicy(text, "draft");
      outcome = r.ok ? { kind: "lint", ok: true, ref: r.policy.ref, errors: [], warnings: r.warnings } : { kind: "lint", ok: false, errors: r.errors, warnings: [] };
    }
    return renderPolicy(req, reply, p, text, outcome, status);
  });
  app.post("/console/policy/proposals/:id", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.approve);
    if (!p) return reply;
    const id = String((req.params as { id: string }).id).slice(0, 64);
    const form = (req.body ?? {}) as Form;
    const action = field(form, "action");
    const draft = standing.publishedPolicies().at(-1)?.text ?? "";
    let outcome: PolicyOutcome;
    let status = 200;
    try {
      const known = (await standing.reads.policyProposals()).find((x) => x.id === id);
      if (!known) throw new StandingError("not-found", `no policy proposal ${id}`, { proposal: id });
      if (action === "approve") {
        outcome = { kind: "publish", result: await standing.approvePolicy(id, describePrincipal(p)) };
        changed();
      } else if (action === "reject") {
        outcome = { kind: "rejected", proposal: await standing.rejectPolicy(id, describePrincipal(p), field(form, "reason")) };
      } else throw new StandingError("bad-request", "choose approve or reject");
    } catch (e) {
      if (!isStandingError(e)) throw e;
      outcome = { kind: "error", message: e.message, errors: ((e.details as { errors?: PolicyDiagnostic[] }).errors ?? []), proposal: id };
      status = e.status;
    }
    return renderPolicy(req, reply, p, draft, outcome, status);
  });

  app.get("/console/journal", HIDE, async (req, reply) => {
    const p = gate(req, reply, CAN.journal);
    if (!p) return reply;
    await opts.decisionLog?.flush();
    try {
      return send(req, reply, "Journal verification", journalPage({ report: await standing.verifyJournal(), fmt: fmt() }));
    } catch (e) {
      if (!isStandingError(e)) throw e;
      return send(req, reply, "Journal verification", journalPage({ unavailable: e.message, fmt: fmt() }));
    }
  });
}
