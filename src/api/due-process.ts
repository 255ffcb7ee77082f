// Routes for due process: disputes (subject or operator opens, source answers,
// reviewer decides), notices, and applications for early exit. Registered by
// server.ts inside its routes plugin, so the one access hook applies.
import type { FastifyInstance } from "fastify";
import { Type, type TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { StandingError } from "../errors.js";
import { describePrincipal, type Principal, type Role } from "../auth/principals.js";
import { DISPUTE_LIMITS, type Standing } from "../standing.js";
import type { DisputeRow, DisputeStatus } from "../store/types.js";
import { ErrorBody, SubjectParams } from "./schemas.js";

const security = [{ key: [] }];
const err = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody };
const statuses = ["open", "confirmed", "withdrawn", "corrected", "uphold-proposed", "upheld", "dismissed", "expired"] as const;

const OpenDispute = Type.Object(
  {
    subject: Type.Optional(Type.Integer({ minimum: 1, description: "subject id; a subject key may omit it" })),
    source: Type.String({ minLength: 1, maxLength: 200 }),
    record: Type.String({ minLength: 1, maxLength: 200 }),
    grounds: Type.String({ minLength: 10, maxLength: DISPUTE_LIMITS.text }),
    evidence: Type.Optional(Type.String({ minLength: 1, maxLength: DISPUTE_LIMITS.evidence })),
  },
  { additionalProperties: false },
);
const Answer = Type.Object(
  {
    answer: Type.Union([Type.Literal("confirm"), Type.Literal("withdraw"), Type.Literal("correct")]),
    note: Type.String({ minLength: 1, maxLength: DISPUTE_LIMITS.text }),
    correction: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "with answer=correct: the corrected record (id, type, subject, occurredAt, fields…)" })),
  },
  { additionalProperties: false },
);
const Decision = Type.Object(
  { decision: Type.Union([Type.Literal("upheld"), Type.Literal("dismissed")]), reason: Type.String({ minLength: 10, maxLength: DISPUTE_LIMITS.text }) },
  { additionalProperties: false },
);
const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const SubjectParam = SubjectParams;

function view(d: DisputeRow) {
  const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
  return {
    id: d.id,
    subject: d.subjectId,
    source: d.source,
    record: d.recordId,
    grounds: d.grounds,
    evidence: d.evidence,
    openedBy: d.openedBy,
    openedAt: iso(d.openedAt),
    deadline: iso(d.deadlineAt),
    suspendsEffects: d.suspend,
    status: d.status,
    answer: d.answerNote,
    answeredAt: iso(d.answeredAt),
    decidedBy: d.decidedBy,
    reason: d.reason,
    closedAt: iso(d.closedAt),
  };
}

function role(p: Principal): Role | undefined {
  return p.kind === "key" ? p.role : undefined;
}

