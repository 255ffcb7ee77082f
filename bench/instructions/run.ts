// `npm run bench:instructions`: instructions per operation for the hot paths, counted by
// valgrind's callgrind (bench/instructions/count.ts says how), as a table. About three
// minutes. A benchmark, not a test: it never fails on a figure; without valgrind it says
// so in one line and exits 0.
import { countInstructions } from "./count.js";

console.error("[instructions] counting with callgrind (about three minutes)");
const c = countInstructions();
if (!c.counted) {
  console.log(`bench:instructions: ${c.why}`);
  process.exit(0);
}
const fmt = (x: number): string => Math.round(x).toLocaleString("en");
console.error(`[instructions] ${c.note}`);
console.log(`\nInstructions per operation (callgrind, main thread; ${c.indexed.toLocaleString("en")} subjects indexed, 50/50 restricted and absent identifiers)\n`);
console.log("| operation | instructions / op | per identifier | each round (per op) |");
console.log("|---|---|---|---|");
for (const p of c.operations) console.log(`| ${p.what}, per ${p.unit} | ${fmt(p.instructions)}${p.settled ? "" : " (not settled)"} | ${p.perOp > 1 ? fmt(p.instructions / p.perOp) : "—"} | ${p.rounds.map(fmt).join(", ")} |`);
console.log(`\nN = ${c.n} per phase; a figure is the lowest (I(2N) − I(N)) / N of the rounds after the first. "not settled": the two lowest of those differ by more than 1 %.`);
