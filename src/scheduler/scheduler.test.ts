// The scheduler moves subjects along their own timelines: a measure starts when its
// notice runs out and ends at expiry without anyone touching the subject. The clock
// is a ManualClock; `tick()` is called by hand, except in the timer tests, which use
// a real short sleep. Expected instants are worked out from the seed policy by hand
// (Asia/Shanghai has no DST: P7D is 7×24 h, P2Y lands on the same wall-clock time).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import type { Identifier } from "../store/types.js";
import { ManualClock, type Instant } from "../time.js";
import { Scheduler } from "./scheduler.js";

const root = resolve(import.meta.dirname, "..", "..");
const POLICY_TEXT = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 2, 1); // 2026-03-01T00:00:00Z
const NOTICE = 7 * DAY;
const iso = (t: number): string => new Date(t).toISOString();
const nid = (value: string): Identifier => ({ scheme: "national-id", value });

const dir = mkdtempSync(join(tmpdir(), "standing-scheduler-"));
let fileNo = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stores: SqliteStore[] = [];
const schedulers: Scheduler[] = [];
afterEach(async () => {
  for (const s of schedulers.splice(0)) s.stop();
  for (const s of stores.splice(0)) await s.close();
});

async function setup(): Promise<{ standing: Standing; store: SqliteStore; clock: ManualClock }> {
  const store = new SqliteStore(join(dir, `scheduler-${fileNo++}.db`));
  stores.push(store);
  const clock = new ManualClock(NOW);
  const standing = new Standing(store, clock);
  expect((await standing.publish(POLICY_TEXT, "policies/municipal-credit.yaml")).status).toBe("published");
  return { standing, store, clock };
}

function debt(id: string, who: string, occurredAt: Instant): Record<string, unknown> {
  return {
    source: "court",
    id,
    type: "court.judgment.default",
    subject: nid(who),
    occurredAt: iso(occurredAt),
    fields: { case: `case-${id}`, amount: 12_000 },
    evidence: `case-file://${id}`,
  };
}

function jaywalk(id: string, who: string, occurredAt: Instant): Record<string, unknown> {
  return { source: "traffic-police", id, type: "traffic.jaywalking", subject: nid(who), occurredAt: iso(occurredAt), evidence: `camera://${id}` };
}

function scheduler(standing: Standing, options?: ConstructorParameters<typeof Scheduler>[1]): Scheduler {
  const s = new Scheduler(standing, options);
  schedulers.push(s);
  return s;
}

