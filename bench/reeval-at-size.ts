// Full re-evaluation measured at the size the budget names (1 M subjects / 10 M records by
// default), not extrapolated from a small store.
//
// Seeding that store through ingest would take hours here, so it is written straight
// through the store's port (real SQLite, journal triggers on, the same record bodies and
// hashes ingest stores, subjects interleaved as records arrive), then every subject is
// evaluated once under the example policy, as a store that has been running holds a state
// for each. That takes a while once: the file is kept in bench/.cache/ (git-ignored) under
// a name that changes with the schema and the seed, and used again by later runs; delete it
// to seed afresh. Each run copies it (a re-evaluation rewrites every state and journals it,
// so the cached file stays as seeded) and times one policy change over the copy, with the
// worker threads a server would use.
// Usage: node --import tsx bench/reeval-at-size.ts [subjects]
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { Standing, defaultWorkerCount } from "../src/standing.js";
import { normaliseRecord } from "../src/ingest/input.js";
import type { Identifier, LinkedIdentifier, NewRecord, SubjectId } from "../src/store/types.js";
import { SqliteStore } from "../src/store/sqlite/store.js";
import { ddl as schemaDdl } from "../src/store/sqlite/schema.js";
import { ManualClock } from "../src/time.js";
import { NOW, POLICY_FILE, syntheticRecords } from "./durable.js";
import { log, now } from "./util.js";

const CACHE = new URL("./.cache/", import.meta.url).pathname;
const RECORDS_PER_SUBJECT = 10;
const SEED = 11;
const TX_RECORDS = 20_000;

export interface ReevaluationAtSize {
  readonly subjects: number;
  readonly records: number;
  readonly reevaluated: number;
  readonly seconds: number;
  readonly subjectsPerSecond: number;
  readonly workers: number;
  /** CPU time of this process (all its threads) during the re-evaluation. */
  readonly cpuSeconds: number;
  readonly dbGiB: number;
  /** Null when the seeded store came from the cache. */
  readonly seededSeconds: number | null;
  readonly copySeconds: number;
}

const keyFile = (db: string): string => `${db}.journal-key.pem`;
const files = (db: string): string[] => [db, `${db}-wal`, `${db}-shm`, keyFile(db)];

/** The seeded file for `subjects`, made if it is not in the cache yet. */
async function seeded(subjects: number): Promise<{ path: string; seconds: number | null }> {
  mkdirSync(CACHE, { recursive: true });
  const policyText = readFileSync(POLICY_FILE, "utf8");
  // A schema or seed change makes a new name, so a stale file is never measured.
  const tag = createHash("sha256").update(`${schemaDdl}\n${policyText}\n${SEED}/${RECORDS_PER_SUBJECT}/${syntheticRecords.toString()}`).digest("hex").slice(0, 12);
  const path = join(CACHE, `reeval-${subjects}-${tag}.db`);
  if (existsSync(path)) return { path, seconds: null };
  const t0 = now();
  const building = `${path}.building`;
  for (const f of files(building)) rmSync(f, { force: true });
  const store = new SqliteStore(building);
  const clock = new ManualClock(NOW);
  await new Standing(store, clock, { reevaluationWorkers: 0 }).publish(policyText, "policies/municipal-credit.yaml");
  const records = subjects * RECORDS_PER_SUBJECT;
  const ids = new Map<string, SubjectId>();
  let pending: { rec: Omit<NewRecord, "subjectId">; subject: Identifier }[] = [];
  let done = 0;
  const write = async (): Promise<void> => {
    await store.transaction(async (tx) => {
      const fresh: Identifier[] = [];
      const seen = new Set<string>();
      for (const p of pending) {
        const k = p.subject.value;
        if (!ids.has(k) && !seen.has(k)) {
          seen.add(k);
          fresh.push(p.subject);
        }
      }
      if (fresh.length > 0) {
        const created = await tx.createSubjects(fresh.length, NOW);
        const links: LinkedIdentifier[] = fresh.map((s, i) => ({ scheme: s.scheme, value: s.value, subjectId: created[i] as SubjectId }));
        await tx.linkAll(links, NOW);
        for (const l of links) ids.set(l.value, l.subjectId);
      }
      const batch: NewRecord[] = pending.map((p) => ({ ...p.rec, subjectId: ids.get(p.subject.value) as SubjectId }));
      await tx.appendRecords(batch);
    });
    done += pending.length;
    pending = [];
    if (done % 1_000_000 === 0) log(`re-evaluation at size: seeded ${done.toLocaleString("en")} of ${records.toLocaleString("en")} records`);
  };
  for (const input of syntheticRecords(subjects, records, SEED, "z")) {
    const r = normaliseRecord(input);
    pending.push({ rec: { source: r.source, recordId: r.id, type: r.type as string, occurredAt: r.occurredAt, receivedAt: NOW, retracts: null, body: r.body, hash: r.hash }, subject: r.subject as Identifier });
    if (pending.length === TX_RECORDS) await write();
  }
  if (pending.length > 0) await write();
  log(`re-evaluation at size: ${records.toLocaleString("en")} records seeded in ${((now() - t0) / 1000).toFixed(0)} s; evaluating every subject once`);
  // Every subject evaluated once, so that the timed run compares with a stored state as a running store's would.
  await new Standing(store, clock).reevaluateAll(NOW + 1_800_000);
  await store.close();
  for (const suffix of ["", "-wal", "-shm", ".journal-key.pem"]) if (existsSync(`${building}${suffix}`)) renameSync(`${building}${suffix}`, `${path}${suffix}`);
  return { path, seconds: (now() - t0) / 1000 };
}

