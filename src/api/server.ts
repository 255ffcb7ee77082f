// A minimal HTTP surface until the full API lands: health and checks. Errors use the
// one closed set of codes and the one status mapping in errors.ts.
import Fastify, { type FastifyInstance } from "fastify";
import { StandingError, isStandingError } from "../errors.js";
import { parseIdentifier, type Standing } from "../standing.js";

const identifierSchema = {
  type: "object",
  additionalProperties: false,
  required: ["scheme", "value"],
  properties: { scheme: { type: "string", minLength: 1, maxLength: 200 }, value: { type: "string", minLength: 1, maxLength: 200 } },
} as const;

export function buildServer(standing: Standing): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1_048_576 });

  app.setErrorHandler((err, req, reply) => {
    const requestId = req.id;
    if (isStandingError(err)) {
      return reply.status(err.status).send({ error: { ...err.toJSON(), requestId } });
    }
    const e = err as { validation?: unknown; statusCode?: number; code?: string; message: string };
    if (e.validation || (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)) {
      const code = e.statusCode === 413 ? "payload-too-large" : e.statusCode === 415 ? "unsupported-media-type" : "bad-request";
      return reply.status(e.statusCode ?? 400).send({ error: { code, message: e.message, details: { validation: e.validation ?? null }, requestId } });
    }
    req.log.error(err);
    return reply.status(500).send({ error: { code: "internal", message: "internal error", details: {}, requestId } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: "not-found", message: `no route ${req.method} ${req.url.split("?")[0]}`, details: {}, requestId: req.id } }),
  );

  app.get("/healthz", async () => {
    const p = standing.activePolicy();
    return { status: "ok", policy: p?.ref ?? null, indexedSubjects: standing.index.subjects };
  });

  app.post(
    "/v1/checks",
    { schema: { body: { type: "object", additionalProperties: false, required: ["subject", "context"], properties: { subject: identifierSchema, context: { type: "string", minLength: 1, maxLength: 200 } } } } },
    async (req) => {
      const body = req.body as { subject: { scheme: string; value: string }; context: string };
      return standing.check(body.subject, body.context);
    },
  );

  app.get("/v1/checks", async (req) => {
    const q = req.query as Record<string, unknown>;
    if (typeof q.subject !== "string" || typeof q.context !== "string") {
      throw new StandingError("bad-request", "query needs subject=SCHEME:VALUE and context=NAME", {});
    }
    return standing.check(parseIdentifier(q.subject), q.context);
  });

  return app;
}
