import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MeasureState } from "../engine/types.js";
import { measuresMoved } from "./inputs.js";

// Measures as the evaluator builds them (its key order), from few values, so that equal
// pairs are common.
const measureArb: fc.Arbitrary<MeasureState> = fc
  .record({
    measure: fc.constantFrom("no-flights", "express-security"),
    context: fc.constantFrom("air-travel", "rail"),
    effect: fc.constantFrom("deny" as const, "privilege" as const),
    code: fc.constantFrom("SPC-DEBTOR", "GREEN-LANE"),
    basis: fc.constantFrom(null, "art. 3(1)"),
    status: fc.constantFrom("active" as const, "pending" as const),
    since: fc.constantFrom(null, "2026-11-01T00:00:00.000Z", "2026-11-02T00:00:00.000Z"),
    until: fc.constantFrom(null, "2027-11-01T00:00:00.000Z"),
    lists: fc.array(fc.constantFrom("debtors", "green-lane"), { maxLength: 2 }),
  })
  .map((m) => ({ measure: m.measure, context: m.context, effect: m.effect, code: m.code, basis: m.basis, status: m.status, since: m.since, until: m.until, lists: m.lists }));
const measuresArb = fc.array(measureArb, { maxLength: 3 });
const clone = (ms: readonly MeasureState[]): MeasureState[] => JSON.parse(JSON.stringify(ms)) as MeasureState[];

describe("measuresMoved", () => {
  it("given any two lists of measures, when compared, then they moved exactly when their JSON texts differ", () => {
    fc.assert(
      fc.property(fc.option(measuresArb, { nil: undefined }), measuresArb, (before, after) => {
        expect(measuresMoved(before, after)).toBe(JSON.stringify(before ?? []) !== JSON.stringify(after));
      }),
      { numRuns: 2000 },
    );
  });

  it("given measures read back from their stored text, when compared with those evaluated, then they did not move", () => {
    fc.assert(
      fc.property(measuresArb, (ms) => {
        expect(measuresMoved(clone(ms), ms)).toBe(false);
      }),
    );
  });

  it("given a stored measure with a field this version does not write, when compared, then it moved", () => {
    const m = fc.sample(measureArb, 1)[0] as MeasureState;
    expect(measuresMoved([{ ...m, extra: 1 } as MeasureState], [m])).toBe(true);
  });
});
