// The decision log is journaled per batch: one entry per appendDecisions, none per row;
// and a database from before (schema 1, decisions journaled per row) opens, upgrades
// and still verifies, its old rows against their old entries.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { batchEntry, canonicalRow, keyText, sortBatch } from "../../journal/hash.js";
import { replayerOf } from "../../standing.js";
import type { DecisionLogRow } from "../types.js";
import { auditSqliteFile } from "./audit.js";
import { SqliteStore } from "./store.js";
import { behindTheBack, tempDir } from "./test-helpers.js";

const dir = tempDir("standing-batch-");
let n = 0;
const fresh = (): string => join(dir, `b-${n++}.db`);
const open: SqliteStore[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
const auditDatabase = (path: string) => auditSqliteFile(path, { replay: replayerOf() });
const track = (s: SqliteStore): SqliteStore => (open.push(s), s);

const row = (id: string, over: Partial<DecisionLogRow> = {}): DecisionLogRow => ({
  id, at: 1_767_225_600_000, keyId: "k1", askedBy: "checkpoint:Gate", scheme: "national-id", value: "A1", context: "air-travel", decision: "allow", codes: [], ...over,
});
const entries = (s: SqliteStore) => s.connectionForTests().prepare("SELECT seq, kind, tbl, key, row_hash, data FROM journal WHERE tbl = 'decisions' ORDER BY seq").all() as { seq: number; kind: string; tbl: string; key: string | null; row_hash: string; data: string }[];

describe("appendDecisions", () => {
  it("writes one decisions.batch entry per batch, whose row hash anyone can recompute from the rows", async () => {
    const s = track(new SqliteStore(fresh()));
    await s.appendDecisions([row("b"), row("a", { decision: "deny", codes: ["X"] }), row("c")]);
    await s.appendDecisions([row("d")]);
    const es = entries(s);
    expect(es.map((e) => [e.kind, e.key])).toEqual([["decisions.batch", null], ["decisions.batch", null]]);
    expect(s.connectionForTests().prepare("SELECT id, batch FROM decisions ORDER BY id").all()).toEqual([
      { id: "a", batch: es[0]?.seq }, { id: "b", batch: es[0]?.seq }, { id: "c", batch: es[0]?.seq }, { id: "d", batch: es[1]?.seq },
    ]);
    // By hand: each row's canonical JSON (all columns but batch), in key order, one per line.
    const rows = s.connectionForTests().prepare("SELECT id, at, key_id, asked_by, scheme, value, context, decision, codes FROM decisions WHERE batch = ?").safeIntegers(true).all(es[0]?.seq) as Record<string, string | bigint>[];
    const mine = sortBatch(rows.map((r) => ({ key: keyText([r.id as string]), row: canonicalRow(Object.keys(r).sort().flatMap((k) => [k, r[k] as string | bigint])) })));
    expect(batchEntry(mine)).toEqual({ rowHash: es[0]?.row_hash, data: es[0]?.data });
    expect(JSON.parse(es[0]?.data as string).rows.map((r: unknown[]) => r[0])).toEqual([["a"], ["b"], ["c"]]);
    expect((await s.journal.verify({})).problems).toEqual([]);
  });

  it("a row already logged is ignored and left out of the entry; a batch of nothing new writes no entry", async () => {
    const s = track(new SqliteStore(fresh()));
    await s.appendDecisions([row("a")]);
    await s.appendDecisions([row("a"), row("b")]);
    await s.appendDecisions([row("a")]);
    await s.appendDecisions([]);
    const es = entries(s);
    expect(es).toHaveLength(2);
    expect(JSON.parse(es[1]?.data as string).rows.map((r: unknown[]) => r[0])).toEqual([["b"]]);
    expect(await s.countDecisions()).toBe(2);
    expect((await s.journal.verify({})).problems).toEqual([]);
  });

  it("a batch that fails rolls back its rows and its entry together", async () => {
    const s = track(new SqliteStore(fresh()));
    const head = () => s.connectionForTests().prepare("SELECT max(seq) FROM journal").pluck().get();
    const before = head();
    await expect(s.appendDecisions([row("a"), row("b", { at: {} as unknown as number })])).rejects.toThrow();
    expect(await s.countDecisions()).toBe(0);
    expect(head()).toBe(before);
  });

  it("given decision batches, which commit without waiting for the disk, then every other transaction still commits durably, also after a batch that failed", async () => {
    const s = track(new SqliteStore(fresh()));
    const db = s.connectionForTests();
    const level = () => db.pragma("synchronous", { simple: true });
    const FULL = 2;
    expect(level()).toBe(FULL);
    let during: unknown;
    const logged = s.appendDecisions([row("a")]);
    // Another transaction queued behind the batch sees the durable level again.
    await s.transaction(async () => {
      during = level();
    });
    await logged;
    expect(during).toBe(FULL);
    await expect(s.appendDecisions([row("b", { at: {} as unknown as number })])).rejects.toThrow();
    expect(level()).toBe(FULL);
    expect((await s.journal.verify({})).problems).toEqual([]);
  });
});

describe("appendScreening", () => {
  it("given a screening logged compactly, when a line of it is changed behind Standing's back, then verification names the row", async () => {
    const path = fresh();
    const s = track(new SqliteStore(path));
    await s.appendScreenings([{ id: "s1", at: 1_767_225_600_000, keyId: "k1", askedBy: "checkpoint:Gate", context: "air-travel", decisions: Array.from({ length: 100 }, (_, i) => ({ id: `s1-${i}`, scheme: "national-id", value: `P${i}`, decision: "allow" as const, codes: [] })) }]);
    expect((await s.journal.verify({})).problems).toEqual([]);
    // Someone turns a deny into nobody-was-asked: takes a line out of a row.
    behindTheBack(path, (db) => db.prepare("UPDATE screenings SET entries = substr(entries, instr(entries, char(10)) + 1) WHERE id = (SELECT min(id) FROM screenings)").run());
    const problems = (await s.journal.verify({})).problems;
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((p) => p.message).join("\n")).toMatch(/screenings/);
  });
});

