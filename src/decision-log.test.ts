import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DecisionLog } from "./decision-log.js";
import { SqliteStore } from "./store/sqlite/store.js";
import type { DecisionLogRow } from "./store/types.js";

const dir = mkdtempSync(join(tmpdir(), "standing-dlog-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const row = (i: number): DecisionLogRow => ({ id: `d-${String(i).padStart(6, "0")}`, at: Date.UTC(2026, 10, 26) + i, keyId: "k1", askedBy: "checkpoint", scheme: "national-id", value: `N${i}`, context: "air-travel", decision: "allow", codes: [] });

describe("decision log when writes fail", () => {
  it("given a store that can no longer be written, when checks keep coming, then entries are kept up to ten buffers, the rest counted as dropped, and a later write keeps what was kept", () => {
    const store = new SqliteStore(join(dir, "a.db"));
    const log = new DecisionLog(store, { maxBuffer: 3, flushMs: 60_000 });
    store.close(); // every write now throws
    for (let i = 0; i < 40; i++) log.add(row(i));
    // The first full buffer tried and failed; later adds wait for the retry instead of writing each time.
    expect(log.pending).toBe(40);
    expect(log.droppedEntries).toBe(0);
    log.flush();
    expect(log.pending).toBe(30);
    expect(log.droppedEntries).toBe(10);
  });

  it("given a store that works, when flushed, then every entry is written and nothing is counted as dropped", () => {
    const store = new SqliteStore(join(dir, "b.db"));
    const log = new DecisionLog(store, { maxBuffer: 3, flushMs: 60_000 });
    for (let i = 0; i < 7; i++) log.add(row(i));
    log.flush();
    expect(store.countDecisions()).toBe(7);
    expect(log.pending).toBe(0);
    expect(log.droppedEntries).toBe(0);
    store.close();
  });
});