export function dueProcessRoutes(plugin: FastifyInstance, standing: Standing): void {
  const r = plugin.withTypeProvider<TypeBoxTypeProvider>();

  const mayReadSubject = async (p: Principal, id: number): Promise<void> => {
    if (p.kind === "key" && p.role === "subject" && p.subjectId !== id) throw new StandingError("forbidden", "a subject key reads only its own file");
    if (!(await standing.reads.subjectExists(id))) throw new StandingError("not-found", `no subject #${id}`, { subject: id });
  };
  const mayReadDispute = (p: Principal, d: DisputeRow): void => {
    if (p.kind !== "key") throw new StandingError("unauthorized", "this route needs an API key");
    if (p.role === "subject" && p.subjectId !== d.subjectId) throw new StandingError("forbidden", "a subject key sees only its own disputes");
    if (p.role === "source" && p.source !== d.source) throw new StandingError("forbidden", "a source key sees only disputes it must answer");
  };
  const getDispute = async (id: string): Promise<DisputeRow> => {
    const d = await standing.reads.getDispute(id);
    if (!d) throw new StandingError("not-found", `no dispute ${id}`, { dispute: id });
    return d;
  };

  r.post("/v1/disputes", { config: { allow: ["subject", "admin", "reviewer"] }, schema: { tags: ["due process"], summary: "Dispute a record (a subject for themselves, or an operator on their behalf)", security, body: OpenDispute, response: err } }, async (req, reply) => {
    const p = req.principal;
    const subjectId = role(p) === "subject" && p.kind === "key" ? (p.subjectId as number) : req.body.subject;
    if (subjectId === undefined) throw new StandingError("bad-request", "name the subject (its id) when filing on someone's behalf");
    if (role(p) === "subject" && req.body.subject !== undefined && req.body.subject !== subjectId) throw new StandingError("forbidden", "a subject key files disputes only for its own records");
    await mayReadSubject(p, subjectId);
    const d = await standing.openDispute({ subjectId, source: req.body.source, recordId: req.body.record, grounds: req.body.grounds, ...(req.body.evidence ? { evidence: req.body.evidence } : {}), openedBy: describePrincipal(p) });
    return reply.status(201 as never).send(view(d) as never);
  });

  r.get("/v1/disputes", { config: { allow: ["reviewer", "admin", "auditor", "source"] }, schema: { tags: ["due process"], summary: "Disputes, soonest deadline first (a source sees those it must answer)", security, querystring: Type.Object({ status: Type.Optional(Type.Union(statuses.map((s) => Type.Literal(s)))), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) }, { additionalProperties: false }) } }, async (req) => {
    const p = req.principal;
    const source = p.kind === "key" && p.role === "source" ? (p.source as string) : undefined;
    const rows = await standing.reads.listDisputes({ ...(req.query.status ? { status: req.query.status as DisputeStatus } : {}), ...(source ? { source } : {}), limit: req.query.limit ?? 1000 });
    return { disputes: rows.map(view) };
  });

  r.get("/v1/disputes/:id", { config: { allow: ["reviewer", "admin", "auditor", "source", "subject"] }, schema: { tags: ["due process"], summary: "One dispute", security, params: IdParam } }, async (req) => {
    const d = await getDispute(req.params.id);
    mayReadDispute(req.principal, d);
    // Who did what, in order: separation of duties is visible to everyone who may read the dispute.
    const actions = (await standing.reads.disputeActions(d.id)).map((a) => ({ action: a.action, by: a.actor, at: new Date(a.at).toISOString(), note: a.note }));
    return { ...view(d), actions };
  });

  r.post("/v1/disputes/:id/answer", { config: { allow: ["source"] }, schema: { tags: ["due process"], summary: "The source confirms, withdraws or corrects the disputed record", security, params: IdParam, body: Answer, response: err } }, async (req) => {
    const p = req.principal;
    const d = await getDispute(req.params.id);
    mayReadDispute(p, d);
    const res = await standing.answerDispute(d.id, p.kind === "key" ? (p.source as string) : "", req.body.answer, req.body.note, req.body.correction);
    return { dispute: view(res.dispute), ...(res.correction ? { correction: res.correction } : {}) } as never;
  });

  r.post("/v1/disputes/:id/decision", { config: { allow: ["reviewer"] }, schema: { tags: ["due process"], summary: "A reviewer decides, with a written reason: dismiss; or propose to uphold, which a second reviewer confirms (upheld) or rejects. Never the one who filed it, and only once the source has answered or its deadline passed", security, params: IdParam, body: Decision, response: err } }, async (req) => {
    const d = await standing.decideDispute(req.params.id, describePrincipal(req.principal), req.body.decision, req.body.reason);
    return view(d) as never;
  });

  r.get("/v1/subjects/:id/notices", { config: { allow: ["subject", "admin", "reviewer", "auditor"] }, schema: { tags: ["due process"], summary: "Notices issued to the subject, with delivery status", security, params: SubjectParam } }, async (req) => {
    const id = Number(req.params.id);
    await mayReadSubject(req.principal, id);
    const notices = await standing.reads.noticesOf(id);
    const outbox = await Promise.all(notices.map((n) => standing.reads.outboxOf(n.id)));
    return {
      notices: notices.map((n, i) => {
        const o = outbox[i];
        const receipt = standing.noticeReceipt(n);
        return { id: n.id, createdAt: new Date(n.createdAt).toISOString(), effectiveFrom: new Date(n.effectiveFrom).toISOString(), notice: JSON.parse(n.body) as unknown, deliveredAt: o?.deliveredAt ? new Date(o.deliveredAt).toISOString() : null, attempts: o?.attempts ?? 0, ...(receipt ? { receipt } : {}) };
      }),
    };
  });

  r.post("/v1/subjects/:id/applications", { config: { allow: ["subject", "admin"] }, schema: { tags: ["due process"], summary: "Apply to leave a list early, once its early-exit period has passed", security, params: SubjectParam, body: Type.Object({ list: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }), response: err } }, async (req, reply) => {
    const id = Number(req.params.id);
    await mayReadSubject(req.principal, id);
    const res = await standing.applyEarlyExit(id, req.body.list, describePrincipal(req.principal));
    return reply.status(201 as never).send(res as never);
  });
}
