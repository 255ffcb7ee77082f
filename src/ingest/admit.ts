// Admission: whether the policy in force lets a normalised record in. Pure: the caller
// passes the policy and the instant; what is already stored (duplicates, the subject)
// is the ingest service's question, not this one's.
import { StandingError } from "../errors.js";
import type { CompiledPolicy } from "../policy/types.js";
import type { Instant } from "../time.js";
import type { NormalisedRecord } from "./input.js";

export interface Admitted {
  readonly type: string;
  /** Whether the identifier's scheme may create a subject (undefined when the policy declares no schemes). */
  readonly registers: boolean | undefined;
}

/** Checks that apply to every record, retraction or not: a policy is in force, the record is not from the future. */
export function admitAny(rec: NormalisedRecord, policy: CompiledPolicy | undefined, now: Instant, futureToleranceMs: number): CompiledPolicy {
  if (!policy) throw new StandingError("no-policy", "no policy is in force, so no record type is admitted yet");
  if (rec.occurredAt > now + futureToleranceMs) {
    throw new StandingError("occurred-in-future", `occurredAt ${new Date(rec.occurredAt).toISOString()} is in the future`, { occurredAt: new Date(rec.occurredAt).toISOString() });
  }
  return policy;
}

/** A fact (not a retraction): its type, source, evidence, fields and identifier scheme against the policy. */
export function admitFact(rec: NormalisedRecord, policy: CompiledPolicy): Admitted {
  const type = rec.type as string;
  const rt = policy.records.get(type);
  if (!rt) {
    throw new StandingError("unknown-record-type", `policy ${policy.ref} admits no record type "${type}"; records that no policy category admits are not accepted`, {
      type,
      policy: policy.ref,
    });
  }
  if (!rt.sources.includes(rec.source)) {
    throw new StandingError("source-not-allowed", `source "${rec.source}" may not submit "${type}" (allowed: ${rt.sources.join(", ")})`, { source: rec.source, type });
  }
  if (rt.evidence === "required" && rec.evidence === undefined) {
    throw new StandingError("evidence-required", `"${type}" records need evidence (a reference to the case file, photo or document)`, { type });
  }
  const problems = rt.validateFields(rec.fields);
  if (problems.length > 0) throw new StandingError("invalid-record", `invalid fields for "${type}": ${problems.join("; ")}`, { type, problems });
  const subject = rec.subject as { scheme: string };
  const scheme = policy.identifiers?.get(subject.scheme);
  if (policy.identifiers && !scheme) {
    throw new StandingError("invalid-identifier", `identifier scheme "${subject.scheme}" is not declared by ${policy.ref} (declared: ${[...policy.identifiers.keys()].join(", ")})`, { scheme: subject.scheme });
  }
  return { type, registers: scheme?.registers };
}
