// The change feed on JetStream, on a real PostgreSQL (a database per test) and a real
// NATS server (a cluster name per test; a nats-server of the test's own where it is
// killed): the relay copies the outbox onto the stream once and in order however many
// run, a node's index follows another process's commits through the stream, a node
// started later misses nothing committed while it loads, and a node that falls behind
// says so (/healthz 503), refuses checks or flags them, and recovers.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { buildServer } from "../api/server.js";
import { openCheckpointNode, startCheckpointNode } from "../cluster/node.js";
import { openCluster, type Cluster } from "../cluster/nats.js";
import { clusterSettings } from "../cluster/settings.js";
import { dropClusters, freshClusterName, startOwnNats, TEST_NATS_URL, type OwnNats } from "../cluster/test-helpers.js";
import { DecisionLog } from "../decision-log.js";
import { Standing, type StalenessBound } from "../standing.js";
import { PgStore } from "../store/postgres/store.js";
import { dropCreated, freshDatabase } from "../store/postgres/test-helpers.js";
import type { ChangeRow, Identifier } from "../store/types.js";
import { ManualClock } from "../time.js";
import { ChangeRelay, JetStreamChangeFeed } from "./jetstream.js";

const root = resolve(import.meta.dirname, "..", "..");
const POLICY_TEXT = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
const DAY = 24 * 3600_000;
const NOW = Date.UTC(2026, 2, 1, 0, 0, 0);
/** After the debtor measure's seven days' notice: a debtor is denied air travel. */
const LATER = NOW + 8 * DAY;
/** How long a test waits for what must happen: far above every interval here, so only what never happens fails. */
const WAIT = { timeout: 15_000, interval: 25 };

const nid = (value: string): Identifier => ({ scheme: "national-id", value });
const debt = (id: string, who: string): Record<string, unknown> => ({
  source: "court",
  id,
  type: "court.judgment.default",
  subject: nid(who),
  occurredAt: new Date(NOW - DAY).toISOString(),
  fields: { case: `C-${id}`, amount: 5000 },
  evidence: `case-file://C-${id}`,
});
const retraction = (id: string, target: string): Record<string, unknown> => ({ source: "court", id, retracts: target, occurredAt: new Date(NOW).toISOString(), reason: "entered in error" });

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch((e: unknown) => console.error("cleanup:", e));
});
afterAll(async () => {
  await dropClusters();
  await dropCreated();
});

/** A store on the database, closed after the test. */
function storeOn(db: { url: string; keyFile: string }): PgStore {
  const store = new PgStore(db.url, { keyFile: db.keyFile, poolSize: 4 });
  closers.push(() => store.close());
  return store;
}

async function clusterOn(natsUrl = TEST_NATS_URL, name = freshClusterName("feed", natsUrl)): Promise<Cluster> {
  const cluster = await openCluster(clusterSettings({ STANDING_NATS_URL: natsUrl, STANDING_CLUSTER: name, STANDING_PARTITIONS: "1" }));
  closers.push(() => cluster.close());
  return cluster;
}

/** A database with the policy published: the writer (a Standing that commits, as a CLI or an evaluator does) and the database. */
async function writerOn(label: string): Promise<{ writer: Standing; db: { url: string; keyFile: string } }> {
  const db = await freshDatabase(label);
  const writer = new Standing(storeOn(db), new ManualClock(NOW));
  expect((await writer.publish(POLICY_TEXT, "municipal-credit.yaml")).status).toBe("published");
  return { writer, db };
}

/** A node: its own store connection, following the JetStream feed of `cluster`. */
function nodeOn(db: { url: string; keyFile: string }, cluster: Cluster, staleness?: StalenessBound): Standing {
  const feed = new JetStreamChangeFeed(cluster);
  const node = new Standing(storeOn(db), new ManualClock(LATER), { feed, feedPollMs: 20, ...(staleness ? { staleness } : {}) });
  closers.push(() => node.close());
  return node;
}