export async function runReevaluationAtSize(subjects = 1_000_000): Promise<ReevaluationAtSize> {
  const { path, seconds: seededSeconds } = await seeded(subjects);
  log(`re-evaluation at size: ${seededSeconds === null ? "the seeded store from the cache" : `seeded and evaluated once in ${seededSeconds.toFixed(0)} s`}; copying it`);
  const dir = mkdtempSync(join(CACHE, "reeval-run-"));
  try {
    const db = join(dir, "reeval.db");
    const t0 = now();
    copyFileSync(path, db);
    if (existsSync(keyFile(path))) copyFileSync(keyFile(path), keyFile(db));
    const copySeconds = (now() - t0) / 1000;
    const dbGiB = statSync(db).size / 2 ** 30;
    const store = new SqliteStore(db);
    const clock = new ManualClock(NOW);
    const workers = Math.max(2, defaultWorkerCount());
    const v1 = readFileSync(POLICY_FILE, "utf8");
    // A policy change that moves tiers, in force at once: every subject is re-evaluated.
    const changed = v1.replace(/^version: .*$/m, "version: 2026.7.0").replace("A: 1000,", "A: 1004,");
    const standing = new Standing(store, clock, { reevaluationWorkers: workers, parallelFrom: 1 });
    log(`re-evaluation at size: ${subjects.toLocaleString("en")} subjects (${dbGiB.toFixed(1)} GiB), a policy change with ${workers} worker threads`);
    const c0 = process.cpuUsage();
    const t1 = now();
    const { reevaluated } = await standing.publish(changed, "changed.yaml");
    const seconds = (now() - t1) / 1000;
    const c = process.cpuUsage(c0);
    await store.close();
    if (reevaluated !== subjects) log(`re-evaluation at size: ${reevaluated.toLocaleString("en")} subjects have records (of ${subjects.toLocaleString("en")} drawn)`);
    log(`re-evaluation at size: ${reevaluated.toLocaleString("en")} subjects in ${seconds.toFixed(1)} s`);
    return { subjects, records: subjects * RECORDS_PER_SUBJECT, reevaluated, seconds, subjectsPerSecond: reevaluated / seconds, workers, cpuSeconds: (c.user + c.system) / 1e6, dbGiB, seededSeconds, copySeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await runReevaluationAtSize(Number(process.argv[2] ?? 1_000_000)));
}