describe("Scheduler.tick", () => {
  it("given a debtor in the notice period, when the clock passes the notice and then the list's P2Y, then tick() activates the measure and later ends it, and the subject leaves the index", async () => {
    const { standing, store, clock } = await setup();
    expect((await standing.ingest([debt("d1", "N1", NOW)]))[0]?.status).toBe("accepted");
    const subject = (await store.resolve(nid("N1"))) as number;
    const ticks: { at: Instant; advanced: number; policyActivated: string | null }[] = [];
    const s = scheduler(standing, { onTick: (r) => ticks.push(r) });

    const air = async (): Promise<string | undefined> => (await store.getState(subject))?.state.measures.find((m) => m.measure === "no-flights-debtor")?.status;
    expect(await air()).toBe("pending");
    expect((await store.getState(subject))?.nextChangeAt).toBe(NOW + NOTICE);
    expect(standing.indexedSubjects).toBe(1);

    // halfway through the notice: nothing is due
    clock.set(NOW + 3 * DAY);
    expect(await s.tick()).toEqual({ at: NOW + 3 * DAY, advanced: 0, policyActivated: null });
    expect(await air()).toBe("pending");
    expect((await store.getState(subject))?.evaluatedAt).toBe(NOW);

    // notice over: the stored state turns active
    clock.set(NOW + NOTICE + HOUR);
    expect(await s.tick()).toEqual({ at: NOW + NOTICE + HOUR, advanced: 1, policyActivated: null });
    expect(await air()).toBe("active");
    const active = await store.getState(subject);
    expect(active?.evaluatedAt).toBe(NOW + NOTICE + HOUR);
    const twoYears = Date.UTC(2028, 2, 1); // list (P2Y) and points (P2Y) both end here
    expect(active?.nextChangeAt).toBe(twoYears);
    expect(active?.state.measures.map((m) => [m.measure, m.status, m.until])).toEqual([
      ["no-flights-debtor", "active", iso(twoYears)],
      ["no-high-speed-rail-debtor", "active", iso(twoYears)],
      ["no-property-debtor", "active", iso(twoYears)],
    ]);
    expect(standing.check(nid("N1"), "air-travel").decision).toBe("deny");

    // the day before the end: still listed, nothing due
    clock.set(twoYears - DAY);
    expect((await s.tick()).advanced).toBe(0);
    expect(standing.check(nid("N1"), "air-travel").decision).toBe("deny");

    // P2Y after entry: the list ends, the measures go, and so does the index entry
    clock.set(twoYears);
    expect(await s.tick()).toEqual({ at: twoYears, advanced: 1, policyActivated: null });
    const ended = await store.getState(subject);
    expect(ended?.state.lists).toEqual([]);
    expect(ended?.state.measures).toEqual([]);
    expect(ended?.state.score).toBe(1000);
    expect(ended?.nextChangeAt).toBeNull();
    expect(standing.indexedSubjects).toBe(0);
    expect(await store.statesWithMeasures(0, 1_000_000)).toEqual([]);
    // No measure is left for the identifier in any context it was restricted in.
    for (const c of ["air-travel", "rail-high-speed", "property-purchase"]) expect(standing.check(nid("N1"), c)).toMatchObject({ decision: "allow", reasons: [] });

    // nothing left to do
    clock.set(twoYears + 400 * DAY);
    expect((await s.tick()).advanced).toBe(0);
    expect(ticks.map((t) => t.advanced)).toEqual([0, 1, 0, 1, 0]);
  });

  it("given several subjects with changes at different times, when ticking, then each tick reports how many subjects it advanced", async () => {
    const { standing, clock } = await setup();
    await standing.ingest([debt("d1", "A", NOW), debt("d2", "B", NOW - 2 * DAY), jaywalk("j1", "C", NOW - DAY)]);
    const s = scheduler(standing);
    // B's notice ends at +5 d, A's at +7 d; C's jaywalking points last P3M (until 2026-05-28T00:00Z)
    clock.set(NOW + 4 * DAY);
    expect((await s.tick()).advanced).toBe(0);
    clock.set(NOW + 8 * DAY);
    expect((await s.tick()).advanced).toBe(2);
    expect((await s.tick()).advanced).toBe(0); // advancing twice at one instant does nothing more
    clock.set(Date.UTC(2026, 4, 28));
    expect((await s.tick()).advanced).toBe(1);
  });

  it("given more due subjects than one batch (1000), when ticking, then every one is advanced", async () => {
    const { standing, store, clock } = await setup();
    const people = 1111;
    const rs = await standing.ingest(Array.from({ length: people }, (_, i) => debt(`d${i}`, `N${i}`, NOW - (i % 3) * HOUR)));
    expect(rs.every((r) => r.status === "accepted")).toBe(true);
    clock.set(NOW + NOTICE);
    expect((await scheduler(standing).tick()).advanced).toBe(people);
    const ids = await store.subjectsWithRecords(0, 1_000_000);
    const active = [];
    for (const id of ids) if ((await store.getState(id))?.state.measures.every((m) => m.status === "active")) active.push(id);
    expect(active).toHaveLength(people);
    expect(await store.dueSubjects(NOW + NOTICE, 10)).toEqual([]);
  });

  it("given a version scheduled for later, when a tick passes its date, then it reports the version activated", async () => {
    const { standing, store, clock } = await setup();
    await standing.ingest([jaywalk("j1", "C", NOW - DAY)]);
    const v2 = POLICY_TEXT.replace("version: 2026.1.0", "version: 2026.4.0").replace(
      "effective: 2026-01-01T00:00:00+08:00",
      "effective: 2026-04-01T08:00:00+08:00",
    );
    expect((await standing.publish(v2, "v2.yaml")).status).toBe("scheduled");
    const s = scheduler(standing);
    clock.set(Date.UTC(2026, 3, 1) - 1);
    expect((await s.tick()).policyActivated).toBeNull();
    clock.set(Date.UTC(2026, 3, 1));
    expect((await s.tick()).policyActivated).toBe("municipal-credit@2026.4.0");
    expect((await store.getState((await store.resolve(nid("C"))) as number))?.policyRef).toBe("municipal-credit@2026.4.0");
  });
});