function relayOn(cluster: Cluster, store: PgStore, options: ConstructorParameters<typeof ChangeRelay>[2] = {}): ChangeRelay {
  const relay = new ChangeRelay(cluster, store, { pollMs: 20, heartbeatMs: 100, electMs: 100, ...options });
  closers.push(() => relay.stop());
  return relay;
}

/** Every outbox row the stream holds, in stream order. */
async function streamRows(cluster: Cluster): Promise<ChangeRow[]> {
  const info = await cluster.jsm.streams.info(cluster.names.changesStream);
  const rows: ChangeRow[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await cluster.jsm.streams.getMessage(cluster.names.changesStream, { seq });
    if (m && m.subject === cluster.names.changesSubject) rows.push(...m.json<ChangeRow[]>());
  }
  return rows;
}

const denied = (s: Standing, who: string): boolean => s.check(nid(who), "air-travel", LATER).decision === "deny";

describe("the relay and the JetStream feed", () => {
  it("given a node following the stream, when another process commits, then the node's index has it, and not while no relay runs", async () => {
    const { writer, db } = await writerOn("follow");
    const cluster = await clusterOn();
    const relay = relayOn(cluster, storeOn(db));
    const node = nodeOn(db, cluster);
    await node.follow();
    relay.start();

    expect((await writer.ingest([debt("d1", "N1")]))[0]).toMatchObject({ status: "accepted" });
    await expect.poll(() => denied(node, "N1"), WAIT).toBe(true);

    // Without a relay nothing reaches the node: it reads the stream, not the database.
    await relay.stop();
    expect((await writer.ingest([debt("d2", "N2")]))[0]).toMatchObject({ status: "accepted" });
    await node.catchUp();
    await new Promise((r) => setTimeout(r, 300));
    await node.catchUp();
    expect(denied(node, "N2")).toBe(false);

    const again = relayOn(cluster, storeOn(db));
    again.start();
    await expect.poll(() => denied(node, "N2"), WAIT).toBe(true);
    expect((await writer.ingest([retraction("d1-r", "d1")]))[0]).toMatchObject({ status: "accepted" });
    await expect.poll(() => denied(node, "N1"), WAIT).toBe(false);
    expect(node.feedStatus().eventsApplied).toBeGreaterThanOrEqual(3);
  });

  it("given several relays at once and no election, when commits arrive while they run, then the stream holds every outbox event once, in outbox order", async () => {
    const { writer, db } = await writerOn("many");
    const cluster = await clusterOn();
    const relays = [0, 1, 2].map(() => relayOn(cluster, storeOn(db), { elect: false, batch: 7 }));
    for (const r of relays) r.start();
    for (let i = 0; i < 20; i++) {
      await writer.ingest(Array.from({ length: 10 }, (_, j) => debt(`m${i}-${j}`, `M${i}-${j}`)));
    }
    const outbox = await storeOn(db).changesSince(0, 100_000);
    expect(outbox.length).toBeGreaterThanOrEqual(200);
    const last = (outbox[outbox.length - 1] as ChangeRow).seq;
    await expect.poll(async () => ((await streamRows(cluster)).at(-1)?.seq ?? 0) >= last, WAIT).toBe(true);
    for (const r of relays) await r.stop();
    expect((await streamRows(cluster)).map((r) => r.seq)).toEqual(outbox.map((r) => r.seq));
  });

  it("given a relay overtaken by another (its idea of the stream's end out of date), when it publishes, then the stream refuses it, and it goes on from the stream's end without repeating anything", async () => {
    const { writer, db } = await writerOn("overtaken");
    const cluster = await clusterOn();
    const [a, b] = [relayOn(cluster, storeOn(db), { elect: false }), relayOn(cluster, storeOn(db), { elect: false })] as [ChangeRelay, ChangeRelay];
    const batch = (k: string): Promise<unknown> => writer.ingest(Array.from({ length: 5 }, (_, j) => debt(`${k}-${j}`, `${k.toUpperCase()}-${j}`)));
    await batch("o1");
    await b.round();
    await batch("o2");
    await a.round(); // a publishes what b has not seen on the stream
    await batch("o3");
    await b.round(); // b expected the stream to end where it left it: refused, re-read, went on
    expect(a.published).toBeGreaterThan(0);
    expect(b.published).toBeGreaterThan(1);
    const outbox = await storeOn(db).changesSince(0, 100_000);
    expect((await streamRows(cluster)).map((r) => r.seq)).toEqual(outbox.map((r) => r.seq));
  });

  it("given three relays elected by the database's lease, then one publishes at a time, and when it stops another takes over with nothing lost or repeated", async () => {
    const { writer, db } = await writerOn("elect");
    const cluster = await clusterOn();
    const relays = [0, 1, 2].map(() => relayOn(cluster, storeOn(db)));
    for (const r of relays) r.start();
    await expect.poll(() => relays.filter((r) => r.leader).length, WAIT).toBe(1);
    await new Promise((r) => setTimeout(r, 300)); // several election rounds: still one
    expect(relays.filter((r) => r.leader).length).toBe(1);
    const first = relays.find((r) => r.leader) as ChangeRelay;

    await writer.ingest(Array.from({ length: 20 }, (_, j) => debt(`e1-${j}`, `E1-${j}`)));
    await first.stop();
    await writer.ingest(Array.from({ length: 20 }, (_, j) => debt(`e2-${j}`, `E2-${j}`)));
    await expect.poll(() => relays.filter((r) => r !== first && r.leader).length, WAIT).toBe(1);

    const outbox = await storeOn(db).changesSince(0, 100_000);
    const last = (outbox[outbox.length - 1] as ChangeRow).seq;
    await expect.poll(async () => ((await streamRows(cluster)).at(-1)?.seq ?? 0) >= last, WAIT).toBe(true);
    expect((await streamRows(cluster)).map((r) => r.seq)).toEqual(outbox.map((r) => r.seq));
    expect(relays.filter((r) => r !== first).some((r) => r.published > 0)).toBe(true);
  });

  it("given a node started while another process commits, when it has loaded the snapshot and followed the stream, then it misses nothing committed during the load", async () => {
    const { writer, db } = await writerOn("late");
    const cluster = await clusterOn();
    const relay = relayOn(cluster, storeOn(db));
    relay.start();
    for (let i = 0; i < 10; i++) await writer.ingest(Array.from({ length: 100 }, (_, j) => debt(`a${i}-${j}`, `A${i}-${j}`)));

    // Commits go on, one small batch after another, while the node loads.
    let writing = true;
    let written = 0;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        await writer.ingest([debt(`b${i}`, `B${i}`), retraction(`b${i}-r`, `a${i % 10}-${i % 100}`)]);
        written = i + 1;
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    // The case under test needs commits that land while the node loads. A load can be
    // quicker than one commit on a busy machine, so nodes are started until one's load
    // saw at least one commit finish (almost always the first); that node is the one checked.
    let node: Standing | undefined;
    let position = 0;
    let during = 0;
    for (let attempt = 0; attempt < 10 && during === 0; attempt++) {
      node = nodeOn(db, cluster);
      const before = written;
      await node.start();
      position = node.feedStatus().position;
      during = written - before;
    }
    if (node === undefined) throw new Error("no node was started");
    await node.follow();
    await new Promise((r) => setTimeout(r, 200));
    writing = false;
    await writes;
    expect(during, "commits happened while the node loaded").toBeGreaterThan(0);
    expect(position).toBeGreaterThan(0);

    // The node agrees with a process that loads everything from the database now.
    const end = await storeOn(db).lastChange();
    const loaded = node;
    await expect.poll(() => loaded.feedStatus().position >= end, WAIT).toBe(true);
    const reference = new Standing(storeOn(db), new ManualClock(LATER));
    await reference.start();
    expect(node.indexedSubjects).toBe(reference.indexedSubjects);
    for (let i = 0; i < written; i++) {
      expect(denied(node, `B${i}`), `B${i}`).toBe(denied(reference, `B${i}`));
      const retracted = `A${i % 10}-${i % 100}`;
      expect(denied(node, retracted), retracted).toBe(false);
    }
  });
});

