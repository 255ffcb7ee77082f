// The decision index kept on disk between runs, on a real SQLite store: a start from the
// file answers every check as a start from the store does, also after changes committed
// since the file was written; a file that is altered, signed by another store, too old,
// or ahead of the store is not used, and the start says why.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DecisionIndex } from "./engine/decision-index.js";
import { writeIndexSnapshot } from "./index-snapshot.js";
import type { RecordInput } from "./ingest/input.js";
import { Standing, type IndexLoad } from "./standing.js";
import { SqliteStore } from "./store/sqlite/store.js";
import { tempDir } from "./store/sqlite/test-helpers.js";
import { ManualClock } from "./time.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-11-26T00:00:00Z");
const POLICY = readFileSync(new URL("../policies/municipal-credit.yaml", import.meta.url), "utf8");
const dir = tempDir("standing-snapshot-");
let n = 0;
const open: Standing[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

const nid = (i: number) => ({ scheme: "national-id", value: `S${i}` });
const judgment = (i: number, daysAgo: number): RecordInput => ({ source: "court", id: `j${i}`, type: "court.judgment.default", subject: nid(i), occurredAt: new Date(NOW - daysAgo * DAY).toISOString(), fields: { case: `K-${i}`, amount: 20_000 }, evidence: `court-file://K-${i}` });
const paid = (i: number): RecordInput => ({ source: "court", id: `f${i}`, type: "court.judgment.fulfilled", subject: nid(i), occurredAt: new Date(NOW - DAY).toISOString(), fields: { case: `K-${i}` } });

/** A store with 40 debtors whose bans are in force, and the snapshot file beside it. */
async function debtors(): Promise<{ db: string; file: string; clock: ManualClock; server: Standing }> {
  const db = join(dir, `s-${n++}.db`);
  const file = `${db}.index`;
  const clock = new ManualClock(NOW - 40 * DAY);
  const server = track(new Standing(new SqliteStore(db), clock, { indexSnapshot: file }));
  await server.publish(POLICY, "municipal-credit.yaml");
  await server.ingest(Array.from({ length: 40 }, (_, i) => judgment(i, 60)));
  clock.set(NOW);
  await server.advance(NOW);
  return { db, file, clock, server };
}

const track = (s: Standing): Standing => (open.push(s), s);

/** A snapshot file made by this store's own key, of an empty index, at `position` and `writtenAt`. */
async function signed(db: string, file: string, position: number, writtenAt: number): Promise<void> {
  const store = new SqliteStore(db);
  try {
    await writeIndexSnapshot(file, new DecisionIndex(), position, store.journal, writtenAt);
  } finally {
    await store.close();
  }
}

/** Every subject's answer in two contexts, and one nobody has. */
function answers(s: Standing): string[] {
  const out: string[] = [];
  for (let i = 0; i < 45; i++) {
    for (const context of ["air-travel", "rail-high-speed"]) {
      const { id: _, ...d } = s.check(nid(i), context, NOW);
      out.push(JSON.stringify(d));
    }
  }
  return out;
}

/** A new process on the same file: from the snapshot when it can. */
async function restart(db: string, file: string | undefined): Promise<{ s: Standing; load: IndexLoad }> {
  const s = track(new Standing(new SqliteStore(db), new ManualClock(NOW), file === undefined ? {} : { indexSnapshot: file }));
  await s.start();
  return { s, load: s.indexLoadedFrom };
}

describe("the decision index kept on disk", () => {
  it("given a saved index, when a new process starts, then it loads from the file and answers every check as a start from the store does", async () => {
    const { db, file, server } = await debtors();
    expect(server.indexedSubjects).toBe(40);
    expect(await server.saveIndexSnapshot()).toMatchObject({ file, subjects: 40 });
    await server.close();
    const fromFile = await restart(db, file);
    expect(fromFile.load).toMatchObject({ from: "snapshot", file, changesApplied: 0 });
    const fromStore = await restart(db, undefined);
    expect(fromStore.load).toEqual({ from: "store", snapshot: null });
    expect(answers(fromFile.s)).toEqual(answers(fromStore.s));
    expect(answers(fromFile.s).filter((a) => a.includes('"deny"')).length).toBe(80);
  });

  it("given changes committed after the file was written (debts paid, new debtors), when a new process starts from it, then it applies them and answers as a start from the store", async () => {
    const { db, file, clock, server } = await debtors();
    await server.saveIndexSnapshot();
    await server.ingest([paid(1), paid(2)]);
    clock.set(NOW - 40 * DAY);
    await server.ingest([judgment(41, 60), judgment(42, 60)]);
    clock.set(NOW);
    await server.advance(NOW);
    await server.close();
    const fromFile = await restart(db, file);
    expect(fromFile.load.from).toBe("snapshot");
    expect(fromFile.load.from === "snapshot" && fromFile.load.changesApplied).toBeGreaterThan(0);
    const fromStore = await restart(db, undefined);
    expect(answers(fromFile.s)).toEqual(answers(fromStore.s));
    expect(fromFile.s.check(nid(1), "air-travel", NOW).decision).toBe("allow");
    expect(fromFile.s.check(nid(41), "air-travel", NOW).decision).toBe("deny");
  });

  it("given a database deleted and made anew beside its kept key file and index file, when a new process starts, then the file is refused as another store's", async () => {
    const { db, file, server } = await debtors();
    await server.saveIndexSnapshot();
    await server.close();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${db}${suffix}`, { force: true });
    const clock = new ManualClock(NOW - 40 * DAY);
    const anew = track(new Standing(new SqliteStore(db), clock));
    await anew.publish(POLICY, "municipal-credit.yaml");
    // More changes than the old store had, so that only the journal tells the stores apart.
    await anew.ingest(Array.from({ length: 60 }, (_, i) => judgment(100 + i, 60)));
    clock.set(NOW);
    await anew.advance(NOW);
    await anew.close();
    const { s, load } = await restart(db, file);
    expect(load).toEqual({ from: "store", snapshot: expect.stringMatching(/another store/) as string });
    expect(s.check(nid(1), "air-travel", NOW).decision).toBe("allow");
    expect(s.check(nid(101), "air-travel", NOW).decision).toBe("deny");
  });

  it("given a file altered, signed by another store, too old, or ahead of its store, when a new process starts, then it reads the store instead and says why", async () => {
    const { db, file, server } = await debtors();
    await server.saveIndexSnapshot();
    const good = readFileSync(file);
    const cases: [string, () => Promise<void>, RegExp][] = [
      ["one byte of the index changed", async () => {
        const bad = Buffer.from(good);
        bad[bad.length - 9] = (bad[bad.length - 9] as number) ^ 1;
        writeFileSync(file, bad);
      }, /digest/],
      ["the header's position changed", async () => writeFileSync(file, Buffer.from(good.toString("latin1").replace(/"position":(\d+)/, '"position":1'), "latin1")), /not signed/],
      ["signed by another store's key", async () => {
        const other = await debtors();
        await other.server.saveIndexSnapshot();
        writeFileSync(file, readFileSync(other.file));
      }, /not signed/],
      ["written eight days ago", () => signed(db, file, 0, Date.now() - 8 * DAY), /older/],
      ["at a position the store has not reached", () => signed(db, file, 1_000_000_000, Date.now()), /past the store/],
      ["not a snapshot at all", async () => writeFileSync(file, "hello\n"), /format/],
      ["a header that is JSON but no object", async () => writeFileSync(file, "standing-index-snapshot/1\nnull\n"), /not a JSON object/],
    ];
    await server.close();
    const fromStore = answers((await restart(db, undefined)).s);
    for (const [what, spoil, why] of cases) {
      await spoil();
      const { s, load } = await restart(db, file);
      expect(load.from, what).toBe("store");
      expect(load.from === "store" ? load.snapshot : "", what).toMatch(why);
      expect(answers(s), what).toEqual(fromStore);
    }
  });
});
