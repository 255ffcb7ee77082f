// A server for the web tests: a temp SQLite file, a manual clock, the municipal-credit
// policy, a debtor whose notice period has passed, a quarantined record, and a key for
// every role that uses the web pages.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildServer } from "../../src/api/server.js";
import { Standing } from "../../src/standing.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { ManualClock } from "../../src/time.js";

export const POLICY = readFileSync(join(import.meta.dirname, "..", "..", "policies", "municipal-credit.yaml"), "utf8");
export const DAY = 86_400_000;
export const START = Date.parse("2026-11-01T00:00:00Z");

export async function webFixture() {
  const dir = mkdtempSync(join(tmpdir(), "standing-web-"));
  const clock = new ManualClock(START);
  const standing = new Standing(new SqliteStore(join(dir, "standing.db")), clock);
  await standing.publish(POLICY, "municipal-credit.yaml");
  const nid = (value: string) => ({ scheme: "national-id", value });
  const results = await standing.ingest([
    { source: "court", id: "c-1", type: "court.judgment.default", subject: nid("d-1"), occurredAt: "2026-10-31T09:00:00Z", fields: { case: "K-1", amount: 9000 }, evidence: "file://k-1" },
    { source: "traffic-police", id: "t-1", type: "traffic.speeding", subject: nid("d-1"), occurredAt: "2026-10-20T09:00:00Z", fields: { "kmh-over": 25 }, evidence: "cam://t-1" },
    { source: "blood-centre", id: "b-1", type: "blood.donation", subject: nid("d-2"), occurredAt: "2026-09-01T09:00:00Z", fields: { ml: 400 } },
    { source: "airline", id: "a-1", type: "aviation.onboard-misconduct", subject: { scheme: "passport", value: "P-9" }, occurredAt: "2026-10-30T09:00:00Z", fields: { flight: "X1 <b>" }, evidence: "r://a-1" },
  ]);
  for (const r of results) if (r.status !== "accepted" && r.status !== "quarantined") throw new Error(JSON.stringify(r));
  clock.advance(8 * DAY); // past the 7-day notice
  await standing.advance();
  const debtorId = (await standing.reads.resolve(nid("d-1"))) as number;
  const key = async (role: string, extra: { subjectId?: number; contexts?: string[]; source?: string } = {}) => (await standing.createKey({ role, label: `test ${role}`, ...extra })).key;
  const keys = {
    subject: await key("subject", { subjectId: debtorId }),
    reviewer: await key("reviewer"),
    // Upholding a dispute takes two reviewers (maker–checker).
    secondReviewer: await key("reviewer"),
    admin: await key("admin"),
    policyAuthor: await key("policy-author"),
    policyApprover: await key("policy-approver"),
    auditor: await key("auditor"),
    checkpoint: await key("checkpoint", { contexts: ["air-travel"] }),
    source: await key("source", { source: "court" }),
  };
  const app = buildServer(standing);
  return {
    dir,
    clock,
    standing,
    app,
    keys,
    debtorId,
    async close() {
      await app.close();
      await standing.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
