// Publishing a policy takes two people: an author proposes a version, a policy approver
// who is not its author approves it, and only the approval publishes it. Real SQLite
// files; the journal and a second process (another Standing on the same file) see it.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Standing, replayerOf } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { auditSqliteFile } from "../store/sqlite/audit.js";
import { ManualClock } from "../time.js";

const root = resolve(import.meta.dirname, "../..");
const POLICY = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
const NOW = Date.UTC(2026, 10, 1);
const version = (v: string): string => POLICY.replace(/^version: .*$/m, `version: ${v}`);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fileStore(): { file: string; store: SqliteStore } {
  const dir = mkdtempSync(join(tmpdir(), "standing-approval-"));
  dirs.push(dir);
  const file = join(dir, "standing.db");
  return { file, store: new SqliteStore(file) };
}

describe("policy proposals: author ≠ approver", () => {
  it("a proposal is not in force; its approval by another publishes it, re-evaluates, and is journaled with both names", async () => {
    const { file, store } = fileStore();
    const clock = new ManualClock(NOW);
    const s = new Standing(store, clock);
    const proposed = await s.proposePolicy(POLICY, "Ana (rulebook team)");
    expect(proposed).toMatchObject({ status: "proposed", proposal: { ref: "municipal-credit@2026.1.0", status: "proposed", proposedBy: "Ana (rulebook team)", proposedAt: NOW, decidedBy: null } });
    expect(s.activePolicy()).toBeUndefined();
    expect(s.publishedPolicies()).toEqual([]);
    // The same text again: the open proposal; other text under the same version: refused.
    expect((await s.proposePolicy(POLICY, "Ana (rulebook team)")).status).toBe("unchanged");
    await expect(s.proposePolicy(POLICY.replace("notice: P3D", "notice: P4D"), "Ana")).rejects.toMatchObject({ code: "record-conflict" });
    // Its author may not approve it, by whatever spelling.
    for (const by of ["Ana (rulebook team)", " ana (RULEBOOK TEAM) "]) await expect(s.approvePolicy(proposed.proposal.id, by)).rejects.toMatchObject({ code: "forbidden" });
    await expect(s.approvePolicy("municipal-credit@2026.1.0", "")).rejects.toMatchObject({ code: "bad-request" });
    expect(s.publishedPolicies()).toEqual([]);

    clock.advance(3_600_000);
    const approved = await s.approvePolicy("municipal-credit@2026.1.0", "Ben (policy board)");
    expect(approved).toMatchObject({ policy: "municipal-credit@2026.1.0", status: "published", proposal: { status: "approved", decidedBy: "Ben (policy board)", decidedAt: NOW + 3_600_000 } });
    expect(s.activePolicy()?.ref).toBe("municipal-credit@2026.1.0");
    expect(s.policyProvenance("municipal-credit@2026.1.0")).toEqual({ proposal: proposed.proposal.id, proposedBy: "Ana (rulebook team)", proposedAt: NOW, approvedBy: "Ben (policy board)", approvedAt: NOW + 3_600_000 });
    // The statement names both.
    await s.ingest([{ source: "court", id: "c-1", type: "court.judgment.default", subject: { scheme: "national-id", value: "x-1" }, occurredAt: "2026-10-01T00:00:00Z", fields: { case: "K-1", amount: 10 }, evidence: "file://k" }]);
    const st = await s.statement((await s.reads.resolve({ scheme: "national-id", value: "x-1" })) as number);
    expect(st.policyApproval).toEqual({ proposedBy: "Ana (rulebook team)", proposedAt: new Date(NOW).toISOString(), approvedBy: "Ben (policy board)", approvedAt: new Date(NOW + 3_600_000).toISOString() });

    // A second proposal, rejected with a reason; the author may not reject it either.
    const v2 = await s.proposePolicy(version("2026.2.0"), "Ana (rulebook team)");
    await expect(s.rejectPolicy(v2.proposal.id, "Ana (rulebook team)", "withdrawn by me, after all")).rejects.toMatchObject({ code: "forbidden" });
    await expect(s.rejectPolicy(v2.proposal.id, "Ben (policy board)", "short")).rejects.toMatchObject({ code: "bad-request" });
    const rejected = await s.rejectPolicy(v2.proposal.id, "Ben (policy board)", "Wait for the council's vote.");
    expect(rejected).toMatchObject({ status: "rejected", decidedBy: "Ben (policy board)", note: "Wait for the council's vote." });
    await expect(s.approvePolicy(v2.proposal.id, "Cleo")).rejects.toMatchObject({ code: "record-conflict" });
    expect(s.publishedPolicies().map((p) => p.ref)).toEqual(["municipal-credit@2026.1.0"]);
    await s.close();

    // Journaled: the proposal, its approval in the same transaction as the version, and the rejection.
    const raw = new SqliteStore(file);
    const kinds = raw.connectionForTests().prepare("SELECT kind FROM journal WHERE tbl IN ('policy_proposals', 'policies') ORDER BY seq").pluck().all();
    expect(kinds).toEqual(["policy.proposed", "policy.approved", "policy.published", "policy.proposed", "policy.rejected"]);
    await raw.close();
    const report = auditSqliteFile(file, { replay: replayerOf() });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("another process on the same file sees proposals and approvals through the change feed", async () => {
    const { file, store } = fileStore();
    const a = new Standing(store, new ManualClock(NOW));
    const b = new Standing(new SqliteStore(file), new ManualClock(NOW));
    await b.start();
    const { proposal } = await a.proposePolicy(POLICY, "author");
    await b.catchUp();
    expect(b.policyProposals().map((p) => [p.id, p.status])).toEqual([[proposal.id, "proposed"]]);
    await b.approvePolicy(proposal.id, "approver");
    await a.catchUp();
    expect(a.activePolicy()?.ref).toBe("municipal-credit@2026.1.0");
    expect(a.policyProvenance("municipal-credit@2026.1.0")).toMatchObject({ proposedBy: "author", approvedBy: "approver" });
    await a.close();
    await b.close();
  });

  it("an approval cut off during its re-evaluation is finished by approving the same proposal again", async () => {
    const { store } = fileStore();
    const clock = new ManualClock(NOW);
    const s = new Standing(store, clock, { reevaluationWorkers: 0 });
    const first = await s.proposePolicy(POLICY, "author");
    await s.approvePolicy(first.proposal.id, "approver");
    const people = 1200;
    const results = await s.ingest(Array.from({ length: people }, (_, i) => ({ source: "blood-centre", id: `b-${i}`, type: "blood.donation", subject: { scheme: "national-id", value: `p-${i}` }, occurredAt: "2026-10-01T00:00:00Z", fields: { ml: 400 } })));
    expect(results.every((r) => r.status === "accepted")).toBe(true);
    const v2 = await s.proposePolicy(version("2026.2.0"), "author");
    const cut = new Error("killed during re-evaluation");
    await expect(s.approvePolicy(v2.proposal.id, "approver", (done) => {
      if (done > 0) throw cut;
    })).rejects.toBe(cut);
    // Approved and stored, its re-evaluation unfinished.
    expect(s.policyProposals().find((p) => p.id === v2.proposal.id)?.status).toBe("approved");
    expect((await s.verifyJournal()).ok).toBe(false);
    const again = await s.approvePolicy(v2.proposal.id, "approver");
    expect(again).toMatchObject({ policy: "municipal-credit@2026.2.0", status: "published", reevaluated: people - 1000 });
    expect((await s.verifyJournal()).ok).toBe(true);
    expect(await s.approvePolicy(v2.proposal.id, "approver")).toMatchObject({ status: "unchanged", reevaluated: 0 });
    await s.close();
  });
});
