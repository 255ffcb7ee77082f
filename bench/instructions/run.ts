// `npm run bench:instructions`: instructions per operation for the hot paths (in-process
// check, in-process screening, the evaluator), counted by valgrind's callgrind. Times on
// a shared machine move 15–25 % between runs; instruction counts of the same code repeat
// to a small fraction of a percent, so they show a change that the times hide.
//
// How: bench/instructions/driver.ts runs under callgrind, builds the fixture, warms each
// operation up, then runs it N and 2N times, in four rounds, each phase bracketed by a
// marker on which callgrind dumps its counters (--dump-before=uv_getrusage: the driver's
// process.cpuUsage()). Instructions per operation = (I(2N) − I(N)) / N, the lowest of the
// rounds after the first, counted on the main thread: setup, warm-up, the marker and the loop's entry cancel.
// About three minutes. A benchmark, not a test: it never fails on a figure; without
// valgrind it says so in one line and exits 0.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const INDEXED = 10_000;
const N = 4096;

interface Plan {
  indexed: number;
  rounds: number;
  phases: { name: string; what: string; unit: string; perOp: number; n: number }[];
  sums: Record<string, number[]>;
}

function has(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { ok: r.status === 0 && r.error === undefined, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

const valgrind = has("valgrind", ["--version"]);
if (!valgrind.ok) {
  console.log("bench:instructions: valgrind is not installed, so no instruction counts (install valgrind to get them)");
  process.exit(0);
}
// perf stat counts instructions without valgrind's slowdown, but only over a whole
// process here, where setup and JIT compilation would drown the operations; and many
// virtual machines do not expose the counter at all. Say which it is; count with callgrind.
const perf = has("perf", ["stat", "-e", "instructions", "-x", ",", "true"]);
const perfNote = !perf.ok ? "perf: not installed" : /not supported|not counted/.test(perf.out) ? "perf stat: the instructions counter is not supported on this machine" : "perf stat: the counter works, but cannot bracket phases inside the process";
console.error(`[instructions] ${valgrind.out.trim()}; ${perfNote}; counting with callgrind (about three minutes)`);

const dir = mkdtempSync(join(tmpdir(), "standing-instructions-"));
try {
  const driver = fileURLToPath(new URL("./driver.ts", import.meta.url));
  const args = [
    "--tool=callgrind",
    // V8 writes machine code into anonymous memory and patches it: valgrind must check it.
    "--smc-check=all-non-file",
    "--separate-threads=yes",
    "--dump-before=uv_getrusage",
    `--callgrind-out-file=${join(dir, "cg.out")}`,
    process.execPath,
    "--expose-gc",
    // Compilation and GC on the main thread, fixed seeds: the same instructions every run.
    "--single-threaded",
    "--hash-seed=1",
    "--random-seed=1",
    "--import",
    "tsx",
    driver,
    String(INDEXED),
    String(N),
  ];
  const r = spawnSync("valgrind", args, { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    console.error(r.stderr.slice(-2000));
    throw new Error(`the driver under valgrind exited with ${r.status}`);
  }
  const plan = JSON.parse(r.stdout.trim().split("\n").pop() as string) as Plan;
  // Dump k (1-based) of the main thread ("-01") holds the counts since dump k − 1.
  const dumps = new Map<number, number>();
  for (const f of readdirSync(dir)) {
    const m = /^cg\.out\.(\d+)-01$/.exec(f);
    if (!m) continue;
    const s = /^summary:\s*(\d+)/m.exec(readFileSync(join(dir, f), "utf8"));
    if (s) dumps.set(Number(m[1]), Number(s[1]));
  }
  const marksPerOp = plan.rounds * 4;
  if (dumps.size < plan.phases.length * marksPerOp) throw new Error(`expected ${plan.phases.length * marksPerOp} dumps, got ${dumps.size}: something else called the marker`);
  const phase = (o: number, round: number, k: 0 | 1): number => dumps.get(o * marksPerOp + round * 4 + k * 2 + 2) as number;
  const fmt = (x: number): string => Math.round(x).toLocaleString("en");
  console.log(`\nInstructions per operation (callgrind, main thread; ${plan.indexed.toLocaleString("en")} subjects indexed, 50/50 restricted and absent identifiers)\n`);
  console.log("| operation | instructions / op | per identifier | each round (per op) |");
  console.log("|---|---|---|---|");
  for (const [o, p] of plan.phases.entries()) {
    const perRound = Array.from({ length: plan.rounds }, (_, round) => (phase(o, round, 1) - phase(o, round, 0)) / p.n);
    // The first round may still include compilation; of the later ones, the lowest (an
    // interrupt from another thread, served on the main one, only ever adds).
    const later = perRound.slice(1).sort((a, b) => a - b);
    const last = later[0] as number;
    const settled = (later[1] as number) <= 1.01 * last;
    console.log(`| ${p.what}, per ${p.unit} | ${fmt(last)}${settled ? "" : " (not settled)"} | ${p.perOp > 1 ? fmt(last / p.perOp) : "—"} | ${perRound.map(fmt).join(", ")} |`);
  }
  console.log(`\nN = ${plan.phases.map((p) => `${p.n} ${p.name}`).join(", ")} per phase; a figure is the lowest (I(2N) − I(N)) / N of the rounds after the first. "not settled": the two lowest of those differ by more than 1 %.`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