describe("staleness", () => {
  // Well above the heartbeat interval (100 ms here), so that a busy machine does not make a live node stale.
  const BOUND: StalenessBound = { maxMs: 3_000, mode: "refuse" };

  /** A node served over HTTP, with a checkpoint key. */
  async function served(node: Standing): Promise<{ health: () => Promise<{ status: number; body: Record<string, unknown> }>; check: () => Promise<{ status: number; body: Record<string, unknown>; stale: unknown }> }> {
    const log = new DecisionLog(node);
    const app = buildServer(node, { decisionLog: log });
    closers.push(() => app.close().then(() => log.flush()));
    const { key } = await node.createKey({ role: "checkpoint", contexts: ["air-travel"] });
    return {
      health: async () => {
        const r = await app.inject({ method: "GET", url: "/healthz" });
        return { status: r.statusCode, body: r.json() };
      },
      check: async () => {
        const r = await app.inject({ method: "POST", url: "/v1/checks", headers: { authorization: `Bearer ${key}` }, payload: { subject: nid("S1"), context: "air-travel" } });
        return { status: r.statusCode, body: r.json(), stale: r.headers["standing-stale"] };
      },
    };
  }

  let own: OwnNats | undefined;
  afterEach(async () => {
    await own?.dispose();
    own = undefined;
  });

  for (const mode of ["refuse", "serve"] as const) {
    it(`given a node in ${mode} mode whose NATS server is killed, then within the bound /healthz says stale (503), checks are ${mode === "refuse" ? "refused with index-stale" : "answered and flagged"}, and it recovers when NATS is back`, async () => {
      own = await startOwnNats();
      const { writer, db } = await writerOn(`stale${mode}`);
      const name = freshClusterName("stale", own.url);
      const cluster = await clusterOn(own.url, name);
      const relay = relayOn(cluster, storeOn(db));
      relay.start();
      const node = nodeOn(db, cluster, { ...BOUND, mode });
      await node.follow();
      const http = await served(node);

      await expect.poll(async () => (await http.health()).body, WAIT).toMatchObject({ status: "ok", feed: { stale: false, maxStalenessMs: BOUND.maxMs, staleMode: mode } });
      await expect.poll(async () => (await http.check()).status, WAIT).toBe(200);

      await own.kill();
      await expect.poll(async () => (await http.health()).status, WAIT).toBe(503);
      const health = await http.health();
      expect(health.body).toMatchObject({ status: "stale", feed: { stale: true } });
      expect((health.body.feed as { stalenessMs: number }).stalenessMs).toBeGreaterThan(BOUND.maxMs);
      const check = await http.check();
      if (mode === "refuse") {
        expect(check.status).toBe(503);
        expect(check.body).toMatchObject({ error: { code: "index-stale", details: { maxStalenessMs: BOUND.maxMs } } });
        expect(check.body.error).toHaveProperty("message");
      } else {
        expect(check.status).toBe(200);
        // Flagged in the answer and its header, and still signed: it carries a receipt as a current answer does.
        expect(check.body).toMatchObject({ decision: "allow", stale: true, receipt: { format: "standing-receipt/1" } });
        expect(check.stale).toBe("true");
      }

      // NATS back (its streams on its disk): heartbeats resume, the node is current again, and follows.
      await own.start();
      await expect.poll(async () => (await http.health()).status, WAIT).toBe(200);
      await expect.poll(async () => { const c = await http.check(); return [c.status, c.stale]; }, WAIT).toEqual([200, undefined]);
      expect((await writer.ingest([debt("s1", "S1")]))[0]).toMatchObject({ status: "accepted" });
      await expect.poll(() => denied(node, "S1"), WAIT).toBe(true);
    });
  }

  it("given a node whose relay stops (NATS up, nobody copies the outbox), then it reports stale within the bound, and current again once a relay runs", async () => {
    const { db } = await writerOn("norelay");
    const cluster = await clusterOn();
    const relay = relayOn(cluster, storeOn(db));
    relay.start();
    const node = nodeOn(db, cluster, BOUND);
    await node.follow();
    await expect.poll(() => node.feedStatus().stale, WAIT).toBe(false);
    await relay.stop();
    await expect.poll(() => node.feedStatus().stale, WAIT).toBe(true);
    expect(() => node.assertFresh()).toThrow(expect.objectContaining({ code: "index-stale" }));
    relayOn(cluster, storeOn(db)).start();
    await expect.poll(() => node.feedStatus().stale, WAIT).toBe(false);
    expect(node.assertFresh()).toBe(false);
  });

  it("given a single node on its own store with no bound, then nothing is enforced: /healthz is 200 and staleness is reported", async () => {
    const { writer } = await writerOn("single");
    closers.push(() => writer.close());
    await writer.follow();
    const log = new DecisionLog(writer);
    const app = buildServer(writer, { decisionLog: log });
    closers.push(() => app.close());
    const r = await app.inject({ method: "GET", url: "/healthz" });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: "ok", feed: { stale: false, maxStalenessMs: null, staleMode: null } });
    expect(writer.assertFresh()).toBe(false);
    const { key } = await writer.createKey({ role: "admin" });
    const metrics = (await app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${key}` } })).body;
    expect(metrics).toMatch(/^standing_feed_staleness_seconds \d/m);
    expect(metrics).toMatch(/^standing_feed_events_applied_total \d+/m);
  });
});

describe("serve --cluster's node", () => {
  it("given a SQLite store, when a checkpoint node is opened, then it is refused naming PostgreSQL", async () => {
    await expect(openCheckpointNode({ store: "sqlite::memory:" }, clusterSettings({ STANDING_NATS_URL: TEST_NATS_URL }))).rejects.toThrow(/--cluster needs a PostgreSQL store/);
  });

  it("given two checkpoint nodes on one database, when one commits, then the other follows it through the stream, and both stop cleanly", async () => {
    const db = await freshDatabase("nodes");
    const settings = clusterSettings({ STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: freshClusterName("nodes"), STANDING_PARTITIONS: "1" });
    const a = await openCheckpointNode({ store: new PgStore(db.url, { keyFile: db.keyFile, poolSize: 4 }), clock: new ManualClock(NOW) }, settings);
    const b = await openCheckpointNode({ store: new PgStore(db.url, { keyFile: db.keyFile, poolSize: 4 }), clock: new ManualClock(LATER) }, settings);
    closers.push(() => a.cluster.close(), () => b.cluster.close(), () => a.standing.close(), () => b.standing.close());
    expect((await a.standing.publish(POLICY_TEXT, "municipal-credit.yaml")).status).toBe("published");
    const stopA = await startCheckpointNode(a.standing, a.cluster, a.store);
    const stopB = await startCheckpointNode(b.standing, b.cluster, b.store);
    await expect.poll(() => b.standing.activePolicy()?.ref, WAIT).toBe("municipal-credit@2026.1.0");
    expect((await a.standing.ingest([debt("n1", "N1")]))[0]).toMatchObject({ status: "accepted" });
    await expect.poll(() => denied(b.standing, "N1"), WAIT).toBe(true);
    await expect.poll(() => b.standing.feedStatus().stale, WAIT).toBe(false);
    await stopA();
    await stopB();
  });
});
