// Durable figures through the real shell: Standing over a SQLite file (WAL,
// synchronous=FULL, journal triggers on), ingesting records in batches of 1000 and
// re-evaluating every subject after a policy change.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Standing, defaultWorkerCount } from "../src/standing.js";
import { EvaluationPool } from "../src/reevaluation/pool.js";
import { SqliteStore } from "../src/store/sqlite/store.js";
import type { Store } from "../src/store/types.js";
import { ManualClock } from "../src/time.js";
import { normaliseRecord, type RecordInput } from "../src/ingest/input.js";
import { log, now, rng } from "./util.js";

export const NOW = Date.parse("2026-11-26T00:00:00Z");
const DAY = 86_400_000;
export const POLICY_FILE = new URL("../policies/municipal-credit.yaml", import.meta.url);

/**
 * `records` records spread over `subjects` subjects (10 per subject on average), in
 * arrival order (subjects interleaved). ~0.1% of records are court defaults, so about
 * 1% of subjects end up restricted, the ratio of 15 M in 1.4 bn.
 */
export function* syntheticRecords(subjects: number, records: number, seed: number, prefix = "b"): Generator<RecordInput> {
  const rand = rng(seed);
  for (let j = 0; j < records; j++) {
    const s = 1 + Math.floor(rand() * subjects);
    const subject = { scheme: "national-id", value: `demo-${String(s).padStart(9, "0")}` };
    const occurredAt = new Date(NOW - (1 + Math.floor(rand() * 300)) * DAY + Math.floor(rand() * DAY)).toISOString();
    const id = `${prefix}${j}`;
    const r = rand();
    if (r < 0.001) {
      yield { source: "court", id, type: "court.judgment.default", subject, occurredAt, fields: { case: `case-${j}`, amount: 10_000 + j }, evidence: `court-file://case-${j}` };
    } else if (r < 0.0015) {
      yield { source: "airline", id, type: "aviation.onboard-misconduct", subject, occurredAt, fields: { flight: "DM101" }, evidence: `incident://${j}` };
    } else if (r < 0.45) {
      yield { source: "traffic-police", id, type: "traffic.speeding", subject, occurredAt, fields: { "kmh-over": 5 + (j % 30) }, evidence: `camera://${j}` };
    } else if (r < 0.55) {
      yield { source: "traffic-police", id, type: "traffic.red-light", subject, occurredAt, evidence: `camera://${j}` };
    } else if (r < 0.85) {
      yield { source: "volunteer-registry", id, type: "volunteer.service", subject, occurredAt, fields: { hours: 1 + (j % 8) } };
    } else {
      yield { source: "blood-centre", id, type: "blood.donation", subject, occurredAt, fields: { ml: 200 + 100 * (j % 3) } };
    }
  }
}

export interface DurableResult {
  readonly subjects: number;
  readonly records: number;
  readonly ingestSeconds: number;
  readonly ingestPerSecond: number;
  readonly accepted: number;
  readonly reevalSubjects: number;
  readonly reevalSeconds: number;
  readonly reevalSubjectsPerSecond: number;
  /** CPU time of this process (all its threads) during the re-evaluation. */
  readonly reevalCpuSeconds: number;
  readonly dbBytes: number;
  readonly indexed: number;
  readonly buildIndexSeconds: number;
}

export interface DurableOptions {
  /** The store to run on (default: a new SQLite file in a temp folder). */
  readonly makeStore?: (dir: string) => Promise<Store>;
  /** Runs the re-evaluation inside this wrapper (bench/profile.ts profiles it). */
  readonly aroundReevaluation?: (work: () => Promise<void>) => Promise<void>;
}

