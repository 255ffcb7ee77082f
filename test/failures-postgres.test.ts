// Failures under ingest on PostgreSQL, with real processes: the server's connections
// killed mid-transaction (pg_terminate_backend), and the server process itself killed
// and started again, while a client keeps sending batches and retries what was not
// acknowledged. No acknowledged record is lost; none is stored or accepted twice.
import { createServer, connect, type Server as NetServer, type Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { behindTheBack, dropCreated, freshDatabase } from "../src/store/postgres/test-helpers.js";
import { cli, killServers, publish, serve, unexpectedExits } from "./pg-process.js";

const NOW = Date.parse("2026-11-26T12:00:00Z");
const DAY = 86_400_000;
const iso = (t: number): string => new Date(t).toISOString();

afterAll(async () => {
  killServers();
  await dropCreated();
}, 300_000);

const debt = (id: string, who: string) => ({ source: "court", id, type: "court.judgment.default", subject: { scheme: "national-id", value: who }, occurredAt: iso(NOW - DAY), fields: { case: `K-${id}`, amount: 9000 }, evidence: "file://k" });

describe("ingest through a server on PostgreSQL, under failures", () => {
  it("given connections killed mid-transaction and the server killed and restarted, when the client retries what was not acknowledged, then every record is stored once", async () => {
    const db = await freshDatabase("failures");
    const env = { STANDING_JOURNAL_KEY_FILE: db.keyFile, STANDING_NOW: iso(NOW) };
    expect(publish(db.url, env)).toBe(0);
    const court = { authorization: `Bearer ${(JSON.parse(cli(["keys", "create", "--role", "source", "--source", "court", "--store", db.url, "--json"], env).stdout) as { key: string }).key}`, "content-type": "application/x-ndjson" };

    let server = await serve(db.url, env);
    const total = 600;
    const records = Array.from({ length: total }, (_, i) => debt(`f-${i}`, `P${i % 150}`));
    const acceptedAcks = new Map<string, number>();
    const acknowledged = new Set<string>();
    let failures = 0;
    let killed = 0;
    let stop = false;
    // Kills the server's connections that are inside a statement or a transaction.
    const killer = (async () => {
      while (!stop && killed < 6) {
        const r = await behindTheBack(
          db.url,
          "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'standing' AND state IN ('active', 'idle in transaction')",
        );
        killed += Number(r.rows[0]?.n ?? 0);
        await new Promise((res) => setTimeout(res, Number(r.rows[0]?.n ?? 0) > 0 ? 700 : 20));
      }
    })();
    try {
      for (let i = 0; i < total; i += 50) {
        const batch = records.slice(i, i + 50);
        if (i === total / 2) {
          // The server process dies in the middle of the run, and a new one takes over.
          await server.stop("SIGKILL");
          server = await serve(db.url, env);
        }
        for (let attempt = 0; ; attempt++) {
          expect(attempt).toBeLessThan(200);
          expect(unexpectedExits).toEqual([]);
          let statuses: { status?: string; id?: string; error?: { code?: string } }[] | undefined;
          try {
            const r = await fetch(`${server.base}/v1/records`, { method: "POST", headers: court, body: batch.map((x) => JSON.stringify(x)).join("\n") + "\n", signal: AbortSignal.timeout(60_000) });
            if (r.status === 200) statuses = (await r.text()).trim().split("\n").map((l) => JSON.parse(l) as { status: string; id?: string });
            else {
              const body = (await r.json()) as { error?: { code?: string } };
              expect(r.status, JSON.stringify(body)).toBe(503); // a storage error, never a 500
              expect(body.error?.code).toBe("storage-unavailable");
            }
          } catch (e) {
            // The connection to the server failed: not acknowledged. A request the server
            // holds without answering is a fault of its own, not a failure to retry.
            expect((e as Error).name).not.toBe("TimeoutError");
          }
          if (statuses) {
            // A batch is answered slice by slice: a failure after the first slice ends the
            // answer with one error line, and only the lines answered before it were taken.
            const last = statuses.at(-1);
            const cut = last?.error !== undefined;
            if (cut) expect(last?.error?.code).toBe("storage-unavailable");
            (cut ? statuses.slice(0, -1) : statuses).forEach((s, j) => {
              const id = batch[j]?.id as string;
              expect(["accepted", "duplicate"]).toContain(s.status);
              acknowledged.add(id);
              if (s.status === "accepted") acceptedAcks.set(id, (acceptedAcks.get(id) ?? 0) + 1);
            });
            if (!cut) break;
          }
          failures++;
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    } finally {
      stop = true;
      await killer;
      await server.stop("SIGTERM");
    }
    expect(unexpectedExits).toEqual([]);
    expect(killed).toBeGreaterThan(0);
    expect(failures).toBeGreaterThan(0);
    expect(acknowledged.size).toBe(total);
    expect([...acceptedAcks.values()].every((n) => n === 1)).toBe(true);
    const stored = await behindTheBack(db.url, "SELECT count(*) AS n, count(DISTINCT record_id) AS d FROM records");
    expect(Number(stored.rows[0]?.n)).toBe(total);
    expect(Number(stored.rows[0]?.d)).toBe(total);
    const v = cli(["audit", "verify", "--store", db.url, "--json"], env);
    expect((JSON.parse(v.stdout) as { problems: unknown[] }).problems).toEqual([]);
    expect(v.code).toBe(0);
  }, 480_000);

  it("given a server started while its database cannot be reached, then by default it ends with one line, exit 1, and with STANDING_START_WAIT_MS it serves once the database comes back", async () => {
    const { env, relay } = await behindARelay("start-wait");

    const refused = cli(["serve", "--store", relay.url, "--port", "0"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^standing: error \[storage-unavailable\] cannot reach the PostgreSQL database .*\n$/);

    try {
      // The database comes back only once the server has found it unreachable and said so:
      // on a loaded machine a fixed pause could end before the server had even tried.
      const server = await serve(relay.url, { ...env, STANDING_START_WAIT_MS: "60000" }, 30_000, async (stderr) => {
        const until = Date.now() + 30_000;
        while (!/trying again in \d+ ms/.test(stderr()) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
        await relay.open(0);
      });
      expect(server.stderr()).toMatch(/trying again in \d+ ms/);
      expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
      await server.stop();
    } finally {
      await relay.close();
    }
    expect(unexpectedExits).toEqual([]);
  }, 120_000);

  it("given a server whose first connections are cut while it loads, when started with the default settings, then it tries again and serves", async () => {
    const { env, relay } = await behindARelay("start-cut");
    // The first three connections are cut once the database has sent 2 KB on each: after
    // the sign-in, in the middle of the start-up's queries.
    await relay.open(3);
    try {
      const server = await serve(relay.url, env);
      expect(relay.cut()).toBe(3);
      expect(server.stderr()).toMatch(/trying again in \d+ ms/);
      expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
      await server.stop();
    } finally {
      await relay.close();
    }
    expect(unexpectedExits).toEqual([]);
  }, 120_000);
});

/** A database with the policy published, reached through a relay that is still closed. */
async function behindARelay(label: string): Promise<{ env: Record<string, string>; relay: Awaited<ReturnType<typeof relayTo>> }> {
  const db = await freshDatabase(label);
  const env = { STANDING_JOURNAL_KEY_FILE: db.keyFile, STANDING_NOW: iso(NOW) };
  expect(publish(db.url, env)).toBe(0);
  return { env, relay: await relayTo(db.url) };
}

/**
 * A plain TCP relay to the database's port, on a port of its own that is closed until
 * open() is called; open(n) cuts the first n connections after 2 KB from the database.
 */
async function relayTo(dbUrl: string): Promise<{ url: string; open: (cutFirst: number) => Promise<void>; cut: () => number; close: () => Promise<void> }> {
  const port = await new Promise<number>((res) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const a = probe.address();
      probe.close(() => res(typeof a === "object" && a ? a.port : 0));
    });
  });
  const target = new URL(dbUrl);
  const via = new URL(dbUrl);
  via.port = String(port);
  let server: NetServer | undefined;
  const open = new Set<Socket>();
  let cut = 0;
  return {
    url: via.toString(),
    cut: () => cut,
    open: (cutFirst) =>
      new Promise<void>((res) => {
        let seen = 0;
        server = createServer((inbound) => {
          const outbound = connect(Number(target.port || 5432), target.hostname);
          open.add(inbound).add(outbound);
          const doomed = seen++ < cutFirst;
          let carried = 0;
          inbound.pipe(outbound);
          outbound.on("data", (chunk: Buffer) => {
            carried += chunk.length;
            if (doomed && carried > 2048) {
              cut++;
              inbound.destroy();
              outbound.destroy();
            } else inbound.write(chunk);
          });
          inbound.on("error", () => outbound.destroy());
          outbound.on("error", () => inbound.destroy());
          inbound.on("close", () => outbound.destroy());
        });
        server.listen(port, "127.0.0.1", () => res());
      }),
    // Ends the connections still open too: a server that failed to start, and was not
    // stopped, must not hold the test until its timeout.
    close: () =>
      new Promise<void>((res) => {
        for (const c of open) c.destroy();
        if (server) server.close(() => res());
        else res();
      }),
  };
}
