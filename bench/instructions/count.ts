// Instructions per operation for the hot paths (in-process check, in-process screening,
// the evaluator), counted by valgrind's callgrind: `npm run bench:instructions` prints
// them alone, and the full `npm run bench` prints them beside the times. Times on a
// shared machine move 15–25 % between runs; instruction counts of the same code repeat
// to a small fraction of a percent, so they show a change that the times hide.
//
// How: bench/instructions/driver.ts runs under callgrind, builds the fixture, warms each
// operation up, then runs it N and 2N times, in four rounds, each phase bracketed by a
// marker on which callgrind dumps its counters (--dump-before=uv_getrusage: the driver's
// process.cpuUsage()). Instructions per operation = (I(2N) − I(N)) / N, the lowest of the
// rounds after the first, counted on the main thread: setup, warm-up, the marker and the loop's entry cancel.
// About three minutes. Without valgrind it says why there are no counts.
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

export interface CountedOperation {
  /** denies, check, screening, evaluate (bench/instructions/ops.ts). */
  readonly name: string;
  readonly what: string;
  readonly unit: string;
  /** Identifiers per operation (screening), else 1. */
  readonly perOp: number;
  /** The figure: the lowest per-operation count of the rounds after the first. */
  readonly instructions: number;
  /** Every round's per-operation count, the first included. */
  readonly rounds: readonly number[];
  /** False when the two lowest later rounds differ by more than 1 %. */
  readonly settled: boolean;
}

export type InstructionCounts =
  | { readonly counted: true; readonly indexed: number; readonly operations: readonly CountedOperation[]; readonly note: string; readonly n: string }
  | { readonly counted: false; readonly why: string };

function has(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { ok: r.status === 0 && r.error === undefined, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** Runs the driver under callgrind (about three minutes) and reads its counts. */
export function countInstructions(): InstructionCounts {
  const valgrind = has("valgrind", ["--version"]);
  if (!valgrind.ok) return { counted: false, why: "valgrind is not installed, so no instruction counts (install valgrind to get them)" };
  // perf stat counts instructions without valgrind's slowdown, but only over a whole
  // process here, where setup and JIT compilation would drown the operations; and many
  // virtual machines do not expose the counter at all. Say which it is; count with callgrind.
  const perf = has("perf", ["stat", "-e", "instructions", "-x", ",", "true"]);
  const perfNote = !perf.ok ? "perf: not installed" : /not supported|not counted/.test(perf.out) ? "perf stat: the instructions counter is not supported on this machine" : "perf stat: the counter works, but cannot bracket phases inside the process";
  const note = `${valgrind.out.trim()}; ${perfNote}; counted with callgrind`;
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
    const operations = plan.phases.map((p, o): CountedOperation => {
      const rounds = Array.from({ length: plan.rounds }, (_, round) => (phase(o, round, 1) - phase(o, round, 0)) / p.n);
      // The first round may still include compilation; of the later ones, the lowest (an
      // interrupt from another thread, served on the main one, only ever adds).
      const later = rounds.slice(1).sort((a, b) => a - b);
      const instructions = later[0] as number;
      return { name: p.name, what: p.what, unit: p.unit, perOp: p.perOp, instructions, rounds, settled: (later[1] as number) <= 1.01 * instructions };
    });
    return { counted: true, indexed: plan.indexed, operations, note, n: plan.phases.map((p) => `${p.n} ${p.name}`).join(", ") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