export async function runDurable(subjects: number, records: number, budgetSeconds: number, options: DurableOptions = {}): Promise<DurableResult> {
  const dir = mkdtempSync(join(tmpdir(), "standing-bench-"));
  try {
    const path = join(dir, "bench.db");
    const store = options.makeStore ? await options.makeStore(dir) : new SqliteStore(path);
    const clock = new ManualClock(NOW);
    const standing = new Standing(store, clock);
    const policyText = readFileSync(POLICY_FILE, "utf8");
    await standing.publish(policyText, "policies/municipal-credit.yaml");
    const BATCH = 1000;
    let batch: RecordInput[] = [];
    let accepted = 0;
    let done = 0;
    const t0 = now();
    let stopped = false;
    for (const r of syntheticRecords(subjects, records, 42)) {
      batch.push(r);
      if (batch.length === BATCH) {
        for (const res of await standing.ingest(batch)) if (res.status === "accepted") accepted++;
        else if (res.status === "rejected") throw new Error(`bench record rejected: ${JSON.stringify(res)}`);
        done += batch.length;
        batch = [];
        if ((now() - t0) / 1000 > budgetSeconds) {
          stopped = true;
          break;
        }
      }
    }
    if (!stopped && batch.length > 0) {
      for (const res of await standing.ingest(batch)) if (res.status === "accepted") accepted++;
      done += batch.length;
    }
    const ingestSeconds = (now() - t0) / 1000;
    log(`ingest: ${done} records in ${ingestSeconds.toFixed(1)} s${stopped ? " (stopped at the time budget)" : ""}`);

    // A policy change: re-evaluate every subject with records.
    let re = { reevaluated: 0 };
    let reevalSeconds = 0;
    let reevalCpuSeconds = 0;
    await (options.aroundReevaluation ?? ((work) => work()))(async () => {
      const t1 = now();
      const c1 = process.cpuUsage();
      re = await standing.reevaluateAll(NOW + 3_600_000);
      reevalSeconds = (now() - t1) / 1000;
      const c = process.cpuUsage(c1);
      reevalCpuSeconds = (c.user + c.system) / 1e6;
    });
    log(`re-evaluation: ${re.reevaluated} subjects in ${reevalSeconds.toFixed(1)} s`);

    // Cold start through the store (states → decision index).
    const fresh = new Standing(store, clock);
    const t2 = now();
    const indexed = await fresh.start();
    const buildIndexSeconds = (now() - t2) / 1000;
    await store.close();
    let dbBytes = 0;
    for (const f of ["bench.db", "bench.db-wal"]) {
      try {
        dbBytes += statSync(join(dir, f)).size;
      } catch {
        /* absent */
      }
    }
    return {
      subjects: re.reevaluated,
      records: done,
      ingestSeconds,
      ingestPerSecond: done / ingestSeconds,
      accepted,
      reevalSubjects: re.reevaluated,
      reevalSeconds,
      reevalSubjectsPerSecond: re.reevaluated / reevalSeconds,
      reevalCpuSeconds,
      dbBytes,
      indexed,
      buildIndexSeconds,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ReevaluationResult {
  readonly subjects: number;
  readonly records: number;
  readonly seedSeconds: number;
  readonly firstSeconds: number;
  readonly serialSeconds: number;
  readonly parallelSeconds: number;
  readonly workers: number;
  /** Starting the worker pool, paid once per re-evaluation (included in parallelSeconds). */
  readonly workerStartSeconds: number;
  readonly serialPerSecond: number;
  readonly parallelPerSecond: number;
  /** Subjects with a measure, indexed at a cold start from this store, and how long that took. */
  readonly indexed: number;
  readonly buildIndexSeconds: number;
}

/**
 * Full re-evaluation at a scale ingest would take too long to build in the bench: the
 * records are written straight into the store (real SQLite, journal on, the same
 * bodies and hashes ingest stores), every subject is evaluated once, and then two
 * policy changes are published: one re-evaluated on the calling thread, one with
 * worker threads.
 */
export async function runReevaluation(subjects: number, recordsPerSubject = 10): Promise<ReevaluationResult> {
  const dir = mkdtempSync(join(tmpdir(), "standing-bench-reeval-"));
  try {
    const store = new SqliteStore(join(dir, "reeval.db"));
    const clock = new ManualClock(NOW);
    const serial = new Standing(store, clock, { reevaluationWorkers: 0 });
    const v1 = readFileSync(POLICY_FILE, "utf8");
    await serial.publish(v1, "policies/municipal-credit.yaml"); // no records yet: nothing to evaluate
    const records = subjects * recordsPerSubject;
    const t0 = now();
    let batch: RecordInput[] = [];
    const write = async (): Promise<void> => {
      await store.transaction(async (tx) => {
        for (const input of batch) {
          const r = normaliseRecord(input);
          const subject = r.subject as { scheme: string; value: string };
          let id = await tx.resolve(subject);
          if (id === undefined) {
            id = await tx.createSubject(NOW);
            await tx.link(id, subject, NOW);
          }
          await tx.appendRecord({ source: r.source, recordId: r.id, subjectId: id, type: r.type as string, occurredAt: r.occurredAt, receivedAt: NOW, retracts: null, body: r.body, hash: r.hash });
        }
      });
      batch = [];
    };
    for (const r of syntheticRecords(subjects, records, 7, "r")) {
      batch.push(r);
      if (batch.length === 10_000) await write();
    }
    await write();
    const seedSeconds = (now() - t0) / 1000;
    log(`re-evaluation: seeded ${records.toLocaleString("en")} records in ${seedSeconds.toFixed(1)} s; first evaluation of everyone`);
    const parallel = new Standing(store, clock);
    const timed = async (f: () => Promise<number>): Promise<{ n: number; seconds: number }> => {
      const t = now();
      const n = await f();
      return { n, seconds: (now() - t) / 1000 };
    };
    const first = await timed(async () => (await parallel.reevaluateAll(NOW + 3_600_000)).reevaluated);
    // Two policy changes that move tiers, each in force at once.
    const version = (v: string, a: number): string => v1.replace(/^version: .*$/m, `version: ${v}`).replace("A: 1000,", `A: ${a},`);
    const s = await timed(async () => (await new Standing(store, clock, { reevaluationWorkers: 0 }).publish(version("2026.2.0", 1005), "v2.yaml")).reevaluated);
    log(`re-evaluation: ${s.n.toLocaleString("en")} subjects on the calling thread in ${s.seconds.toFixed(1)} s`);
    // At least two, so the parallel path is measured even where it is not the default.
    const workers = Math.max(2, defaultWorkerCount());
    // Starting the workers (loading the code, from TypeScript here; compiling the policy)
    // is paid once per re-evaluation, whatever its size: measured apart, so that the 1 M
    // figure is extrapolated from the per-subject part only.
    const start = await timed(async () => {
      const pool = new EvaluationPool(workers);
      try {
        const text = version("2026.9.0", 1000);
        await pool.waitUntilReady();
        // An empty page on each worker in turn: each compiles the policy once, and opens the
        // store's page reader (loading its module and a connection) as a re-evaluation's first page would.
        const reader = await store.transaction(async (tx) => tx.pageReader());
        const page = reader ? { reader, ids: [] } : { inputs: [] };
        await Promise.all(Array.from({ length: workers }, () => pool.evaluate({ ref: "warm-up@1", text }, NOW, page)));
      } finally {
        await pool.close();
      }
      return workers;
    });
    const p = await timed(async () => (await new Standing(store, clock, { reevaluationWorkers: workers, parallelFrom: 1 }).publish(version("2026.3.0", 1002), "v3.yaml")).reevaluated);
    log(`re-evaluation: ${p.n.toLocaleString("en")} subjects with ${workers} worker threads in ${p.seconds.toFixed(1)} s`);
    // Cold start of a server over this store: read the states that carry measures, build the index.
    const cold = await timed(() => new Standing(store, clock).start());
    await store.close();
    return {
      subjects: s.n,
      records,
      seedSeconds,
      firstSeconds: first.seconds,
      serialSeconds: s.seconds,
      parallelSeconds: p.seconds,
      workers,
      workerStartSeconds: start.seconds,
      serialPerSecond: s.n / s.seconds,
      parallelPerSecond: p.n / p.seconds,
      indexed: cold.n,
      buildIndexSeconds: cold.seconds,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
