// Helpers shared by the evaluator tests: compile small inline policies, build records
// by hand, and compare states without their `at` field. Test-only (and free of I/O);
// nothing in the product imports this file.
import { compilePolicy, formatDiagnostic } from "../policy/compile.js";
import type { CompiledPolicy } from "../policy/types.js";
import { parseInstant, type Instant } from "../time.js";
import type { SubjectRecord, SubjectState } from "./types.js";

/** Compiles a policy or fails the test with every diagnostic the compiler gave. */
export function compileOrThrow(text: string, file = "<test policy>"): CompiledPolicy {
  const r = compilePolicy(text, file);
  if (!r.ok) throw new Error(`test policy does not compile:\n${r.errors.map((e) => formatDiagnostic(e)).join("\n")}`);
  return r.policy;
}

/** An instant from an ISO 8601 text that carries its offset (a typo fails loudly). */
export function t(iso: string): Instant {
  const v = parseInstant(iso);
  if (v === undefined) throw new Error(`bad instant in test: ${iso}`);
  return v;
}

/** A record as a source would submit it. */
export function rec(
  source: string,
  id: string,
  type: string,
  occurredAt: string,
  fields: Record<string, unknown> = {},
): SubjectRecord {
  return { source, id, type, occurredAt: t(occurredAt), fields };
}

/** A record by `source` that retracts that source's record `original`. */
export function retraction(source: string, id: string, original: SubjectRecord, occurredAt: string): SubjectRecord {
  return { source, id, type: original.type, occurredAt: t(occurredAt), fields: {}, retracts: original.id };
}

/** The state with `at` removed: two states "say the same thing" when these are equal. */
export function withoutAt(s: SubjectState): Omit<SubjectState, "at"> {
  const { at: _at, ...rest } = s;
  return rest;
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