describe("a database from schema version 1 (decisions journaled per row)", () => {
  /** Builds what a version-1 Standing left: no batch column, decisions with per-row entries. */
  async function versionOne(): Promise<string> {
    const path = fresh();
    const s = new SqliteStore(path);
    const db = s.connectionForTests();
    db.exec("ALTER TABLE decisions DROP COLUMN batch");
    s.journalForTests().installTriggers(); // decisions now has per-row triggers, as in version 1
    db.prepare("UPDATE meta SET value = '1' WHERE key = 'schema'").run();
    const ins = db.prepare("INSERT INTO decisions (id, at, key_id, asked_by, scheme, value, context, decision, codes) VALUES (?, 1, 'k1', 'x', 'national-id', 'A1', 'air-travel', 'allow', '[]')");
    ins.run("old-1");
    ins.run("old-2");
    s.journalForTests().checkpoint(); // a version-1 Standing signed what it wrote when it closed
    await s.close();
    return path;
  }

  it("opens, adds the batch column, journals the upgrade, logs in batches, and verifies", async () => {
    const path = await versionOne();
    expect(behindTheBack(path, (db) => db.prepare("SELECT count(*) FROM journal WHERE kind = 'decision.logged'").pluck().get())).toBe(2);
    const s = new SqliteStore(path);
    expect(await s.getMeta("schema")).toBe("2");
    await s.appendDecisions([row("new-1")]);
    expect(s.connectionForTests().prepare("SELECT id, batch IS NULL AS legacy FROM decisions ORDER BY id").all()).toEqual([
      { id: "new-1", legacy: 0 }, { id: "old-1", legacy: 1 }, { id: "old-2", legacy: 1 },
    ]);
    await s.close();
    const r = auditDatabase(path);
    expect(r.problems).toEqual([]);
  });

  it("its old rows are still checked against their own entries", async () => {
    const path = await versionOne();
    await new SqliteStore(path).close();
    behindTheBack(path, (db) => {
      db.prepare("UPDATE decisions SET decision = 'deny' WHERE id = 'old-1'").run();
      db.prepare("DELETE FROM decisions WHERE id = 'old-2'").run();
    });
    const r = auditDatabase(path);
    expect(r.problems.map((p) => [p.where, p.message.replace(/^.*: /, "")])).toEqual([
      ["decisions id=old-1", "it was changed outside Standing"],
      ["decisions id=old-2", "it was deleted outside Standing"],
    ]);
  });

  it("audit verify reads it without upgrading it; a version it does not know is refused by name", async () => {
    const path = await versionOne();
    expect(auditDatabase(path).problems).toEqual([]);
    expect(behindTheBack(path, (db) => db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get())).toBe("1");
    behindTheBack(path, (db) => db.prepare("UPDATE meta SET value = '7' WHERE key = 'schema'").run());
    expect(() => new SqliteStore(path)).toThrow(/schema version 7; this build reads versions 1 to 2 \(it was written by a newer Standing\)/);
  });
});
