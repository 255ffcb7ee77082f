// The decision for one subject in one context at one instant, from measures that
// were already computed. Pure and cheap: it only compares instants.
import type { Decision, MeasureState, Reason } from "./types.js";
import { isoUtc, type Instant } from "../time.js";

export interface TimedMeasure {
  readonly measure: string;
  readonly context: string;
  readonly effect: "deny" | "privilege";
  readonly code: string;
  readonly basis: string | null;
  readonly since: number; // -Infinity when open
  readonly until: number; // Infinity when open
}

export function timeMeasures(measures: readonly MeasureState[]): TimedMeasure[] {
  return measures.map((m) => ({
    measure: m.measure,
    context: m.context,
    effect: m.effect,
    code: m.code,
    basis: m.basis,
    since: m.since === null ? -Infinity : Date.parse(m.since),
    until: m.until === null ? Infinity : Date.parse(m.until),
  }));
}

// Formatting an instant (Date + toISOString) costs more than the rest of a decision,
// and checks arrive many to the millisecond: the last instant formatted is kept, and
// so is each measure's `until` (measures are immutable once timed). Pure caches: the
// strings are the same ones isoUtc would return.
let lastAt = NaN;
let lastAtIso = "";
function atIso(at: Instant): string {
  if (at !== lastAt) {
    lastAtIso = isoUtc(at);
    lastAt = at;
  }
  return lastAtIso;
}
const untilIso = new WeakMap<TimedMeasure, string | null>();
function untilOf(m: TimedMeasure): string | null {
  let s = untilIso.get(m);
  if (s === undefined) {
    s = Number.isFinite(m.until) ? isoUtc(m.until) : null;
    untilIso.set(m, s);
  }
  return s;
}

// Shared by every denial: a decision's lists are never changed once made.
const noPrivileges: Decision["privileges"] = Object.freeze([]) as Decision["privileges"];

export function decide(measures: readonly TimedMeasure[], context: string, at: Instant, policy: string): Decision {
  const reasons: Reason[] = [];
  const privileges: { code: string; measure: string; until: string | null }[] = [];
  for (let i = 0; i < measures.length; i++) {
    const m = measures[i] as TimedMeasure;
    if (m.context !== context || m.since > at || at >= m.until) continue;
    const until = untilOf(m);
    if (m.effect === "deny") reasons.push({ code: m.code, measure: m.measure, basis: m.basis, until });
    else privileges.push({ code: m.code, measure: m.measure, until });
  }
  return decisionOf(context, reasons, privileges, policy, at);
}

/** The decision from the reasons and privileges that apply: the one shape every check answers with. */
export function decisionOf(context: string, reasons: Reason[], privileges: Decision["privileges"], policy: string, at: Instant): Decision {
  return {
    decision: reasons.length > 0 ? "deny" : "allow",
    context,
    reasons,
    // A denied subject gets no privileges in the same context.
    privileges: reasons.length > 0 ? noPrivileges : privileges,
    policy,
    at: atIso(at),
  };
}
