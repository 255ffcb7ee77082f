// One schema source (TypeBox) for request validation, handler types and the OpenAPI
// document.
import { Type } from "@fastify/type-provider-typebox";

const token = Type.String({ minLength: 1, maxLength: 200 });

export const Identifier = Type.Object({ scheme: token, value: token }, { additionalProperties: false, $id: "Identifier" });

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: "one of the closed set of error codes" }),
      message: Type.String(),
      details: Type.Record(Type.String(), Type.Unknown()),
      requestId: Type.String(),
    }),
  },
  { $id: "Error" },
);

export const CheckRequest = Type.Object(
  { subject: Type.Object({ scheme: token, value: token }, { additionalProperties: false }), context: token },
  { additionalProperties: false },
);

const Reason = Type.Object({
  code: Type.String(),
  measure: Type.String(),
  basis: Type.Union([Type.String(), Type.Null()]),
  until: Type.Union([Type.String(), Type.Null()]),
});

/** A signed receipt (docs/journal.md, "Receipts"). */
export const Receipt = Type.Object({
  format: Type.Literal("standing-receipt/1"),
  alg: Type.Literal("Ed25519"),
  fingerprint: Type.String(),
  payload: Type.String({ description: "base64 of the signed bytes: canonical JSON of the claims" }),
  signature: Type.String({ description: "base64 Ed25519 signature over the payload's bytes, or over batch.signed's bytes" }),
  batch: Type.Optional(
    Type.Object({
      signed: Type.String({ description: "base64 of the signed batch root: canonical JSON {at, receipts, root, size}" }),
      index: Type.Integer(),
      path: Type.Array(Type.String()),
    }),
  ),
});

export const Decision = Type.Object({
  id: Type.String(),
  subject: Type.Object({ scheme: Type.String(), value: Type.String() }),
  decision: Type.Union([Type.Literal("allow"), Type.Literal("deny")]),
  context: Type.String(),
  reasons: Type.Array(Reason),
  privileges: Type.Array(Type.Object({ code: Type.String(), measure: Type.String(), until: Type.Union([Type.String(), Type.Null()]) })),
  policy: Type.String(),
  at: Type.String(),
  receipt: Type.Optional(Receipt),
});

export const RecordInput = Type.Object(
  {
    source: token,
    id: token,
    type: Type.Optional(token),
    subject: Type.Optional(Type.Object({ scheme: token, value: token })),
    occurredAt: Type.String({ description: "ISO 8601 instant with offset" }),
    fields: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    evidence: Type.Optional(Type.String()),
    retracts: Type.Optional(token),
    reason: Type.Optional(Type.String()),
  },
  { description: "One record. Send application/x-ndjson for a batch: one record per line, one result per line." },
);

export const IngestResult = Type.Object({
  line: Type.Optional(Type.Integer()),
  status: Type.Union([Type.Literal("accepted"), Type.Literal("duplicate"), Type.Literal("quarantined"), Type.Literal("rejected")]),
  source: Type.Optional(Type.String()),
  id: Type.Optional(Type.String()),
  subject: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), details: Type.Record(Type.String(), Type.Unknown()) })),
});

/** A cluster node's answer to records it published: the receipt, and the lines refused at once. */
export const BatchReceipt = Type.Object({
  receipt: Type.String(),
  status: Type.Literal("pending"),
  lines: Type.Integer(),
  published: Type.Integer(),
  rejected: Type.Integer(),
  errors: Type.Array(IngestResult),
  links: Type.Object({ batch: Type.String() }),
});

// At most 15 digits: every such id is a safe integer, so Number(id) never rounds to another subject's id.
export const SubjectParams = Type.Object({ id: Type.String({ pattern: "^[1-9][0-9]{0,14}$" }) });
export const SubjectQuery = Type.Object({ identifier: Type.String({ minLength: 3, maxLength: 401 }) }, { additionalProperties: false });
export const ScreeningQuery = Type.Object({ context: token }, { additionalProperties: false });
export const PolicyQuery = Type.Object(
  { action: Type.Union([Type.Literal("lint"), Type.Literal("propose"), Type.Literal("publish")], { default: "lint", description: "lint, or propose (publish answers how a policy is published: a proposal approved by someone else)" }) },
  { additionalProperties: false },
);

export const ProposalParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const RejectBody = Type.Object({ reason: Type.String({ minLength: 10, maxLength: 2000 }) }, { additionalProperties: false });
