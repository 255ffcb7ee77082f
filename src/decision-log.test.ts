import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { DecisionLog } from "./decision-log.js";
import { Standing } from "./standing.js";
import { SqliteStore } from "./store/sqlite/store.js";
import type { DecisionLogRow } from "./store/types.js";
import { ManualClock } from "./time.js";

const dir = mkdtempSync(join(tmpdir(), "standing-dlog-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const row = (i: number): DecisionLogRow => ({ id: `d-${String(i).padStart(6, "0")}`, at: Date.UTC(2026, 10, 26) + i, keyId: "k1", askedBy: "checkpoint", scheme: "national-id", value: `N${i}`, context: "air-travel", decision: "allow", codes: [] });

const standingOn = (file: string): Standing => new Standing(new SqliteStore(join(dir, file)), new ManualClock(Date.UTC(2026, 10, 26)));

describe("decision log when writes fail", () => {
  it("given a store that can no longer be written, when checks keep coming, then entries are kept up to ten buffers, the rest counted as dropped, and a later write keeps what was kept", async () => {
    const standing = standingOn("a.db");
    const log = new DecisionLog(standing, { maxBuffer: 3, flushMs: 60_000 });
    await standing.close(); // every write now fails
    for (let i = 0; i < 3; i++) log.add(row(i));
    // The full buffer is being written; once that write has failed, its entries are back.
    expect(log.pending).toBe(0);
    await vi.waitFor(() => expect(log.pending).toBe(3), { timeout: 5_000 });
    // Later adds wait for the retry instead of writing each time: a write would take them out of the buffer.
    for (let i = 3; i < 40; i++) log.add(row(i));
    expect(log.pending).toBe(40);
    expect(log.droppedEntries).toBe(0);
    await log.flush();
    expect(log.pending).toBe(30);
    expect(log.droppedEntries).toBe(10);
  });

  it("given a store that works, when flushed, then every entry is written and nothing is counted as dropped", async () => {
    const standing = standingOn("b.db");
    try {
      const log = new DecisionLog(standing, { maxBuffer: 3, flushMs: 60_000 });
      for (let i = 0; i < 7; i++) log.add(row(i));
      // Full buffers started writes of their own; transactions commit in the order they began, so this one ends last.
      await log.flush();
      expect(await standing.reads.countDecisions()).toBe(7);
      expect(log.pending).toBe(0);
      expect(log.droppedEntries).toBe(0);
    } finally {
      await standing.close();
    }
  });
});
