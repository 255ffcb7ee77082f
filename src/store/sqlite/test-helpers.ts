// A small database built through Standing, and the tools of someone who edits it
// behind Standing's back: a plain better-sqlite3 connection without the journal's
// functions or triggers, as the sqlite3 shell would be.
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { Standing } from "../../standing.js";
import { ManualClock } from "../../time.js";
import type { JournalOptions } from "./journal.js";
import { SqliteStore } from "./store.js";

export const root = resolve(import.meta.dirname, "..", "..", "..");
export const POLICY_TEXT = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
export const NOW = Date.UTC(2026, 2, 1, 0, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (t: number): string => new Date(t).toISOString();

export const nid = (value: string) => ({ scheme: "national-id", value });
export const passport = (value: string) => ({ scheme: "passport", value });

export function tempDir(prefix = "standing-journal-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface Populated {
  readonly path: string;
  /** records.seq of each record id. */
  readonly recordSeq: Record<string, number>;
  /** subject ids by national id. */
  readonly subject: Record<string, number>;
  readonly revokedKeyId: string;
  readonly auditorKeyId: string;
  readonly auditorKey: string;
  readonly eventSeq: number;
  /** decisions.id → the seq of the batch entry that journaled it. */
  readonly decisionBatch: Record<string, number>;
}

/**
 * Publishes the seed policy, ingests records (accepted, rejected, quarantined then
 * released by a link, retracted), creates and revokes keys, journals an event,
 * advances time past the notice period, and closes the store (a final checkpoint).
 */
export async function populate(path: string, journal: JournalOptions = {}): Promise<Populated> {
  const store = new SqliteStore(path, { journal });
  const clock = new ManualClock(NOW);
  const standing = new Standing(store, clock);
  try {
    await standing.publish(POLICY_TEXT, "policies/municipal-credit.yaml");
    const results = await standing.ingest([
      { source: "court", id: "c-1", type: "court.judgment.default", subject: nid("A1"), occurredAt: iso(NOW - 10 * DAY), fields: { case: "C-1", amount: 5000 }, evidence: "case-file://C-1" },
      { source: "traffic-police", id: "t-1", type: "traffic.jaywalking", subject: nid("B2"), occurredAt: iso(NOW - 5 * DAY), evidence: "camera://t-1" },
      { source: "traffic-police", id: "t-2", type: "traffic.jaywalking", subject: nid("B2"), occurredAt: iso(NOW - 4 * DAY), evidence: "camera://t-2" },
      { source: "volunteer-registry", id: "v-1", type: "volunteer.service", subject: nid("C3"), occurredAt: iso(NOW - 3 * DAY), fields: { hours: 6 } },
      { source: "court", id: "bad-1", type: "no.such.type", subject: nid("A1"), occurredAt: iso(NOW - DAY) },
      { source: "airline", id: "a-1", type: "aviation.onboard-misconduct", subject: passport("P1"), occurredAt: iso(NOW - 2 * DAY), fields: { flight: "CA1234" }, evidence: "report://a-1" },
    ]);
    const statuses = results.map((r) => r.status).join(",");
    if (statuses !== "accepted,accepted,accepted,accepted,rejected,quarantined") throw new Error(`unexpected ingest results: ${JSON.stringify(results)}`);
    const rejected = results[4] as { source?: string; id?: string; error: { code: string } };
    // The event is the last entry of its own transaction, so the head names it.
    const eventSeq = await store.transaction(async (tx) => {
      await tx.journalEvent("record.rejected", { source: rejected.source, id: rejected.id, code: rejected.error.code, inputHash: "0".repeat(64) });
      return store.journalForTests().head()?.seq as number;
    });

    clock.advance(HOUR);
    await standing.ingest([{ source: "traffic-police", id: "t-2x", retracts: "t-2", occurredAt: iso(NOW), reason: "wrong plate" }]);
    await standing.link(nid("A1"), passport("P1"));

    const auditor = await standing.createKey({ role: "auditor", label: "City auditor" });
    const gone = await standing.createKey({ role: "source", source: "court", label: "Court clerk" });
    await standing.revokeKey(gone.row.keyId);

    clock.advance(8 * DAY);
    await standing.advance();

    // Two batches of the decision log a row per decision, as servers wrote it before
    // checks were logged compactly (files made then hold them; they are still verified).
    const decision = (id: string, value: string, deny: boolean) => ({ id, at: clock.now(), keyId: auditor.row.keyId, askedBy: "checkpoint:Gate 3", scheme: "national-id", value, context: "air-travel", decision: deny ? ("deny" as const) : ("allow" as const), codes: deny ? ["SPC-DEBTOR"] : [] });
    await store.appendDecisions([decision("d-01", "A1", true), decision("d-02", "B2", false), decision("d-03", "C3", false)]);
    clock.advance(HOUR);
    await store.appendDecisions([decision("d-04", "A1", true), decision("d-05", "Z9", false)]);
    const db = store.connectionForTests();
    const decisionBatch: Record<string, number> = {};
    for (const r of db.prepare("SELECT id, batch FROM decisions").all() as { id: string; batch: number }[]) decisionBatch[r.id] = r.batch;

    const recordSeq: Record<string, number> = {};
    for (const r of db.prepare("SELECT seq, record_id FROM records").all() as { seq: number; record_id: string }[]) recordSeq[r.record_id] = r.seq;
    const subject: Record<string, number> = {};
    for (const v of ["A1", "B2", "C3"]) subject[v] = (await store.resolve(nid(v))) as number;
    return { path, recordSeq, subject, revokedKeyId: gone.row.keyId, auditorKeyId: auditor.row.keyId, auditorKey: auditor.key, eventSeq, decisionBatch };
  } finally {
    await standing.close();
  }
}

/** Copies a closed database (and its key file) to a new path. */
export function copyDb(from: string, to: string): string {
  copyFileSync(from, to);
  for (const ext of ["-wal", "-shm"]) if (existsSync(from + ext)) copyFileSync(from + ext, to + ext);
  if (existsSync(`${from}.journal-key.pem`)) copyFileSync(`${from}.journal-key.pem`, `${to}.journal-key.pem`);
  return to;
}

/** Runs fn with a plain connection: no journal functions, no journal triggers. */
export function behindTheBack<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The text with the byte at `index` (an ASCII character) flipped to another ASCII character. */
export function flipChar(text: string, index: number): string {
  const c = text.charCodeAt(index);
  if (c > 0x7f) throw new Error("flipChar flips ASCII characters only");
  const flipped = c ^ 0x01;
  return text.slice(0, index) + String.fromCharCode(flipped) + text.slice(index + 1);
}
