// Leadership of a one-actor role on a real PostgreSQL database: one contender leads,
// a leader whose session dies stops leading at once and another takes over; and with
// real processes, the scheduler's work (a measure starting, a notice delivered) is done
// by one leader, then by the other after the first is killed with -9.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Standing } from "../standing.js";
import { PgStore } from "../store/postgres/store.js";
import { behindTheBack, dropCreated, dropDatabases, freshDatabase } from "../store/postgres/test-helpers.js";
import type { Identifier } from "../store/types.js";
import { ManualClock } from "../time.js";
import { Leadership } from "./leader.js";
import { clusterSettings } from "./settings.js";

const root = resolve(import.meta.dirname, "..", "..");
const POLICY = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
const DAY = 86_400_000;
const NOTICE = 7 * DAY;
const dir = mkdtempSync(join(tmpdir(), "standing-leader-"));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await dropDatabases();
});
afterAll(async () => {
  await dropCreated();
  rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`still not: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function contender(url: string, role: string): { leadership: Leadership; changes: boolean[] } {
  const leadership = Leadership.of(url, role, { retryMs: 100, onError: () => undefined });
  const changes: boolean[] = [];
  leadership.onChange((l) => changes.push(l));
  leadership.start();
  cleanups.push(() => leadership.stop());
  return { leadership, changes };
}

/** The server process ids holding a leadership lock in a database. */
async function holders(url: string): Promise<number[]> {
  const r = await behindTheBack(url, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", [0x534c]);
  return r.rows.map((x: { pid: number }) => x.pid);
}

describe("Leadership", () => {
  it("given two contenders for one role, when started, then exactly one leads; when its session is ended by the server, then it stops leading and one of them takes the role again", async () => {
    const db = await freshDatabase("leader");
    const a = contender(db.url, "scheduler");
    const b = contender(db.url, "scheduler");
    await until("one leads", () => a.leadership.isLeader || b.leadership.isLeader);
    // Several retry rounds later, still one.
    await new Promise((r) => setTimeout(r, 500));
    expect([a, b].filter((c) => c.leadership.isLeader)).toHaveLength(1);
    const [leader, follower] = a.leadership.isLeader ? [a, b] : [b, a];
    expect(follower.changes).toEqual([]);
    const [pid] = await holders(db.url);
    expect(pid).toBeDefined();

    await behindTheBack(db.url, "SELECT pg_terminate_backend($1)", [pid]);
    await until("the old leader knows it lost", () => leader.changes.length >= 2);
    expect(leader.changes.slice(0, 2)).toEqual([true, false]);
    // The role is free: whichever contender's retry comes first takes it (the old leader
    // too, on a new session), and only one does.
    await until("one leads again", () => a.leadership.isLeader || b.leadership.isLeader);
    await new Promise((r) => setTimeout(r, 500));
    expect([a, b].filter((c) => c.leadership.isLeader)).toHaveLength(1);
    expect(await holders(db.url)).toHaveLength(1);
    // A stopped leader frees the role, and the one left takes it.
    const [now, other] = a.leadership.isLeader ? [a, b] : [b, a];
    const before = other.changes.length;
    await now.leadership.stop();
    await until("the other leads", () => other.leadership.isLeader);
    expect(other.changes.slice(before)).toEqual([true]);
    expect(await holders(db.url)).toHaveLength(1);
  });

  it("given two roles, when two processes contend for both, then each role has its own leader and a stopped leader frees only its role", async () => {
    const db = await freshDatabase("roles");
    const a = contender(db.url, "scheduler");
    const b = contender(db.url, "janitor");
    await until("both lead", () => a.leadership.isLeader && b.leadership.isLeader);
    const c = contender(db.url, "scheduler");
    await new Promise((r) => setTimeout(r, 400));
    expect(c.leadership.isLeader).toBe(false);
    await a.leadership.stop();
    expect(a.leadership.isLeader).toBe(false);
    await until("the waiting scheduler contender leads", () => c.leadership.isLeader);
    expect(b.leadership.isLeader).toBe(true);
  });

  it("given STANDING_LEADER_RETRY_MS, when the settings are read, then it sets the retry interval, 1 s by default, and a bad value is named", () => {
    expect(clusterSettings({}).leaderRetryMs).toBe(1_000);
    expect(clusterSettings({ STANDING_LEADER_RETRY_MS: "250" }).leaderRetryMs).toBe(250);
    expect(() => clusterSettings({ STANDING_LEADER_RETRY_MS: "0" })).toThrow(/STANDING_LEADER_RETRY_MS=0/);
  });

  it("given an embedded store, when asked for leadership, then it is refused naming PostgreSQL", () => {
    expect(() => Leadership.of(`sqlite:${join(dir, "x.db")}`, "scheduler")).toThrow(/PostgreSQL store/);
  });
});

interface Child {
  readonly proc: ChildProcess;
  readonly events: Record<string, unknown>[];
  leader(): boolean;
}

const src = (p: string): string => JSON.stringify(pathToFileURL(join(root, "src", p)).href);

/** A process of the cluster that runs only the scheduler role, reporting on stdout, one JSON line per event. */
function startProcess(url: string, keyFile: string, log: string): Child {
  const script = join(dir, "scheduler-process.mts");
  if (!existsSync(script)) {
    writeFileSync(
      script,
      `import { openStanding } from ${src("standing.ts")};
       import { runSchedulerWhenLeader } from ${src("cluster/roles.ts")};
       import { LogChannel } from ${src("notices/outbox.ts")};
       const emit = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
       const url = process.env.TEST_STORE;
       const s = openStanding({ store: url });
       await s.start();
       runSchedulerWhenLeader(s, url, {
         channels: [new LogChannel(process.env.TEST_NOTICES)],
         retryMs: 200, deliverEveryMs: 200, maxSleepMs: 300,
         onChange: (leader) => emit({ leader }),
         onTick: (r) => { if (r.advanced > 0) emit({ advanced: r.advanced }); },
         onDelivered: (r) => emit(r),
         onError: (e) => emit({ error: String(e) }),
       });
       emit({ started: true });
       setInterval(() => undefined, 1000);
      `,
    );
  }
  const proc = spawn(process.execPath, ["--import", "tsx", script], { cwd: root, env: { ...process.env, TEST_STORE: url, TEST_NOTICES: log, STANDING_JOURNAL_KEY_FILE: keyFile }, stdio: ["ignore", "pipe", "inherit"] });
  const events: Record<string, unknown>[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      events.push({ text: line });
    }
  });
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return {
    proc,
    events,
    leader: () => events.filter((e) => "leader" in e).at(-1)?.leader === true,
  };
}

const acted = (c: Child): Record<string, unknown>[] => c.events.filter((e) => "advanced" in e || "delivered" in e);

describe("the scheduler role across processes", () => {
  it("given two processes on one database, when the leader is killed with -9, then the other takes over and the measure due next starts and its notice goes out once", async () => {
    const db = await freshDatabase("failover");
    const store = new PgStore(db.url, { keyFile: db.keyFile });
    const clock = new ManualClock(Date.now());
    const standing = new Standing(store, clock);
    cleanups.push(() => standing.close());
    expect((await standing.publish(POLICY, "municipal-credit.yaml")).status).toBe("published");
    const log = join(dir, `notices-${Date.now()}.ndjson`);
    const nid = (value: string): Identifier => ({ scheme: "national-id", value });
    const debt = (who: string): Record<string, unknown> => ({ source: "court", id: `d-${who}`, type: "court.judgment.default", subject: nid(who), occurredAt: new Date(clock.now() - DAY).toISOString(), fields: { case: `case-${who}`, amount: 12_000 }, evidence: `case-file://${who}` });
    const status = async (who: string): Promise<string | undefined> => {
      const id = await store.resolve(nid(who));
      return id === undefined ? undefined : (await store.getState(id))?.state.measures.find((m) => m.measure === "no-flights-debtor")?.status;
    };
    const delivered = (): { id: string; subject: number }[] => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string; subject: number }) : []);

    const children = [startProcess(db.url, db.keyFile, log), startProcess(db.url, db.keyFile, log)];
    await until("both started", () => children.every((c) => c.events.some((e) => e.started === true)));
    await until("one leads", () => children.some((c) => c.leader()));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(children.filter((c) => c.leader())).toHaveLength(1);
    const [leader, follower] = (children[0] as Child).leader() ? (children as [Child, Child]) : ([children[1], children[0]] as [Child, Child]);

    // A debt recorded a week ago: its notice is due now, and so is its measure.
    clock.set(Date.now() - NOTICE);
    expect((await standing.ingest([debt("N1")]))[0]?.status).toBe("accepted");
    const n1 = await store.resolve(nid("N1"));
    await until("the leader delivered N1's notice and started its measure", async () => delivered().some((d) => d.subject === n1) && (await status("N1")) === "active");
    // Its report of having done so travels through a pipe: waited for, then the follower's silence is checked.
    await until("the leader reported both", () => acted(leader).some((e) => "advanced" in e) && acted(leader).some((e) => "delivered" in e));
    expect(acted(follower)).toEqual([]);

    leader.proc.kill("SIGKILL");
    await until("the follower leads", () => follower.leader(), 15_000);

    // A debt whose notice runs out two seconds from now: only the new leader can start it.
    clock.set(Date.now() - NOTICE + 2_000);
    expect((await standing.ingest([debt("N2")]))[0]?.status).toBe("accepted");
    expect(await status("N2")).toBe("pending");
    const n2 = await store.resolve(nid("N2"));
    await until("the new leader delivered N2's notice and started its measure", async () => delivered().some((d) => d.subject === n2) && (await status("N2")) === "active");
    await until("the new leader reported both", () => acted(follower).some((e) => "advanced" in e) && acted(follower).some((e) => "delivered" in e));
    // Every notice went out exactly once, whoever delivered it.
    await new Promise((r) => setTimeout(r, 600));
    const ids = delivered().map((d) => d.id);
    expect(ids.length).toBeGreaterThan(1);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(delivered().map((d) => d.subject))).toEqual(new Set([n1, n2]));
    expect((await store.dueOutbox(Date.now(), 100)).length).toBe(0);
  });
});
