// Two `standing serve` processes on one PostgreSQL database, as a national deployment
// runs them: real processes, concurrent ingest about overlapping subjects through both,
// no lost update and no duplicate, every state equal to its replay, and each server's
// checks following the other's writes through the change feed.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

const debt = (id: string, who: string, at: number) => ({ source: "court", id, type: "court.judgment.default", subject: { scheme: "national-id", value: who }, occurredAt: iso(at), fields: { case: `K-${id}`, amount: 9000 }, evidence: "file://k" });

describe("two servers on one PostgreSQL database", () => {
  it("given concurrent ingest through both about overlapping subjects, then nothing is lost or doubled, every state replays, and each follows the other's writes", async () => {
    const db = await freshDatabase("two-servers");
    const env = { STANDING_JOURNAL_KEY_FILE: db.keyFile, STANDING_NOW: iso(NOW) };
    const before = { ...env, STANDING_NOW: iso(NOW - 10 * DAY) };
    expect(publish(db.url, before)).toBe(0);
    // Two debtors whose measures are in force by NOW (the notice period has passed).
    const seedFile = join(mkdtempSync(join(tmpdir(), "standing-two-servers-")), "seed.ndjson");
    writeFileSync(seedFile, [debt("seed-1", "D1", NOW - 11 * DAY), debt("seed-2", "D2", NOW - 11 * DAY)].map((x) => JSON.stringify(x)).join("\n") + "\n");
    try {
      expect(cli(["ingest", seedFile, "--store", db.url, "--json"], before).code).toBe(0);
    } finally {
      rmSync(seedFile, { force: true });
    }
    expect(cli(["tick", "--store", db.url, "--json"], env).code).toBe(0);
    const key = (args: string[]): string => (JSON.parse(cli(["keys", "create", ...args, "--store", db.url, "--json"], env).stdout) as { key: string }).key;
    const court = { authorization: `Bearer ${key(["--role", "source", "--source", "court", "--label", "court"])}` };
    const gate = { authorization: `Bearer ${key(["--role", "checkpoint", "--contexts", "air-travel", "--label", "gate"])}` };

    const [a, b] = await Promise.all([serve(db.url, env), serve(db.url, env)]);
    try {
      const check = async (base: string, who: string): Promise<string> => {
        const r = await fetch(`${base}/v1/checks?subject=national-id:${who}&context=air-travel`, { headers: gate });
        expect(r.status).toBe(200);
        return ((await r.json()) as { decision: string }).decision;
      };
      expect(await check(a.base, "D1")).toBe("deny");
      expect(await check(b.base, "D2")).toBe("deny");

      // 300 distinct records about 12 subjects, each sent to both servers, in batches, at once.
      const records = Array.from({ length: 300 }, (_, i) => debt(`r-${i}`, `S${i % 12}`, NOW - DAY - i * 1000));
      const post = async (base: string, batch: unknown[]): Promise<string[]> => {
        const r = await fetch(`${base}/v1/records`, { method: "POST", headers: { ...court, "content-type": "application/x-ndjson" }, body: batch.map((x) => JSON.stringify(x)).join("\n") + "\n" });
        expect(r.status).toBe(200);
        return (await r.text()).trim().split("\n").map((l) => (JSON.parse(l) as { status: string }).status);
      };
      const batches: Promise<string[]>[] = [];
      for (let i = 0; i < records.length; i += 25) {
        const slice = records.slice(i, i + 25);
        batches.push(post(a.base, slice), post(b.base, [...slice].reverse()));
      }
      const statuses = (await Promise.all(batches)).flat();
      expect(statuses).toHaveLength(600);
      expect(statuses.filter((s) => s === "accepted")).toHaveLength(300);
      expect(statuses.filter((s) => s === "duplicate")).toHaveLength(300);
      const stored = await behindTheBack(db.url, "SELECT count(*) AS n, count(DISTINCT (source, record_id)) AS d FROM records");
      expect(Number(stored.rows[0]?.n)).toBe(302);
      expect(Number(stored.rows[0]?.d)).toBe(302);

      // A retraction through one server lifts the measure on the other within the feed's bound.
      const retract = async (base: string, id: string): Promise<void> => {
        const r = await fetch(`${base}/v1/records`, { method: "POST", headers: { ...court, "content-type": "application/json" }, body: JSON.stringify({ source: "court", id: `${id}-x`, retracts: id, occurredAt: iso(NOW), reason: "paid" }) });
        expect(r.status).toBe(201);
      };
      const follows = async (base: string, who: string): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while ((await check(base, who)) !== "allow") {
          if (Date.now() > deadline) throw new Error(`${base} still denies ${who}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await retract(a.base, "seed-1");
      await follows(b.base, "D1");
      await retract(b.base, "seed-2");
      await follows(a.base, "D2");
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(unexpectedExits).toEqual([]);
    const v = cli(["audit", "verify", "--store", db.url, "--json"], env);
    const report = JSON.parse(v.stdout) as { ok: boolean; problems: unknown[]; states: { checked: number } };
    expect(report.problems).toEqual([]);
    expect(v.code).toBe(0);
    expect(report.states.checked).toBe(14);
  }, 180_000);
});
