// The demo population: deterministic, and at any size it holds a debtor whose ban is in
// force, which the commands `npm start` and `cluster up` print are about.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generatePopulation } from "./population.js";

const NOW = Date.UTC(2026, 11, 3);
const DAY = 86_400_000;

/** Subjects with a court judgment at least `days` old and no fulfilment of its case. */
function unpaidDebtors(records: ReturnType<typeof generatePopulation>["records"], days: number): string[] {
  const paid = new Set(records.filter((r) => r.type === "court.judgment.fulfilled").map((r) => (r.fields as { case: string }).case));
  return records.filter((r) => r.type === "court.judgment.default" && !paid.has((r.fields as { case: string }).case) && NOW - Date.parse(r.occurredAt) >= days * DAY).map((r) => r.subject?.value ?? "");
}

describe("the demo population", () => {
  it("given any size and seed, when generated, then some debtor is unpaid and judged at least 120 days ago", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 0, max: 1_000_000 }), (subjects, seed) => {
        expect(unpaidDebtors(generatePopulation({ subjects, seed, now: NOW }).records, 120).length).toBeGreaterThan(0);
      }),
      { numRuns: 60 },
    );
  });

  it("given a size and seed, when generated twice, then it is the same; a population that already has such a debtor gains no record", () => {
    const a = generatePopulation({ subjects: 10_000, seed: 42, now: NOW });
    expect(generatePopulation({ subjects: 10_000, seed: 42, now: NOW })).toEqual(a);
    expect(unpaidDebtors(a.records, 120).length).toBeGreaterThan(1);
    expect(a.records.some((r) => (r.fields as { case?: string } | undefined)?.case === "(2026) demo court enforcement no. 1000")).toBe(false);
  });
});
