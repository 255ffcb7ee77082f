// Where records stand, and records taken through a cluster's JetStream intake.
//
// - `GET /v1/records/{source}/{id}`: a source's record, pending (still in the stream),
//   accepted, duplicate, quarantined or rejected, with reasons and the batch it came in.
// - `GET /v1/batches/{receipt}`: every line of a batch taken by a cluster, a page at a time.
// - In a cluster, `POST /v1/records` publishes and answers 202 with a receipt
//   (`intakeRecords` below); `?wait=SECONDS` waits that long for the evaluators and
//   answers as a single node does, or 202 with the receipt if they were not done.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type, type TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { StandingError } from "../errors.js";
import type { Principal, Role } from "../auth/principals.js";
import type { IngestResult, Standing } from "../standing.js";
import { recordStatus, type ClusterIntake, type Submitted } from "../cluster/intake.js";
import type { Line } from "./body.js";

const READERS: readonly Role[] = ["source", "admin", "auditor", "reviewer"];
const NDJSON = "application/x-ndjson";
/** The longest a submitter may ask to wait for evaluation (?wait=). */
export const MAX_WAIT_SECONDS = 60;

/** `?wait=SECONDS` of `POST /v1/records` (validated here: that route validates its body itself). */
export function waitSeconds(query: unknown): number | undefined {
  const w = (query as Record<string, unknown> | undefined)?.wait;
  if (w === undefined) return undefined;
  const n = typeof w === "string" && /^\d{1,3}$/.test(w) ? Number(w) : Number.NaN;
  if (!(n >= 0 && n <= MAX_WAIT_SECONDS)) throw new StandingError("bad-request", `wait is a whole number of seconds from 0 to ${MAX_WAIT_SECONDS}`, { wait: String(w) });
  return n;
}

function ownSource(p: Principal, source: string): void {
  if (p.kind === "key" && p.role === "source" && p.source !== source) throw new StandingError("forbidden", `this key reads the records of source "${p.source}" only`, { source });
}

export function recordStatusRoutes(app: FastifyInstance, standing: Standing, intake: ClusterIntake | undefined): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const security = [{ key: [] }];
  r.get(
    "/v1/records/:source/:id",
    {
      config: { allow: READERS },
      schema: {
        tags: ["records"],
        summary: "Where a source's record stands: pending, accepted, duplicate, quarantined or rejected, with reasons",
        security,
        params: Type.Object({ source: Type.String({ minLength: 1, maxLength: 200 }), id: Type.String({ minLength: 1, maxLength: 200 }) }),
      },
    },
    async (req) => {
      const { source, id } = req.params;
      ownSource(req.principal, source);
      const s = await recordStatus(standing, intake, source, id);
      if (!s) throw new StandingError("not-found", `source "${source}" has no record "${id}" here, stored or waiting`, { source, id });
      return s;
    },
  );

  r.get(
    "/v1/batches/:receipt",
    {
      config: { allow: READERS },
      schema: {
        tags: ["records"],
        summary: "Where each line of a batch taken by a cluster stands, a page at a time (?after=LINE&limit=N)",
        security,
        params: Type.Object({ receipt: Type.String({ pattern: "^[0-9a-f-]{1,64}$" }) }),
        querystring: Type.Object({ after: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const manifest = intake ? await intake.manifest(req.params.receipt) : undefined;
      if (!manifest || !intake) throw new StandingError("not-found", `no batch with receipt "${req.params.receipt}"${intake ? "" : " (this server takes batches directly, not through a cluster's stream)"}`, { receipt: req.params.receipt });
      const p = req.principal;
      if (p.kind === "key" && p.role === "source" && p.keyId !== manifest.keyId) throw new StandingError("forbidden", "a source key reads the batches it sent only", { receipt: manifest.receipt });
      return intake.status(manifest, req.query.after ?? 0, req.query.limit ?? 1000);
    },
  );
}

/** The answer to a single record once evaluated: 201 accepted, 200 duplicate, 202 quarantined, or its error. */
export function singleAnswer(reply: FastifyReply, result: IngestResult): FastifyReply {
  switch (result.status) {
    case "accepted":
      return reply.status(201).send(result);
    case "duplicate":
      return reply.status(200).send(result);
    case "quarantined":
      return reply.status(202).send(result);
    case "rejected":
      throw new StandingError(result.error.code, result.error.message, result.error.details);
    default: {
      const never: never = result;
      throw new Error(`unexpected ${JSON.stringify(never)}`);
    }
  }
}

/**
 * `POST /v1/records` on a cluster node: publishes, then answers 202 with the receipt
 * (or, with ?wait=, waits for the evaluators up to that many seconds).
 */
export async function intakeRecords(intake: ClusterIntake, req: FastifyRequest, reply: FastifyReply, body: { readonly ndjson: readonly Line[] } | { readonly json: unknown }, wait: number | undefined, countOutcome: (status: string, n?: number) => void): Promise<FastifyReply> {
  const p = req.principal;
  const by = { keyId: p.kind === "key" ? p.keyId : "anonymous", source: p.kind === "key" && p.role === "source" ? (p.source ?? null) : null };
  const inputs =
    "json" in body
      ? [{ line: 1, input: body.json }]
      : body.ndjson.map((l) => {
          try {
            return { line: l.line, input: JSON.parse(l.text) as unknown };
          } catch (e) {
            return { line: l.line, input: undefined, refused: new StandingError("bad-request", `line ${l.line} is not valid JSON: ${(e as Error).message}`, {}) };
          }
        });
  // A single record refused on its envelope is answered as a single node answers it.
  const submitted: Submitted = await intake.submit(inputs, by);
  if (submitted.rejected.length > 0) countOutcome("rejected", submitted.rejected.length);
  const location = `/v1/batches/${submitted.receipt}`;
  if ("json" in body && submitted.rejected.length === 1) return singleAnswer(reply, (submitted.rejected[0] as { result: IngestResult }).result);
  if (wait !== undefined && wait > 0 && submitted.published > 0) {
    const manifest = await intake.manifest(submitted.receipt);
    const deadline = Date.now() + wait * 1000;
    for (let delay = 20; manifest && Date.now() < deadline; delay = Math.min(250, delay * 2)) {
      const s = await intake.status(manifest, 0, "json" in body ? 1 : 10_000);
      if (s.done) {
        for (const r of s.results) if (r.status !== "rejected") countOutcome(r.status);
        if ("json" in body) return singleAnswer(reply, s.results[0] as IngestResult);
        if (submitted.lines <= 10_000) {
          reply.type(NDJSON);
          return reply.status(200).send(s.results.map((x) => JSON.stringify(x)).join("\n") + "\n");
        }
        break;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  void reply.header("location", location);
  return reply.status(202).send({
    receipt: submitted.receipt,
    status: "pending",
    lines: submitted.lines,
    published: submitted.published,
    rejected: submitted.rejected.length,
    // The lines refused at once, first ones listed; the receipt gives every line.
    errors: submitted.rejected.slice(0, 1000).map((x) => ({ line: x.line, ...x.result })),
    links: { batch: location },
  });
}
