// Due process, given/when/then, against a real SQLite store and an injected clock.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Standing } from "./standing.js";
import { testStore } from "./store/test-store.js";
import { ManualClock } from "./time.js";
import { LogChannel, Outbox, WebhookChannel } from "./notices/outbox.js";
import { loadDemo } from "./demo/load.js";
import { renderStatement } from "./statement/statement.js";

const POLICY = readFileSync(join(import.meta.dirname, "..", "policies", "municipal-credit.yaml"), "utf8");
const DAY = 86_400_000;
const NOW = Date.parse("2026-06-01T00:00:00Z");

async function setup(policy = POLICY) {
  const clock = new ManualClock(NOW);
  const store = testStore();
  const standing = new Standing(store, clock);
  await standing.publish(policy, "policy.yaml");
  return { clock, store, standing };
}

const nid = (value: string) => ({ scheme: "national-id", value });
const debt = (id: string, who: string, at: number, caseNo = "K-1") => ({ source: "court", id, type: "court.judgment.default", subject: nid(who), occurredAt: new Date(at).toISOString(), fields: { case: caseNo, amount: 1000 }, evidence: `file://${id}` });
const misconduct = (id: string, who: string, at: number) => ({ source: "airline", id, type: "aviation.onboard-misconduct", subject: nid(who), occurredAt: new Date(at).toISOString(), fields: { flight: "X1" }, evidence: `r://${id}` });

async function debtor(s: Standing, clock: ManualClock, who = "A") {
  expect((await s.ingest([debt("c1", who, clock.now() - DAY)]))[0]?.status).toBe("accepted");
  clock.advance(8 * DAY); // past the 7-day notice
  await s.advance();
  const id = await s.resolveSubject(nid(who));
  expect(s.check(nid(who), "air-travel").decision).toBe("deny");
  return id;
}

