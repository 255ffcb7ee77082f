// The operations whose instructions `npm run bench:instructions` counts answer as the
// plain paths do: the fast path agrees with the decision with reasons, the screening
// with one check per identifier, the evaluator's fixture restricts the subjects it is
// meant to. Behaviour only; nothing here measures.
import { describe, expect, it } from "vitest";
import { evaluate } from "../src/engine/evaluate.js";
import { AT } from "../bench/index-bench.js";
import { makeFixture, operations, SCREEN_BATCH } from "../bench/instructions/ops.js";

describe("bench:instructions operations", () => {
  const f = makeFixture(1_000, 2048);
  const ops = new Map(operations(f).map((op) => [op.name, op]));
  const run = (name: string, n: number): number => (ops.get(name) as { run(n: number): number }).run(n);

  it("denies agrees with check over the whole stream, and about half the stream is denied", () => {
    let denied = 0;
    for (let i = 0; i < f.schemes.length; i++) {
      const s = f.schemes[i] as string;
      const v = f.values[i] as string;
      const fast = f.built.index.denies(s, v, "air-travel", AT);
      expect(f.built.index.check(s, v, "air-travel", AT, f.policy.ref).decision).toBe(fast ? "deny" : "allow");
      if (fast) denied++;
    }
    expect(run("denies", f.schemes.length)).toBe(denied);
    expect(denied).toBeGreaterThan(0.3 * f.schemes.length);
    expect(denied).toBeLessThan(0.7 * f.schemes.length);
    // Twice round the stream denies twice as many: the N and 2N phases do the same work per operation.
    expect(run("denies", 2 * f.schemes.length)).toBe(2 * denied);
  });

  it("a screened batch denies exactly the identifiers a check denies", () => {
    let denied = 0;
    for (let i = 0; i < SCREEN_BATCH; i++) if (f.built.index.denies(f.schemes[i] as string, f.values[i] as string, "air-travel", AT)) denied++;
    expect(run("screening", 1)).toBe(denied);
  });

  it("the evaluator's subjects are those of the plain evaluator, a quarter of them restricted", () => {
    let restricted = 0;
    let sum = 0;
    for (const records of f.subjects) {
      const st = evaluate(f.policy, records, AT);
      sum += st.score + st.measures.length;
      if (st.measures.some((m) => m.effect === "deny")) restricted++;
    }
    expect(run("evaluate", f.subjects.length)).toBe(sum);
    expect(restricted).toBe(f.subjects.length / 4);
  });
});
