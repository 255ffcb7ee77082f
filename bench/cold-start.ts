// Cold start of a checkpoint at scale: a SQLite store holding N subjects whose court
// debtor ban is in force (default 1,000,000), and the time `Standing.start()` takes to
// read their states and build the decision index, then to start again from the index
// snapshot that first start wrote, measured at that size.
//
// Seeding through ingest would take hours at this size, so one debtor is ingested and
// evaluated the ordinary way and its stored state is written for every other subject
// (each with an identifier of its own), straight through the store's port. The seeded
// file is kept in bench/.cache/ (git-ignored) and used again by later runs; delete it to
// seed afresh. Usage: tsx bench/cold-start.ts [subjects]
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { Standing } from "../src/standing.js";
import type { StateRow } from "../src/store/types.js";
import { SqliteStore } from "../src/store/sqlite/store.js";
import { ManualClock } from "../src/time.js";
import { NOW, POLICY_FILE } from "./durable.js";
import { log, now } from "./util.js";

const DAY = 86_400_000;
const CACHE = new URL("./.cache/", import.meta.url).pathname;

export interface ColdStart {
  readonly subjects: number;
  readonly indexed: number;
  /** From the store: every state with a measure read and indexed. */
  readonly seconds: number;
  /** From the index snapshot file written by the start above (src/index-snapshot.ts), changes since applied. */
  readonly snapshotSeconds: number;
  readonly snapshotMiB: number;
  readonly snapshotWriteSeconds: number;
  readonly seededSeconds: number | null;
  readonly rssMiB: number;
}

/** The seeded file for `subjects`, made if it is not in the cache yet. */
async function seeded(subjects: number): Promise<{ path: string; seconds: number | null }> {
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, `cold-${subjects}.db`);
  if (existsSync(path)) return { path, seconds: null };
  const t0 = now();
  const building = `${path}.building`;
  for (const f of [building, `${building}-wal`, `${building}-shm`]) rmSync(f, { force: true });
  const store = new SqliteStore(building);
  const clock = new ManualClock(NOW - 40 * DAY);
  const s = new Standing(store, clock, { reevaluationWorkers: 0 });
  await s.publish(readFileSync(POLICY_FILE, "utf8"), "policies/municipal-credit.yaml");
  const judgment = (i: number) => ({ source: "court", id: `cold-${i}`, type: "court.judgment.default", subject: { scheme: "national-id", value: `cold-${String(i).padStart(7, "0")}` }, occurredAt: new Date(NOW - 60 * DAY).toISOString(), fields: { case: `cold-case-${i}`, amount: 20_000 }, evidence: `court-file://cold-${i}` });
  await s.ingest([judgment(1)]);
  clock.set(NOW);
  await s.advance(NOW);
  const template = await store.getState(1);
  if (!template || !template.state.measures.some((m) => m.code === "SPC-DEBTOR" && m.status === "active")) throw new Error("cold start bench: the template debtor has no ban in force");
  const PAGE = 10_000;
  for (let from = 2; from <= subjects; from += PAGE) {
    const n = Math.min(PAGE, subjects - from + 1);
    await store.transaction(async (tx) => {
      const ids = await tx.createSubjects(n, NOW);
      const rows: StateRow[] = [];
      for (let j = 0; j < n; j++) {
        const id = ids[j] as number;
        await tx.link(id, { scheme: "national-id", value: `cold-${String(from + j).padStart(7, "0")}` }, NOW);
        rows.push({ subjectId: id, policyRef: template.policyRef, evaluatedAt: template.evaluatedAt, nextChangeAt: template.nextChangeAt, state: template.state });
      }
      await tx.putStates(rows);
    });
    if ((from - 2) % 100_000 === 0) log(`cold start: seeded ${(from + n - 1).toLocaleString("en")} of ${subjects.toLocaleString("en")}`);
  }
  await s.close();
  for (const suffix of ["", "-wal", "-shm"]) if (existsSync(`${building}${suffix}`)) renameSync(`${building}${suffix}`, `${path}${suffix}`);
  return { path, seconds: (now() - t0) / 1000 };
}

export async function runColdStart(subjects = 1_000_000): Promise<ColdStart> {
  const { path, seconds: seededSeconds } = await seeded(subjects);
  log(`cold start: ${seededSeconds === null ? "the seeded store from the cache" : `seeded in ${seededSeconds.toFixed(0)} s`}; starting a checkpoint over it`);
  const snapshot = `${path}.index`;
  rmSync(snapshot, { force: true });
  const last = { scheme: "national-id", value: `cold-${String(subjects).padStart(7, "0")}` };
  // From the store, as a first start (or one without a usable snapshot) does; then the snapshot is written.
  const s = new Standing(new SqliteStore(path), new ManualClock(NOW), { indexSnapshot: snapshot });
  const t0 = now();
  const indexed = await s.start();
  const seconds = (now() - t0) / 1000;
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  if (s.check(last, "air-travel").decision !== "deny") throw new Error("cold start bench: the last seeded subject is not denied");
  const t1 = now();
  await s.saveIndexSnapshot();
  const snapshotWriteSeconds = (now() - t1) / 1000;
  await s.close();
  log(`cold start: from the store in ${seconds.toFixed(1)} s; snapshot written in ${snapshotWriteSeconds.toFixed(1)} s; starting again from it`);
  const again = new Standing(new SqliteStore(path), new ManualClock(NOW), { indexSnapshot: snapshot });
  const t2 = now();
  const fromSnapshot = await again.start();
  const snapshotSeconds = (now() - t2) / 1000;
  if (again.indexLoadedFrom.from !== "snapshot" || fromSnapshot !== indexed) throw new Error(`cold start bench: the second start did not use the snapshot (${JSON.stringify(again.indexLoadedFrom)})`);
  if (again.check(last, "air-travel").decision !== "deny") throw new Error("cold start bench: the last seeded subject is not denied after the snapshot");
  await again.close();
  const snapshotMiB = statSync(snapshot).size / 2 ** 20;
  rmSync(snapshot, { force: true });
  return { subjects, indexed, seconds, snapshotSeconds, snapshotMiB, snapshotWriteSeconds, seededSeconds, rssMiB };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await runColdStart(Number(process.argv[2] ?? 1_000_000)));
}
