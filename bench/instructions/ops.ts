// The hot paths whose instructions per operation `npm run bench:instructions` counts,
// with their fixtures: a decision index of synthetic restricted subjects (the same
// population as the timed bench), a 50/50 stream of restricted and absent identifiers,
// and a few realistic subjects' records for the pure evaluator. Shared by the driver
// that runs under valgrind and by the test that checks the operations answer as the
// plain paths do.
import { readFileSync } from "node:fs";
import { compilePolicy } from "../../src/policy/compile.js";
import type { CompiledPolicy } from "../../src/policy/types.js";
import { evaluate } from "../../src/engine/evaluate.js";
import type { SubjectRecord, SubjectState } from "../../src/engine/types.js";
import { AT, buildIndex, queries, screenBatch, type BuiltIndex } from "../index-bench.js";

const DAY = 86_400_000;

export interface Fixture {
  readonly policy: CompiledPolicy;
  readonly built: BuiltIndex;
  /** The query stream: a power of two long, half restricted subjects, half absent. */
  readonly schemes: string[];
  readonly values: string[];
  /** Realistic subjects' records for the evaluator. */
  readonly subjects: SubjectRecord[][];
}

/** Records for one subject, drawn with the same mix as the durable bench (about ten each). */
function subjectRecords(s: number): SubjectRecord[] {
  const out: SubjectRecord[] = [];
  const count = 6 + (s % 9); // 6..14 records
  for (let j = 0; j < count; j++) {
    const h = ((s * 7919 + j * 104729) * 2654435761) >>> 0;
    const occurredAt = AT - (1 + (h % 300)) * DAY - (h % 86_399_000);
    const id = `s${s}-r${j}`;
    const r = (h % 1000) / 1000;
    // One in four subjects has a court default: about the share that ends up restricted
    // among those who have records at all, and the path that builds measures.
    if (j === 0 && s % 4 === 0) out.push({ source: "court", id, type: "court.judgment.default", occurredAt, fields: { case: `case-${s}`, amount: 10_000 + s } });
    else if (r < 0.45) out.push({ source: "traffic-police", id, type: "traffic.speeding", occurredAt, fields: { "kmh-over": 5 + (j % 30) } });
    else if (r < 0.55) out.push({ source: "traffic-police", id, type: "traffic.red-light", occurredAt, fields: {} });
    else if (r < 0.85) out.push({ source: "volunteer-registry", id, type: "volunteer.service", occurredAt, fields: { hours: 1 + (j % 8) } });
    else out.push({ source: "blood-centre", id, type: "blood.donation", occurredAt, fields: { ml: 200 + 100 * (j % 3) } });
  }
  return out;
}

export function makeFixture(indexed: number, stream: number): Fixture {
  const compiled = compilePolicy(readFileSync(new URL("../../policies/municipal-credit.yaml", import.meta.url), "utf8"), "policies/municipal-credit.yaml");
  if (!compiled.ok) throw new Error("policies/municipal-credit.yaml does not compile");
  const policy = compiled.policy;
  const built = buildIndex(indexed, policy.measures);
  const q = queries(indexed, stream, 0.5, 7);
  const subjects = Array.from({ length: 16 }, (_, s) => subjectRecords(s + 1));
  return { policy, built, schemes: q.schemes, values: q.values, subjects };
}

/** The operations, each run `n` times from the start of its stream; each returns a sum of its answers so nothing is optimised away. */
export interface Operation {
  readonly name: string;
  readonly what: string;
  /** What one operation is, for the per-operation figure (e.g. "call", "batch of 1,024"). */
  readonly unit: string;
  /** Identifiers per operation (screening), to print a per-identifier figure too. */
  readonly perOp: number;
  run(n: number): number;
}

export const SCREEN_BATCH = 1024;

export function operations(f: Fixture): Operation[] {
  const { schemes, values, built, policy, subjects } = f;
  const index = built.index;
  const mask = schemes.length - 1;
  const out = new Uint8Array(SCREEN_BATCH);
  const batches: { s: string[]; v: string[] }[] = [];
  for (let b = 0; b + SCREEN_BATCH <= schemes.length; b += SCREEN_BATCH) batches.push({ s: schemes.slice(b, b + SCREEN_BATCH), v: values.slice(b, b + SCREEN_BATCH) });
  return [
    {
      name: "denies",
      what: "in-process check, deny/allow fast path (DecisionIndex.denies)",
      unit: "call",
      perOp: 1,
      run(n) {
        let sum = 0;
        for (let i = 0; i < n; i++) if (index.denies(schemes[i & mask] as string, values[i & mask] as string, "air-travel", AT)) sum++;
        return sum;
      },
    },
    {
      name: "check",
      what: "in-process check with reasons (DecisionIndex.check → Decision)",
      unit: "call",
      perOp: 1,
      run(n) {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += index.check(schemes[i & mask] as string, values[i & mask] as string, "air-travel", AT, policy.ref).reasons.length;
        return sum;
      },
    },
    {
      name: "screening",
      what: `in-process screening, a batch of ${SCREEN_BATCH.toLocaleString("en")} identifiers (denies over the batch → byte per identifier)`,
      unit: `batch of ${SCREEN_BATCH.toLocaleString("en")}`,
      perOp: SCREEN_BATCH,
      run(n) {
        let sum = 0;
        for (let i = 0; i < n; i++) {
          const b = batches[i % batches.length] as { s: string[]; v: string[] };
          sum += screenBatch(index, b.s, b.v, "air-travel", AT, out);
        }
        return sum;
      },
    },
    {
      name: "evaluate",
      what: "evaluate: the pure evaluator on one subject with 6–14 records (a quarter with a court default)",
      unit: "subject",
      perOp: 1,
      run(n) {
        let sum = 0;
        for (let i = 0; i < n; i++) {
          const st: SubjectState = evaluate(policy, subjects[i % subjects.length] as SubjectRecord[], AT);
          sum += st.score + st.measures.length;
        }
        return sum;
      },
    },
  ];
}
