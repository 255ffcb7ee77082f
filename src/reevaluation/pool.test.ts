import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generatePopulation } from "../demo/population.js";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { ManualClock } from "../time.js";
import { EvaluationPool } from "./pool.js";

const root = resolve(import.meta.dirname, "../..");
const V1 = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
// A policy change that moves tiers (A starts higher) and restarts every restriction's
// notice (eight days instead of seven, so new notices are due), in force at once.
const V2 = V1.replace(/^version: .*$/m, "version: 2026.2.0")
  .replace("tiers: { AAA: 1050, AA: 1030, A: 1000,", "tiers: { AAA: 1050, AA: 1030, A: 1005,")
  .replaceAll("notice: P7D", "notice: P8D");
const NOW = Date.UTC(2026, 10, 26);
const dir = mkdtempSync(join(tmpdir(), "standing-pool-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loaded(name: string, workers: number): Promise<{ standing: Standing; store: SqliteStore }> {
  // An in-memory store has no page reader: its pages are read by the writing thread and handed over.
  const store = new SqliteStore(name === ":memory:" ? ":memory:" : join(dir, `${name}.db`));
  const standing = new Standing(store, new ManualClock(NOW), { reevaluationWorkers: workers, parallelFrom: 1, reevaluationPage: 40 });
  await standing.publish(V1, "municipal-credit.yaml");
  const { records } = generatePopulation({ subjects: 3000, seed: 11, now: NOW });
  for (let i = 0; i < records.length; i += 500) await standing.ingest(records.slice(i, i + 500));
  return { standing, store };
}

describe("parallel re-evaluation", () => {
  it("given a page that fails in a worker, when the re-evaluation stops, then the publish is refused with the error and the pages behind it do not surface as unhandled rejections", async () => {
    const { standing, store } = await loaded("broken-page", 2);
    try {
      // One stored body no longer parses: the worker reading its page fails.
      store.connectionForTests().prepare("UPDATE records SET body = 'not json' WHERE seq = (SELECT min(seq) FROM records)").run();
      // Through the store's own connection, so journaled; signed as a commit would be, or the next transaction refuses to write.
      store.journalForTests().checkpoint();
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown): void => void unhandled.push(e);
      process.on("unhandledRejection", onUnhandled);
      try {
        await expect(standing.publish(V2, "municipal-credit.yaml")).rejects.toThrow(/re-evaluation worker \d failed/);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
      expect(unhandled).toEqual([]);
    } finally {
      await standing.close();
    }
  });


  it("given a store without a page reader (in memory), when re-evaluated with workers, then the result is the one without workers", async () => {
    const serial = await loaded("serial-memory", 0);
    const parallel = await loaded(":memory:", 2);
    try {
      const a = await serial.standing.publish(V2, "municipal-credit.yaml");
      const b = await parallel.standing.publish(V2, "municipal-credit.yaml");
      expect(a.reevaluated).toBeGreaterThan(300);
      expect(b).toEqual(a);
      for (let id = 1; id <= (await serial.store.countSubjects()); id++) {
        expect((await parallel.store.getState(id))?.state).toEqual((await serial.store.getState(id))?.state);
      }
    } finally {
      await serial.standing.close();
      await parallel.standing.close();
    }
  });

  it("given the same records in two stores, when a policy change is published with and without workers, then every stored state, the index and the counts are the same", async () => {
    expect(V2).not.toBe(V1);
    const serial = await loaded("serial", 0);
    const parallel = await loaded("parallel", 2);
    try {
      const a = await serial.standing.publish(V2, "municipal-credit.yaml");
      const b = await parallel.standing.publish(V2, "municipal-credit.yaml");

      // Enough pages for both workers and for transactions of several pages.
      expect(a.reevaluated).toBeGreaterThan(300);
      expect(b).toEqual(a);
      expect(a.changed.tier).toBeGreaterThan(0);
      let compared = 0;
      let noticed = 0;
      // Notices are built in the workers on one side: the same ones, bar their random ids.
      const notices = async (store: SqliteStore, id: number): Promise<string[]> => (await store.noticesOf(id)).map(({ id: _id, ...n }) => JSON.stringify(n)).sort();
      const subjects = await serial.store.countSubjects();
      for (let id = 1; id <= subjects; id++) {
        const s = await serial.store.getState(id);
        expect(await parallel.store.getState(id)).toEqual(s);
        const ns = await notices(serial.store, id);
        expect(await notices(parallel.store, id)).toEqual(ns);
        noticed += ns.filter((n) => n.includes("municipal-credit@2026.2.0")).length;
        if (s) {
          expect(s.policyRef).toBe("municipal-credit@2026.2.0");
          compared++;
        }
      }
      expect(compared).toBe(a.reevaluated);
      expect(noticed).toBeGreaterThan(0);
      expect(await serial.store.countSubjects()).toBe(await parallel.store.countSubjects());
      expect(parallel.standing.indexedSubjects).toBe(serial.standing.indexedSubjects);
    } finally {
      await serial.standing.close();
      await parallel.standing.close();
    }
  });

  it("given a worker that cannot compile the policy it is sent, when its answer is awaited, then the error comes back instead of a hang", async () => {
    const store = new SqliteStore(join(dir, "broken.db"));
    const standing = new Standing(store, new ManualClock(NOW));
    const pool = new EvaluationPool(1);
    try {
      await standing.publish(V1, "municipal-credit.yaml");
      await standing.ingest(generatePopulation({ subjects: 5, seed: 3, now: NOW }).records);
      const ids = await store.subjectsWithRecords(0, 100);
      expect(ids.length).toBeGreaterThan(0);
      const inputs = await store.evaluationInputs(ids);
      await pool.waitUntilReady();
      await expect(pool.evaluate({ ref: "broken@1", text: "standing: 1\npolicy: [" }, NOW, { inputs })).rejects.toThrow(/re-evaluation worker 0 failed: policy broken@1 does not compile/);
    } finally {
      await pool.close();
      await standing.close();
    }
  });
});
