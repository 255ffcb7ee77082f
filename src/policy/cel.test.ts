import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseCel } from "./cel.js";
import type { CompiledExpr, ExprBindings } from "./types.js";

function build(source: string): CompiledExpr {
  const p = parseCel(source);
  if (!p.ok) throw new Error(`test expression does not parse: ${p.message}`);
  return p.build();
}

// Remembered answers must be the answers: the same expression built twice, one asked
// many times over repeated bindings (so it remembers), the other asked each binding once.
const EXPRESSIONS = [
  "record['kmh-over'] >= 20 ? -6.0 : -3.0",
  "has(record.hours) ? min(record.hours, 10.0) : 0.0",
  "record.case == entry.case",
  "score >= 1030.0 && tier != 'C'",
  "record.exists(k, k == 'flag')", // reads the record as a whole: never remembered
  "1.0 / record.x > 0.0", // -0 and 0 give different answers
  "has(record.note) && record.note == null",
];

const value = fc.oneof(fc.constant(null), fc.constant(0), fc.constant(-0), fc.integer({ min: -40, max: 40 }), fc.constantFrom("a", "flag", "C"), fc.boolean());
const fields = fc.dictionary(fc.constantFrom("kmh-over", "hours", "case", "x", "note", "flag"), value, { maxKeys: 4 });
const bindings: fc.Arbitrary<ExprBindings> = fc.record(
  { record: fields, entry: fields, score: fc.constantFrom(0, -0, 1000, 1030, 1031.5), tier: fc.constantFrom("A", "C") },
  { requiredKeys: [] },
);

describe("CEL answers remembered", () => {
  it("given repeated bindings, when an expression answers from memory, then every answer equals evaluating afresh", () => {
    fc.assert(
      fc.property(fc.constantFrom(...EXPRESSIONS), fc.array(bindings, { minLength: 1, maxLength: 30 }), (source, bs) => {
        const remembering = build(source);
        const stream = [...bs, ...bs, ...bs.slice().reverse()];
        for (const b of stream) {
          const fresh = build(source);
          expect(remembering.evalBool(b)).toBe(fresh.evalBool(b));
          expect(Object.is(remembering.evalNumber(b), fresh.evalNumber(b))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("does not confuse a field that is null with one that is absent, nor -0 with 0", () => {
    const e = build("has(record.note) ? 1.0 : (record.note == null ? 2.0 : 3.0)");
    for (const b of [{ record: { note: null } }, { record: {} }, { record: { note: null } }]) expect(e.evalNumber(b)).toBe(build(e.source).evalNumber(b));
    const d = build("1.0 / record.x > 0.0");
    expect(d.evalBool({ record: { x: 0 } })).toBe(true);
    expect(d.evalBool({ record: { x: -0 } })).toBe(false);
  });
});
