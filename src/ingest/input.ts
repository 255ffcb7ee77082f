// The record envelope as sources submit it, validated before anything else looks at
// it. Normalisation (instants to UTC, canonical JSON) makes idempotency exact: the
// same record sent twice hashes the same even if its offset was written differently.
import { Ajv } from "ajv";
import { canonicalJson, sha256Hex } from "../canonical.js";
import { StandingError } from "../errors.js";
import { isoUtc, parseInstant, type Instant } from "../time.js";

export interface RecordInput {
  readonly source: string;
  readonly id: string;
  readonly type?: string;
  readonly subject?: { readonly scheme: string; readonly value: string };
  readonly occurredAt: string;
  readonly fields?: Record<string, unknown>;
  readonly evidence?: string;
  readonly retracts?: string;
  readonly supersedes?: string;
  readonly reason?: string;
}

export interface NormalisedRecord {
  readonly source: string;
  readonly id: string;
  readonly type: string | undefined;
  readonly subject: { readonly scheme: string; readonly value: string } | undefined;
  readonly occurredAt: Instant;
  readonly fields: Record<string, unknown>;
  readonly evidence: string | undefined;
  readonly retracts: string | undefined;
  readonly supersedes: string | undefined;
  readonly reason: string | undefined;
  /** Canonical JSON of the normalised record: what is stored and hashed. */
  readonly body: string;
  readonly hash: string;
}

const token = { type: "string", minLength: 1, maxLength: 200, pattern: "^[^\\u0000-\\u001f]+$" };
const envelopeSchema = {
  type: "object",
  additionalProperties: false,
  required: ["source", "id", "occurredAt"],
  properties: {
    source: token,
    id: token,
    type: token,
    subject: {
      type: "object",
      additionalProperties: false,
      required: ["scheme", "value"],
      properties: { scheme: token, value: token },
    },
    occurredAt: { type: "string", maxLength: 64 },
    fields: { type: "object", maxProperties: 100 },
    evidence: { type: "string", minLength: 1, maxLength: 2048 },
    retracts: token,
    supersedes: token,
    reason: { type: "string", maxLength: 2000 },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const validateEnvelope = ajv.compile(envelopeSchema);

/** Validates the envelope shape; throws a StandingError naming every problem. */
export function normaliseRecord(input: unknown): NormalisedRecord {
  if (!validateEnvelope(input)) {
    const problems = (validateEnvelope.errors ?? []).map((e) => {
      const at = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "record";
      if (e.keyword === "additionalProperties") return `${at === "record" ? "" : at + "."}${(e.params as { additionalProperty: string }).additionalProperty} is not a record field`;
      if (e.keyword === "required") return `${(e.params as { missingProperty: string }).missingProperty} is required`;
      return `${at} ${e.message ?? "is invalid"}`;
    });
    throw new StandingError("invalid-record", `invalid record: ${problems.join("; ")}`, { problems });
  }
  const r = input as RecordInput;
  const occurredAt = parseInstant(r.occurredAt);
  if (occurredAt === undefined) {
    throw new StandingError("invalid-record", `occurredAt "${r.occurredAt}" must be an ISO 8601 instant with an offset, e.g. 2026-03-01T09:30:00+08:00`, {
      problems: ["occurredAt"],
    });
  }
  if (r.retracts === undefined) {
    const missing = [r.type === undefined ? "type" : "", r.subject === undefined ? "subject" : ""].filter(Boolean);
    if (missing.length > 0) {
      throw new StandingError("invalid-record", `invalid record: ${missing.join(" and ")} required`, { problems: missing.map((m) => `${m} is required`) });
    }
    if (r.supersedes !== undefined && r.supersedes === r.id) {
      throw new StandingError("invalid-record", "a record cannot supersede itself", { problems: ["supersedes"] });
    }
  } else if (r.supersedes !== undefined) {
    throw new StandingError("invalid-record", "a record either retracts or supersedes, not both", { problems: ["supersedes"] });
  } else if (r.fields !== undefined || r.evidence !== undefined) {
    throw new StandingError("invalid-record", "a retraction carries no fields or evidence, only the id it retracts and a reason", {
      problems: ["retracts"],
    });
  }
  const normal = {
    source: r.source,
    id: r.id,
    ...(r.type !== undefined ? { type: r.type } : {}),
    ...(r.subject !== undefined ? { subject: { scheme: r.subject.scheme, value: r.subject.value } } : {}),
    occurredAt: isoUtc(occurredAt),
    ...(r.retracts === undefined ? { fields: r.fields ?? {} } : {}),
    ...(r.evidence !== undefined ? { evidence: r.evidence } : {}),
    ...(r.retracts !== undefined ? { retracts: r.retracts } : {}),
    ...(r.supersedes !== undefined ? { supersedes: r.supersedes } : {}),
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
  };
  let body: string;
  try {
    body = canonicalJson(normal);
  } catch {
    throw new StandingError("invalid-record", "fields contain values that are not plain JSON", { problems: ["fields"] });
  }
  return {
    source: r.source,
    id: r.id,
    type: r.type,
    subject: normal.subject,
    occurredAt,
    fields: r.fields ?? {},
    evidence: r.evidence,
    retracts: r.retracts,
    supersedes: r.supersedes,
    reason: r.reason,
    body,
    hash: sha256Hex(body),
  };
}
