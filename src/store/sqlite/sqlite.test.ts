// The SQLite store: the shared contract on a real file and in memory, plus what only
// this implementation promises (WAL, synchronous=FULL, one durable file that other
// connections and other processes can read).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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
  const open: SqliteStore[] = [];
  const track = (s: SqliteStore): SqliteStore => {
    open.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  const T0 = Date.UTC(2026, 2, 1);

  it("given a file store, when opened, then it runs in WAL mode with synchronous=FULL and foreign keys on", () => {
    const s = track(new SqliteStore(freshPath()));
    expect(String(s.db.pragma("journal_mode", { simple: true })).toLowerCase()).toBe("wal");
    // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
    expect(s.db.pragma("synchronous", { simple: true })).toBe(2);
    expect(s.db.pragma("foreign_keys", { simple: true })).toBe(1);
  });

  it("given a path in a directory that does not exist yet, when opened, then the directory is created", () => {
    const p = join(dir, `nested-${n++}`, "deeper", "standing.db");
    const s = track(new SqliteStore(p));
    s.setMeta("k", "v");
    expect(s.getMeta("k")).toBe("v");
  });

  it("given committed data, when the store is closed and reopened, then everything is still there", () => {
    const p = freshPath();
    const a = new SqliteStore(p);
    const subject = a.transaction(() => {
      const id = a.createSubject(T0);
      a.link(id, { scheme: "national-id", value: "X1" }, T0);
      a.appendRecord({
        source: "court", recordId: "r1", subjectId: id, type: "court.judgment.default", occurredAt: T0, receivedAt: T0,
        retracts: null, body: '{"id":"r1"}', hash: "h1",
      });
      a.setMeta("active_policy", "p@1");
      return id;
    });
    a.close();
    a.close(); // closing twice is harmless

    const b = track(new SqliteStore(p));
    expect(b.resolve({ scheme: "national-id", value: "X1" })).toBe(subject);
    expect(b.findRecord("court", "r1")?.body).toBe('{"id":"r1"}');
    expect(b.getMeta("active_policy")).toBe("p@1");
    expect(b.countRecords()).toBe(1);
    // ids keep increasing after a reopen
    expect(b.createSubject(T0)).toBeGreaterThan(subject);
  });

  it("given two connections to one file, when one commits, then the other sees it, and sees nothing of a rolled-back transaction", () => {
    const p = freshPath();
    const writer = track(new SqliteStore(p));
    const reader = track(new SqliteStore(p));
    writer.transaction(() => writer.setMeta("seen", "yes"));
    expect(reader.getMeta("seen")).toBe("yes");
    expect(() =>
      writer.transaction(() => {
        writer.setMeta("unseen", "no");
        throw new Error("abort");
      }),
    ).toThrow("abort");
    expect(reader.getMeta("unseen")).toBeUndefined();
  });

  it("given committed data and the store still open, when another process opens the file, then it reads the committed rows", () => {
    const p = freshPath();
    const s = track(new SqliteStore(p));
    const id = s.transaction(() => {
      const sid = s.createSubject(T0);
      s.link(sid, { scheme: "passport", value: "E1234567" }, T0);
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

  it("given a file written by a build with another schema version, when opened, then it refuses with a readable error", () => {
    const p = freshPath();
    new SqliteStore(p).close();
    const raw = new Database(p);
    raw.prepare("UPDATE meta SET value = '999' WHERE key = 'schema'").run();
    raw.close();
    expect(() => new SqliteStore(p)).toThrow(/schema version 999/);
  });

  it("given an in-memory store, when two are opened, then they are independent", () => {
    const a = track(new SqliteStore(":memory:"));
    const b = track(new SqliteStore(":memory:"));
    a.setMeta("k", "a");
    expect(b.getMeta("k")).toBeUndefined();
  });
});