describe("Standing.nextWake", () => {
  it("given no states, then there is nothing to wake for; given states, then it reports the earliest change, and a pending version if sooner", async () => {
    const { standing, clock } = await setup();
    expect(await standing.nextWake()).toBeNull();

    await standing.ingest([jaywalk("j1", "C", NOW - DAY)]);
    expect(await standing.nextWake()).toBe(Date.UTC(2026, 4, 28)); // P3M after 2026-02-28T08:00+08:00

    await standing.ingest([debt("d1", "A", NOW)]);
    expect(await standing.nextWake()).toBe(NOW + NOTICE);
    // a debt that occurred two days ago but arrives now gets its full notice from now
    await standing.ingest([debt("d2", "B", NOW - 2 * DAY)]);
    expect(await standing.nextWake()).toBe(NOW + NOTICE);

    const v2 = POLICY_TEXT.replace("version: 2026.1.0", "version: 2026.3.0").replace(
      "effective: 2026-01-01T00:00:00+08:00",
      "effective: 2026-03-03T08:00:00+08:00",
    );
    expect((await standing.publish(v2, "v2.yaml")).status).toBe("scheduled");
    expect(await standing.nextWake()).toBe(NOW + 2 * DAY);

    // once that day has passed and been advanced, the next state change is next again
    clock.set(NOW + 2 * DAY);
    await standing.advance();
    expect(await standing.nextWake()).toBe(NOW + NOTICE);
  });
});

describe("Scheduler timer", () => {
  it("given a due subject, when started with a short maximum sleep, then it ticks by itself until stopped, and not after", async () => {
    const { standing, store, clock } = await setup();
    await standing.ingest([debt("d1", "N1", NOW)]);
    clock.set(NOW + NOTICE + HOUR);
    const ticks: { at: Instant; advanced: number }[] = [];
    const s = scheduler(standing, { maxSleepMs: 10, onTick: (r) => ticks.push(r) });
    s.start();
    s.start(); // starting twice does not start two timers

    const deadline = Date.now() + 5_000;
    while (ticks.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    // the first wake-up was immediate (the subject was due) and advanced it; later ones found nothing
    expect(ticks[0]).toMatchObject({ at: NOW + NOTICE + HOUR, advanced: 1 });
    expect(ticks.slice(1).every((t) => t.advanced === 0)).toBe(true);
    expect((await store.getState((await store.resolve(nid("N1"))) as number))?.state.measures[0]?.status).toBe("active");

    s.stop();
    const seen = ticks.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(ticks.length).toBe(seen);
  });

  it("given a started scheduler that is never stopped, when the rest of the program ends, then the process exits (the timer does not keep it alive)", () => {
    const script = join(dir, `keepalive-${fileNo++}.mts`);
    const src = (p: string): string => pathToFileURL(join(root, "src", p)).href;
    writeFileSync(
      script,
      `import { Standing } from ${JSON.stringify(src("standing.ts"))};
       import { SqliteStore } from ${JSON.stringify(src("store/sqlite/store.ts"))};
       import { Scheduler } from ${JSON.stringify(src("scheduler/scheduler.ts"))};
       import { ManualClock } from ${JSON.stringify(src("time.ts"))};
       const standing = new Standing(new SqliteStore(":memory:"), new ManualClock(${NOW}));
       let ticks = 0;
       // a long sleep: a referenced timer would hold the process for a minute
       new Scheduler(standing, { maxSleepMs: 60_000, onTick: () => ticks++ }).start();
       process.on("exit", () => process.stdout.write("exited after " + ticks + " ticks"));
      `,
    );
    const started = Date.now();
    const r = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: root, encoding: "utf8", timeout: 30_000 });
    expect(r.error).toBeUndefined();
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("exited after 0 ticks");
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
