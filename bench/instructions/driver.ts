// Runs under valgrind (callgrind) for `npm run bench:instructions`: builds the fixture,
// warms every operation up, then runs each N and 2N times. Each phase is bracketed by
// a marker, process.cpuUsage(), whose libuv call (uv_getrusage) callgrind is told to
// dump its counters before; so the counts of a phase are exactly that phase's, and
// (I(2N) − I(N)) / N is the cost of one operation with the marker, the loop's entry
// and anything else fixed cancelled out.
// Usage: node --expose-gc --import tsx bench/instructions/driver.ts <indexed> <n> <warm-up calls>
import { makeFixture, operations } from "./ops.js";

const indexed = Number(process.argv[2] ?? 20_000);
const n = Number(process.argv[3] ?? 4096);
const warm = Number(process.argv[4] ?? 200);
const ROUNDS = 4;
const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => {});
const mark = (): void => {
  process.cpuUsage();
};

const f = makeFixture(indexed, 4096);
const ops = operations(f);
// Each operation's count scaled so that a phase is about the same work: the screening
// runs batches, the evaluator whole subjects.
const counts: Record<string, number> = { denies: n, check: n, screening: Math.max(1, Math.round(n / 256)), evaluate: Math.max(1, Math.round(n / 32)) };
const sums: Record<string, number[]> = {};
for (const op of ops) {
  const c = counts[op.name] ?? n;
  // Warm-up: many short calls, so that V8 optimises the operation's loop as a whole
  // function (not only by on-stack replacement inside one long call), and the phases
  // below enter optimised code instead of compiling it on the way.
  const chunk = Math.max(1, Math.round(c / 8));
  for (let r = 0; r < warm; r++) op.run(chunk);
  const got: number[] = [];
  // Rounds of (N, 2N): the last round is the figure, the earlier ones show whether the
  // operation had settled (no compilation or deoptimisation left inside a phase).
  for (let round = 0; round < ROUNDS; round++) for (const k of [1, 2]) {
    gc();
    gc();
    mark(); // dump: everything before the phase
    got.push(op.run(k * c));
    mark(); // dump: the phase
  }
  sums[op.name] = got;
}
// The plan, for the caller to match dumps with phases: per operation, two marks per phase.
process.stdout.write(`${JSON.stringify({ indexed, rounds: ROUNDS, phases: ops.map((op) => ({ name: op.name, what: op.what, unit: op.unit, perOp: op.perOp, n: counts[op.name] ?? n })), sums })}\n`);
