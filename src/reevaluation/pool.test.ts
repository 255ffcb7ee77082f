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

function loaded(name: string, workers: number): { standing: Standing; store: SqliteStore } {
  const store = new SqliteStore(join(dir, `${name}.db`));
  const standing = new Standing(store, new ManualClock(NOW), { reevaluationWorkers: workers, parallelFrom: 1, reevaluationPage: 40 });
  standing.publish(V1, "municipal-credit.yaml");
  const { records } = generatePopulation({ subjects: 3000, seed: 11, now: NOW });
  for (let i = 0; i < records.length; i += 500) standing.ingest(records.slice(i, i + 500));
  return { standing, store };
}

describe("parallel re-evaluation", () => {
  it("given the same records in two stores, when a policy change is published with and without workers, then every stored state, the index and the counts are the same", () => {
    expect(V2).not.toBe(V1);
    const serial = loaded("serial", 0);
    const parallel = loaded("parallel", 2);

    const a = serial.standing.publish(V2, "municipal-credit.yaml");
    const b = parallel.standing.publish(V2, "municipal-credit.yaml");

    // Enough pages for both workers and for transactions of several pages.
    expect(a.reevaluated).toBeGreaterThan(300);
    expect(b).toEqual(a);
    expect(a.changed.tier).toBeGreaterThan(0);
    let compared = 0;
    let noticed = 0;
    for (let id = 1; id <= serial.store.countSubjects(); id++) {
      const s = serial.store.getState(id);
      expect(parallel.store.getState(id)).toEqual(s);
      // Notices are built in the workers on one side: the same ones, bar their random ids.
      const notices = (store: SqliteStore) => store.noticesOf(id).map(({ id: _id, ...n }) => JSON.stringify(n)).sort();
      expect(notices(parallel.store)).toEqual(notices(serial.store));
      noticed += notices(serial.store).filter((n) => n.includes("municipal-credit@2026.2.0")).length;
      if (s) {
        expect(s.policyRef).toBe("municipal-credit@2026.2.0");
        compared++;
      }
    }
    expect(compared).toBe(a.reevaluated);
    expect(noticed).toBeGreaterThan(0);
    expect(serial.store.countSubjects()).toBe(parallel.store.countSubjects());
    expect(parallel.standing.index.subjects).toBe(serial.standing.index.subjects);
    serial.store.close();
    parallel.store.close();
  });

  it("given a worker that cannot compile the policy it is sent, when its answer is collected, then the error comes back instead of a hang", () => {
    const pool = new EvaluationPool(1);
    try {
      const ticket = pool.submit({ ref: "broken@1", text: "standing: 1\npolicy: [" }, NOW, join(dir, "none.db"), []);
      expect(() => pool.collect(ticket)).toThrow(/re-evaluation worker 0 failed: policy broken@1 does not compile/);
    } finally {
      pool.close();
    }
  });
});
