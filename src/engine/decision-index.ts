// The decision index: identifier -> precomputed, time-bounded measures. Only
// subjects with a measure are in it; absence means allow. A check is a map lookup
// and a few comparisons: no SQL and no policy evaluation.
//
// Identifiers are held in two levels (scheme -> value -> measures) rather than under
// one concatenated key, so a lookup never builds a string: `denies()` allocates
// nothing, and `check()` allocates only the decision it returns (bench/, BENCHMARKS.md).
import { decide, timeMeasures, type TimedMeasure } from "./decide.js";
import type { Decision, MeasureState } from "./types.js";
import type { Instant } from "../time.js";

export interface IndexIdentifier {
  readonly scheme: string;
  readonly value: string;
}

const none: readonly TimedMeasure[] = [];

export class DecisionIndex {
  private readonly byScheme = new Map<string, Map<string, readonly TimedMeasure[]>>();
  private readonly keysBySubject = new Map<number, readonly IndexIdentifier[]>();

  /** Replaces what the index holds for one subject. */
  put(subjectId: number, identifiers: readonly IndexIdentifier[], measures: readonly MeasureState[]): void {
    this.remove(subjectId);
    if (measures.length === 0) return;
    const timed = timeMeasures(measures);
    const keys = identifiers.map((i) => ({ scheme: i.scheme, value: i.value }));
    for (const k of keys) {
      let values = this.byScheme.get(k.scheme);
      if (values === undefined) {
        values = new Map();
        this.byScheme.set(k.scheme, values);
      }
      values.set(k.value, timed);
    }
    this.keysBySubject.set(subjectId, keys);
  }

  remove(subjectId: number): void {
    const keys = this.keysBySubject.get(subjectId);
    if (!keys) return;
    for (const k of keys) this.byScheme.get(k.scheme)?.delete(k.value);
    this.keysBySubject.delete(subjectId);
  }

  measuresFor(scheme: string, value: string): readonly TimedMeasure[] {
    return this.byScheme.get(scheme)?.get(value) ?? none;
  }

  check(scheme: string, value: string, context: string, at: Instant, policy: string): Decision {
    return decide(this.measuresFor(scheme, value), context, at, policy);
  }

  /** Deny-only fast path: true when an active deny measure applies. Allocates nothing. */
  denies(scheme: string, value: string, context: string, at: Instant): boolean {
    const values = this.byScheme.get(scheme);
    if (values === undefined) return false;
    const ms = values.get(value);
    if (ms === undefined) return false;
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i] as TimedMeasure;
      if (m.effect === "deny" && m.context === context && m.since <= at && at < m.until) return true;
    }
    return false;
  }

  get subjects(): number {
    return this.keysBySubject.size;
  }
}