/** A notice receiver on loopback: answers 503 while `fail`, then 204, keeping the ids it accepted. */
async function webhookReceiver(): Promise<{ url: string; fail: boolean; received: string[]; close(): void }> {
  const hook = { url: "", fail: true, received: [] as string[], close: () => server.close() };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (!hook.fail) hook.received.push((JSON.parse(body) as { id: string }).id);
      res.statusCode = hook.fail ? 503 : 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hook.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/notices`;
  return hook;
}

describe("notices", () => {
  it("given a debt record, when it is accepted, then a notice is issued at once, naming what, why, basis, dates, how to dispute and recover, before the measure takes effect", async () => {
    const { standing, store, clock } = await setup();
    await standing.ingest([debt("c1", "A", NOW - 30 * DAY)]);
    const id = (await store.resolve(nid("A"))) as number;
    const notices = await store.noticesOf(id);
    expect(notices.map((n) => n.measure).sort()).toEqual(["no-flights-debtor", "no-high-speed-rail-debtor", "no-property-debtor"]);
    const n = notices.find((x) => x.measure === "no-flights-debtor");
    const body = JSON.parse(n?.body ?? "{}") as Record<string, unknown>;
    expect(n?.createdAt).toBe(NOW);
    // the debt occurred 30 days ago but arrived now: notice runs from now, not from then
    expect(n?.effectiveFrom).toBe(NOW + 7 * DAY);
    expect(body).toMatchObject({ code: "SPC-DEBTOR", context: "air-travel", effectiveFrom: new Date(NOW + 7 * DAY).toISOString() });
    expect(String(body.basis)).toContain("art. 3(1)");
    expect(body.because).toEqual([expect.objectContaining({ source: "court", id: "c1" })]);
    expect(String(body.howToDispute)).toContain("dispute");
    expect((body.howToRecover as { kind: string }[]).map((p) => p.kind)).toEqual(["leave-record", "early-exit", "expiry"]);
    expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
    clock.set(NOW + 7 * DAY);
    expect(standing.check(nid("A"), "air-travel").decision).toBe("deny");
    // re-evaluation does not issue the same notice twice
    await standing.advance();
    expect(await store.noticesOf(id)).toHaveLength(3);
  });

  it("given notices, when the outbox runs with a log channel, then each is written once and marked delivered", async () => {
    const { standing } = await setup();
    await standing.ingest([debt("c1", "A", NOW - DAY)]);
    const dir = mkdtempSync(join(tmpdir(), "standing-notices-"));
    try {
      const file = join(dir, "notices.ndjson");
      const r = await new Outbox(standing.noticeOutbox(), [new LogChannel(file)]).deliverDue(NOW);
      expect(r).toEqual({ delivered: 3, failed: 0 });
      expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(3);
      expect(statSync(file).mode & 0o777).toBe(0o640); // notices name people: not for everyone to read
      expect(await new Outbox(standing.noticeOutbox(), [new LogChannel(file)]).deliverDue(NOW + DAY)).toEqual({ delivered: 0, failed: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("given a webhook that fails, when delivery is attempted, then nothing is lost: it is retried later and delivered once the receiver works", async () => {
    const { standing, store } = await setup();
    await standing.ingest([misconduct("a1", "B", NOW - DAY)]);
    const hook = await webhookReceiver();
    try {
      const outbox = new Outbox(standing.noticeOutbox(), [new WebhookChannel(hook.url)]);
      expect(await outbox.deliverDue(NOW)).toEqual({ delivered: 0, failed: 1 });
      const id = (await store.noticesOf((await store.resolve(nid("B"))) as number))[0]?.id as string;
      const row = await standing.reads.outboxOf(id);
      expect(row).toMatchObject({ attempts: 1, deliveredAt: null, lastError: "webhook answered 503" });
      expect(row?.nextAttemptAt).toBeGreaterThan(NOW);
      // not due yet: nothing is attempted
      expect(await outbox.deliverDue(NOW + 1)).toEqual({ delivered: 0, failed: 0 });
      hook.fail = false;
      expect(await outbox.deliverDue(NOW + DAY)).toEqual({ delivered: 1, failed: 0 });
      expect(hook.received).toEqual([id]);
    } finally {
      hook.close();
    }
  });

  it("given a log channel and a webhook that fails twice, when delivery is retried, then the log has the notice once and the webhook gets it once it works", async () => {
    const { standing, store } = await setup();
    await standing.ingest([misconduct("a1", "B", NOW - DAY)]);
    const hook = await webhookReceiver();
    const dir = mkdtempSync(join(tmpdir(), "standing-notices-"));
    try {
      const file = join(dir, "notices.ndjson");
      const outbox = new Outbox(standing.noticeOutbox(), [new LogChannel(file), new WebhookChannel(hook.url)]);
      expect(await outbox.deliverDue(NOW)).toEqual({ delivered: 0, failed: 1 });
      expect(await outbox.deliverDue(NOW + DAY)).toEqual({ delivered: 0, failed: 1 });
      const id = (await store.noticesOf((await store.resolve(nid("B"))) as number))[0]?.id as string;
      expect(await store.deliveredChannels(id)).toEqual(["log"]);
      hook.fail = false;
      expect(await outbox.deliverDue(NOW + 2 * DAY)).toEqual({ delivered: 1, failed: 0 });
      expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(1);
      expect(hook.received).toEqual([id]);
      expect(await store.deliveredChannels(id)).toEqual(["log", "webhook"]);
    } finally {
      hook.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("disputes", () => {
  it("given a debtor who disputes the record, when the court does not answer by the deadline, then the record stops counting and the measures lift", async () => {
    const { standing, store, clock } = await setup();
    const id = await debtor(standing, clock);
    const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds: "The judgment was paid in full; receipt attached.", openedBy: "the subject" });
    expect(d.deadlineAt).toBe(clock.now() + 30 * DAY); // P30D default, no DST in Shanghai
    // court.judgment.default does not suspend effects while the dispute is open
    expect(standing.check(nid("A"), "air-travel").decision).toBe("deny");
    clock.set(d.deadlineAt - 1);
    await standing.advance();
    expect(standing.check(nid("A"), "air-travel").decision).toBe("deny");
    // the deadline is the subject's nextChangeAt, so the scheduler advances it right then
    expect((await store.getState(id))?.nextChangeAt).toBe(d.deadlineAt);
    clock.set(d.deadlineAt);
    await standing.advance();
    expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
    expect((await store.getDispute(d.id))?.status).toBe("expired");
    expect((await store.getState(id))?.state).toMatchObject({ score: 1000, lists: [], measures: [] });
    const st = await standing.statement(id);
    expect(st.records[0]).toMatchObject({ status: "removed-by-dispute", dispute: { id: d.id, status: "expired" } });
    expect(renderStatement(st)).toContain("EXPIRED");
  });

  it("given dispute texts past their limits, when filed or decided by any route, then they are refused whole, never cut", async () => {
    const { standing, clock } = await setup();
    const id = await debtor(standing, clock);
    const long = "x".repeat(10_001);
    await expect(standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds: long, openedBy: "the subject" })).rejects.toThrow(expect.objectContaining({ code: "bad-request" }));
    await expect(standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds: "Wrong person entirely.", evidence: "e".repeat(2049), openedBy: "the subject" })).rejects.toThrow(expect.objectContaining({ code: "bad-request" }));
    const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds: "Wrong person entirely.", openedBy: "the subject" });
    await expect(standing.answerDispute(d.id, "court", "confirm", long)).rejects.toThrow(expect.objectContaining({ code: "bad-request" }));
    await expect(standing.decideDispute(d.id, "reviewer", "upheld", long)).rejects.toThrow(expect.objectContaining({ code: "bad-request" }));
    expect(await standing.reads.getDispute(d.id)).toMatchObject({ status: "open", reason: null, answerNote: null });
  });

  it("given an open dispute, when the source confirms and a reviewer dismisses it, then the record keeps counting; when upheld, it stops", async () => {
    const { standing, clock } = await setup();
    const id = await debtor(standing, clock);
    const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds: "Wrong person: I have never been party to case K-1.", openedBy: "the subject" });
    await expect(standing.answerDispute(d.id, "airline", "confirm", "not mine")).rejects.toThrow(expect.objectContaining({ code: "forbidden" }));
    await standing.answerDispute(d.id, "court", "confirm", "Case file K-1 names this national id.");
    await expect(standing.decideDispute(d.id, "reviewer", "dismissed", "short")).rejects.toThrow(expect.objectContaining({ code: "bad-request" }));
    await standing.decideDispute(d.id, "reviewer", "dismissed", "The case file and the identity check match the subject.");
    clock.advance(60 * DAY);
    await standing.advance();
    expect(standing.check(nid("A"), "air-travel").decision).toBe("deny");
    // a second dispute may be opened after a closed one, and upheld by two reviewers
    const d2 = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds: "New evidence: a court order annulling the judgment.", openedBy: "reviewer on behalf" });
    await standing.answerDispute(d2.id, "court", "confirm", "The judgment stands as entered.");
    await standing.decideDispute(d2.id, "reviewer", "upheld", "The annulment order was verified with the court registry.");
    await standing.decideDispute(d2.id, "second reviewer", "upheld", "Checked the annulment order in the registry myself.");
    expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
  });

  describe("separation of duties", () => {
    const grounds = "The judgment was annulled on appeal; the order is attached.";
    const reason = "The annulment order was verified with the court registry.";

    it("given a dispute the source has not answered, when a reviewer decides before the deadline, then it is refused; after the deadline the scheduler closes it, and no reviewer acts", async () => {
      const { standing, clock } = await setup();
      const id = await debtor(standing, clock);
      const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds, openedBy: "the subject" });
      await expect(standing.decideDispute(d.id, "reviewer", "upheld", reason)).rejects.toThrow(expect.objectContaining({ code: "record-conflict", message: expect.stringContaining("waits for the source's answer") }));
      await expect(standing.decideDispute(d.id, "reviewer", "dismissed", reason)).rejects.toThrow(expect.objectContaining({ code: "record-conflict" }));
      expect(await standing.reads.getDispute(d.id)).toMatchObject({ status: "open", decidedBy: null });
      expect(standing.check(nid("A"), "air-travel").decision).toBe("deny");
    });

    it("given a dispute the source left unanswered past its deadline, when a reviewer proposes to uphold or dismisses it, then it closes as expired by rule and the record stays out", async () => {
      const { standing, clock } = await setup();
      const id = await debtor(standing, clock);
      const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds, openedBy: "the subject" });
      clock.set(d.deadlineAt + 1);
      expect(await standing.decideDispute(d.id, "reviewer", "dismissed", reason)).toMatchObject({ status: "expired", counts: false });
      expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
      await standing.advance();
      expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
      expect((await standing.reads.disputeActions(d.id)).map((a) => a.action)).toEqual(["opened", "expired"]);
    });

    it("given a dispute filed by an operator, when that same operator decides it, then it is refused, whatever label the key carries", async () => {
      const { standing, clock } = await setup();
      const id = await debtor(standing, clock);
      const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds, openedBy: "reviewer key 0123456789ab (desk 1)" });
      await standing.answerDispute(d.id, "court", "confirm", "The judgment stands as entered.");
      await expect(standing.decideDispute(d.id, "reviewer key 0123456789ab (desk 2)", "dismissed", reason)).rejects.toThrow(expect.objectContaining({ code: "forbidden", message: expect.stringContaining("does not decide it") }));
      expect((await standing.decideDispute(d.id, "reviewer key ba9876543210 (desk 3)", "dismissed", reason)).status).toBe("dismissed");
    });

    it("given a proposal to uphold, when the proposer confirms it, then it is refused; a second reviewer confirms and the record stops counting; who did what is kept in order", async () => {
      const { standing, clock } = await setup();
      const id = await debtor(standing, clock);
      const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds, openedBy: "the subject" });
      await standing.answerDispute(d.id, "court", "confirm", "The judgment stands as entered.");
      expect((await standing.decideDispute(d.id, "reviewer key 111111111111", "upheld", reason)).status).toBe("uphold-proposed");
      expect(standing.check(nid("A"), "air-travel").decision).toBe("deny");
      await expect(standing.decideDispute(d.id, "reviewer key 111111111111", "upheld", reason)).rejects.toThrow(expect.objectContaining({ code: "forbidden", message: expect.stringContaining("a second reviewer") }));
      expect((await standing.decideDispute(d.id, "reviewer key 222222222222", "upheld", "Checked the annulment order in the registry.")).status).toBe("upheld");
      expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
      expect((await standing.reads.disputeActions(d.id)).map((a) => [a.action, a.actor])).toEqual([
        ["opened", "the subject"],
        ["answered", "source court"],
        ["proposed-uphold", "reviewer key 111111111111"],
        ["confirmed-uphold", "reviewer key 222222222222"],
      ]);
    });

    it("given a proposal to uphold, when a second reviewer rejects it, then the dispute is back in the queue and the record keeps counting", async () => {
      const { standing, clock } = await setup();
      const id = await debtor(standing, clock);
      const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds, openedBy: "the subject" });
      await standing.answerDispute(d.id, "court", "confirm", "The judgment stands as entered.");
      await standing.decideDispute(d.id, "reviewer key 111111111111", "upheld", reason);
      expect(await standing.decideDispute(d.id, "reviewer key 222222222222", "dismissed", "The order annuls another judgment, not this one.")).toMatchObject({ status: "confirmed", decidedBy: null });
      expect(standing.check(nid("A"), "air-travel").decision).toBe("deny");
      expect((await standing.reads.disputeActions(d.id)).at(-1)).toMatchObject({ action: "rejected-uphold", actor: "reviewer key 222222222222" });
    });
  });

  it("given a record type that suspends effects while disputed, when a dispute opens, then its effects stop until the source confirms", async () => {
    const policy = POLICY.replace("    fields: { flight: reference }\n", "    fields: { flight: reference }\n    dispute: { deadline: P14D, suspend: true }\n");
    const { standing, store, clock } = await setup(policy);
    await standing.ingest([misconduct("a1", "B", NOW - DAY)]);
    clock.advance(8 * DAY);
    await standing.advance();
    expect(standing.check(nid("B"), "air-travel").decision).toBe("deny");
    const id = (await store.resolve(nid("B"))) as number;
    const d = await standing.openDispute({ subjectId: id, source: "airline", recordId: "a1", grounds: "I was not on that flight; boarding records show it.", openedBy: "the subject" });
    expect(d.deadlineAt).toBe(clock.now() + 14 * DAY);
    expect(standing.check(nid("B"), "air-travel").decision).toBe("allow");
    expect((await standing.statement(id)).records[0]?.status).toBe("suspended");
    clock.advance(DAY);
    await standing.answerDispute(d.id, "airline", "confirm", "Crew report and seat map confirm the incident.");
    expect(standing.check(nid("B"), "air-travel").decision).toBe("deny");
  });

  it("given a disputed record, when the source corrects it, then the corrected record replaces it and the statement shows both", async () => {
    const { standing, store, clock } = await setup();
    const id = await debtor(standing, clock);
    const d = await standing.openDispute({ subjectId: id, source: "court", recordId: "c1", grounds: "The amount is wrong, and the case number too.", openedBy: "the subject" });
    const r = await standing.answerDispute(d.id, "court", "correct", "Clerical error in the case number.", { id: "c1-corrected", type: "court.judgment.default", subject: nid("A"), occurredAt: new Date(clock.now() - 9 * DAY).toISOString(), fields: { case: "K-2", amount: 10 }, evidence: "file://c1-corrected" });
    expect(r.correction?.status).toBe("accepted");
    expect((await store.getDispute(d.id))?.status).toBe("corrected");
    const st = await standing.statement(id);
    expect(st.records.map((x) => [x.id, x.status])).toEqual([
      ["c1", "retracted"],
      ["c1-corrected", "counts"],
    ]);
    expect(st.lists[0]?.because.map((b) => b.id)).toEqual(["c1-corrected"]);
  });

  it("refuses disputes on other people's records, without grounds, twice at once, or on unknown records", async () => {
    const { standing, store, clock } = await setup();
    const a = await debtor(standing, clock, "A");
    await standing.ingest([debt("c2", "Z", clock.now() - DAY, "K-9")]);
    await expect(standing.openDispute({ subjectId: a, source: "court", recordId: "c2", grounds: "Not my record at all, clearly.", openedBy: "x" })).rejects.toThrow(expect.objectContaining({ code: "not-found", message: expect.stringContaining("in this subject's file") }));
    await expect(standing.openDispute({ subjectId: a, source: "court", recordId: "c1", grounds: "no", openedBy: "x" })).rejects.toThrow(expect.objectContaining({ code: "bad-request" }));
    await expect(standing.openDispute({ subjectId: a, source: "court", recordId: "nope", grounds: "This record does not exist.", openedBy: "x" })).rejects.toThrow(expect.objectContaining({ code: "not-found" }));
    await standing.openDispute({ subjectId: a, source: "court", recordId: "c1", grounds: "First dispute of this record.", openedBy: "x" });
    await expect(standing.openDispute({ subjectId: a, source: "court", recordId: "c1", grounds: "Second dispute of the same record.", openedBy: "x" })).rejects.toThrow(expect.objectContaining({ code: "record-conflict" }));
    expect(await store.disputesOf(a)).toHaveLength(1);
  });
});

describe("retractions and recovery", () => {
  it("given a debtor, when the court retracts the record, then the measure lifts at once", async () => {
    const { standing, clock } = await setup();
    await debtor(standing, clock);
    const [r] = await standing.ingest([{ source: "court", id: "c1-r", retracts: "c1", occurredAt: new Date(clock.now()).toISOString(), reason: "entered in error" }]);
    expect(r?.status).toBe("accepted");
    expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
  });

  it("given a retraction by another source, then it is refused and the measure stays", async () => {
    const { standing, clock } = await setup();
    await debtor(standing, clock);
    const [r] = await standing.ingest([{ source: "airline", id: "x", retracts: "c1", occurredAt: new Date(clock.now()).toISOString() }]);
    expect(r).toMatchObject({ status: "rejected", error: { code: "unknown-retraction-target" } });
    expect(standing.check(nid("A"), "air-travel").decision).toBe("deny");
  });

  it("given a debtor, when they apply for early exit before a year has passed, then it is refused with the date; after, they leave the list", async () => {
    const { standing, store, clock } = await setup();
    const id = await debtor(standing, clock);
    await expect(standing.applyEarlyExit(id, "judgment-defaulters", "the subject")).rejects.toThrow(expect.objectContaining({ code: "bad-request", details: expect.objectContaining({ from: expect.any(String) }) }));
    const st = await standing.statement(id);
    const path = st.recovery.find((p) => p.kind === "early-exit");
    expect(path?.from).toBe(new Date(NOW - DAY + 365 * DAY).toISOString());
    clock.set(Date.parse(path?.from as string));
    const r = await standing.applyEarlyExit(id, "judgment-defaulters", "the subject");
    expect(r.until).toBeNull();
    expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
    expect((await store.getState(id))?.state.lists).toEqual([]);
  });

  it("given a debtor, when the court reports the same case fulfilled, then they leave the list (leave rule)", async () => {
    const { standing, clock } = await setup();
    await debtor(standing, clock);
    await standing.ingest([{ source: "court", id: "f1", type: "court.judgment.fulfilled", subject: nid("A"), occurredAt: new Date(clock.now()).toISOString(), fields: { case: "K-1" } }]);
    expect(standing.check(nid("A"), "air-travel").decision).toBe("allow");
  });
});

describe("the demo population", () => {
  it("every deny measure had a notice issued at least its notice period before it took effect", async () => {
    const clock = new ManualClock(Date.parse("2026-11-26T12:00:00Z"));
    const store = testStore();
    const standing = new Standing(store, clock);
    await standing.publish(POLICY, "policy.yaml");
    await loadDemo(standing, 4000, 11);
    const policy = standing.requirePolicy();
    let checked = 0;
    for (const { subjectId, state } of await store.statesWithMeasures(0, 1_000_000)) {
      for (const m of state.measures) {
        if (m.effect !== "deny") continue;
        const notice = policy.measures.find((x) => x.measure === m.measure)?.notice;
        const n = (await store.noticesOf(subjectId)).find((x) => x.measure === m.measure && x.effectiveFrom === Date.parse(m.since as string));
        expect(n, `subject ${subjectId} ${m.measure}`).toBeDefined();
        expect(Date.parse(m.since as string) - (n?.createdAt ?? Infinity)).toBeGreaterThanOrEqual(notice?.luxon.as("milliseconds") ?? Infinity);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});
