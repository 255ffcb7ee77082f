// How stale another process's change can be: a "server" Standing follows the change feed
// of a SQLite file while a second Standing on its own connection (as the CLI would)
// retracts debtors' judgments one by one. For each, the time from the writer's commit
// resolving to the server's check answering allow.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Standing } from "../src/standing.js";
import { SqliteStore } from "../src/store/sqlite/store.js";
import { ManualClock } from "../src/time.js";
import { POLICY_FILE } from "./durable.js";
import { now, percentile } from "./util.js";

export interface FeedResult {
  readonly changes: number;
  readonly pollMs: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly maxMs: number;
}

const AT = Date.parse("2026-11-26T00:00:00Z");

export async function runFeedStaleness(changes: number, pollMs = 200): Promise<FeedResult> {
  const dir = mkdtempSync(join(tmpdir(), "standing-feed-"));
  const file = join(dir, "standing.db");
  const clock = new ManualClock(AT);
  const writer = new Standing(new SqliteStore(file), clock, { reevaluationWorkers: 0 });
  await writer.publish(readFileSync(POLICY_FILE, "utf8"), "municipal-credit.yaml");
  const server = new Standing(new SqliteStore(file), clock, { feedPollMs: pollMs });
  await server.follow();
  const lags: number[] = [];
  const who = (i: number) => ({ scheme: "national-id", value: `feed-${i}` });
  try {
    // Debtors whose notice has run: each is denied air travel, then retracted one by one.
    await writer.ingest(Array.from({ length: changes }, (_, i) => ({ source: "court", id: `feed-j-${i}`, type: "court.judgment.default", subject: who(i), occurredAt: "2026-01-10T00:00:00Z", evidence: `case-${i}`, fields: { case: `C-${i}`, amount: 1000 } })));
    clock.set(AT + 30 * 86_400_000);
    await writer.advance();
    await server.catchUp();
    for (let i = 0; i < changes; i++) {
      if (server.check(who(i), "air-travel").decision !== "deny") throw new Error(`debtor ${i} is not denied before the retraction`);
      await writer.ingest([{ source: "court", id: `feed-r-${i}`, retracts: `feed-j-${i}`, occurredAt: new Date(clock.now()).toISOString(), reason: "entered in error" }]);
      const t0 = now();
      while (server.check(who(i), "air-travel").decision !== "allow") {
        if (now() - t0 > 10_000) throw new Error(`the server never saw retraction ${i}`);
        await new Promise((r) => setTimeout(r, 1));
      }
      lags.push(now() - t0);
    }
  } finally {
    await server.close();
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const sorted = [...lags].sort((a, b) => a - b);
  return { changes, pollMs, p50ms: percentile(sorted, 50), p99ms: percentile(sorted, 99), maxMs: sorted[sorted.length - 1] ?? NaN };
}
