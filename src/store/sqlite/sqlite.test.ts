// The SQLite store: the shared contract on a real file and in memory, plus what only
// this implementation promises (WAL, synchronous=FULL, one durable file that other
// connections and other processes can read).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { storeContract } from "../contract.js";
import { SqliteStore } from "./store.js";

const root = resolve(import.meta.dirname, "..", "..", "..");
const dir = mkdtempSync(join(tmpdir(), "standing-sqlite-"));
let n = 0;
const freshPath = (): string => join(dir, `store-${process.pid}-${n++}.db`);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

storeContract("sqlite (temp file)", () => new SqliteStore(freshPath()));
storeContract("sqlite (:memory:)", () => new SqliteStore(":memory:"));

describe("SqliteStore specifics", () => {
  it("given a new file, when the store creates it and writes, then the database and its WAL are readable by their owner only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "standing-mode-"));
    try {
      const path = join(dir, "standing.db");
      const store = new SqliteStore(path);
      await store.transaction((tx) => tx.setMeta("probe", "1"));
      for (const f of [path, `${path}-wal`]) {
        expect(existsSync(f), f).toBe(true);
        expect(statSync(f).mode & 0o777, f).toBe(0o600);
      }
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const open: SqliteStore[] = [];
  const track = (s: SqliteStore): SqliteStore => {
    open.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  const T0 = Date.UTC(2026, 2, 1);

  it("given a file store, when opened, then it runs in WAL mode with synchronous=FULL and foreign keys on", () => {
    const s = track(new SqliteStore(freshPath()));
    const db = s.connectionForTests();
    expect(String(db.pragma("journal_mode", { simple: true })).toLowerCase()).toBe("wal");
    // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
  });

  it("given a path in a directory that does not exist yet, when opened, then the directory is created", async () => {
    const p = join(dir, `nested-${n++}`, "deeper", "standing.db");
    const s = track(new SqliteStore(p));
    await s.transaction((tx) => tx.setMeta("k", "v"));
    expect(await s.getMeta("k")).toBe("v");
  });

  it("given committed data, when the store is closed and reopened, then everything is still there", async () => {
    const p = freshPath();
    const a = new SqliteStore(p);
    const subject = await a.transaction(async (tx) => {
      const id = await tx.createSubject(T0);
      await tx.link(id, { scheme: "national-id", value: "X1" }, T0);
      await tx.appendRecord({
        source: "court", recordId: "r1", subjectId: id, type: "court.judgment.default", occurredAt: T0, receivedAt: T0,
        retracts: null, body: '{"id":"r1"}', hash: "h1",
      });
      await tx.setMeta("active_policy", "p@1");
      return id;
    });
    await a.close();
    await a.close(); // closing twice is harmless
    await expect(a.transaction((tx) => tx.setMeta("k", "v"))).rejects.toThrow(/closed/);

    const b = track(new SqliteStore(p));
    expect(await b.resolve({ scheme: "national-id", value: "X1" })).toBe(subject);
    expect((await b.findRecord("court", "r1"))?.body).toBe('{"id":"r1"}');
    expect(await b.getMeta("active_policy")).toBe("p@1");
    expect(await b.countRecords()).toBe(1);
    // ids keep increasing after a reopen
    expect(await b.transaction((tx) => tx.createSubject(T0))).toBeGreaterThan(subject);
  });

  it("given two connections to one file, when one commits, then the other sees it, and sees nothing of a rolled-back transaction", async () => {
    const p = freshPath();
    const writer = track(new SqliteStore(p));
    const reader = track(new SqliteStore(p));
    await writer.transaction((tx) => tx.setMeta("seen", "yes"));
    expect(await reader.getMeta("seen")).toBe("yes");
    await expect(
      writer.transaction(async (tx) => {
        await tx.setMeta("unseen", "no");
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect(await reader.getMeta("unseen")).toBeUndefined();
  });

  it("given two stores on one file, when one emits, then the other reads the event in its feed, stamped with the first one's origin", async () => {
    const p = freshPath();
    const a = track(new SqliteStore(p));
    const b = track(new SqliteStore(p));
    expect(a.origin).not.toBe(b.origin);
    await a.transaction((tx) => tx.emit({ kind: "subject", ref: "1" }));
    await b.transaction((tx) => tx.emit({ kind: "key", ref: "k" }));
    expect((await b.changesSince(0, 10)).map((c) => [c.ref, c.origin])).toEqual([["1", a.origin], ["k", b.origin]]);
    expect(await a.lastChange()).toBe(await b.lastChange());
  });

  it("given committed data and the store still open, when another process opens the file, then it reads the committed rows", async () => {
    const p = freshPath();
    const s = track(new SqliteStore(p));
    const id = await s.transaction(async (tx) => {
      const sid = await tx.createSubject(T0);
      await tx.link(sid, { scheme: "passport", value: "E1234567" }, T0);
      return sid;
    });
    const script = `
      const Database = require("better-sqlite3");
      const db = new Database(process.argv[1], { readonly: true, fileMustExist: true });
      const row = db.prepare("SELECT subject_id FROM identifiers WHERE scheme = 'passport' AND value = 'E1234567'").get();
      process.stdout.write(JSON.stringify(row ?? null));
    `;
    const r = spawnSync(process.execPath, ["-e", script, p], { cwd: root, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ subject_id: id });
  });

  it("given a file written by a build with another schema version, when opened, then it refuses with a readable error", async () => {
    const p = freshPath();
    await new SqliteStore(p).close();
    const raw = new Database(p);
    raw.prepare("UPDATE meta SET value = '999' WHERE key = 'schema'").run();
    raw.close();
    expect(() => new SqliteStore(p)).toThrow(/schema version 999/);
  });

  it("given an in-memory store, when two are opened, then they are independent", async () => {
    const a = track(new SqliteStore(":memory:"));
    const b = track(new SqliteStore(":memory:"));
    await a.transaction((tx) => tx.setMeta("k", "a"));
    expect(await b.getMeta("k")).toBeUndefined();
  });
});
