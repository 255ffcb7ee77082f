// Unit tests for the evaluator and decide(), in given/when/then form. Every expected
// value below was worked out by hand from the inline policy next to it (calendar
// arithmetic included); none is copied from the implementation's output.
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../canonical.js";
import type { CompiledPolicy } from "../policy/types.js";
import { decide, timeMeasures, type TimedMeasure } from "./decide.js";
import { evaluate } from "./evaluate.js";
import type { SubjectRecord, SubjectState } from "./types.js";
import { compileOrThrow, DAY, HOUR, rec, retraction, t } from "./test-helpers.js";

// ---------------------------------------------------------------------------------
// The main test policy (UTC, so calendar arithmetic is easy to check by hand).
//   tiers: AAA ≥ 1050, AA ≥ 1030, A ≥ 1000, B ≥ 960, C ≥ 850 (lowest: catches all below)
const UNIT = `
standing: 1
policy: unit
version: 1.0.0
effective: 2026-01-01T00:00:00Z
timezone: UTC
severity: { minor: P3M, general: P1Y, serious: P3Y }
records:
  traffic.jaywalking: { category: traffic, severity: minor, sources: [traffic-police] }
  traffic.speeding: { category: traffic, severity: minor, sources: [traffic-police], fields: { kmh-over: number } }
  volunteer.service: { category: civic-contribution, sources: [volunteer-registry], fields: { hours: number } }
  blood.donation: { category: civic-contribution, sources: [blood-centre] }
  court.judgment.default: { category: civil-judgment, severity: serious, sources: [court], fields: { case: string, amount: number } }
  court.judgment.fulfilled: { category: civil-judgment, sources: [court], fields: { case: string } }
  aviation.misconduct: { category: aviation-conduct, severity: general, sources: [airline] }
score: { base: 1000, tiers: { AAA: 1050, AA: 1030, A: 1000, B: 960, C: 850 } }
points:
  - { rule: jaywalking, on: traffic.jaywalking, points: -5, for: P3M, cap: { total: -20, per: P1Y } }
  - { rule: speeding, on: traffic.speeding, when: "record['kmh-over'] >= 20", points: -6, for: P3M, cap: { total: -20, per: P1Y } }
  - { rule: volunteering, on: volunteer.service, points: "min(record.hours, 10)", for: P1Y, cap: { total: 30, per: P1Y } }
  - { rule: blood, on: blood.donation, points: 10, for: P6M, cap: { total: 20, per: P1Y } }
  - { rule: court-default, on: court.judgment.default, points: -200, for: P2Y, cap: { total: -300, per: P2Y } }
lists:
  judgment-defaulters:
    effect: restrict
    enter: court.judgment.default
    leave: { on: court.judgment.fulfilled, when: "record.case == entry.case" }
    for: P2Y
  aviation-banned: { effect: restrict, enter: aviation.misconduct, for: P1Y }
  green-lane: { effect: privilege, when: "tier in ['AAA', 'AA']" }
contexts:
  air-travel: { related: [civil-judgment, aviation-conduct], why: "Debtors able to pay may not fly; safety on board." }
  public-services: { related: [], why: "Privileges only." }
measures:
  - { measure: no-flights-debtor, context: air-travel, effect: deny, lists: [judgment-defaulters], code: SPC-DEBTOR, basis: "Provisions on judgment defaulters, art. 1", notice: P7D }
  - { measure: no-flights-misconduct, context: air-travel, effect: deny, lists: [aviation-banned], code: CONDUCT, basis: "Aviation conduct rules, art. 2", notice: P7D }
  - { measure: express-security, context: air-travel, effect: privilege, lists: [green-lane], code: GREEN-LANE }
  - { measure: deposit-free, context: public-services, effect: privilege, lists: [green-lane], code: GREEN-LANE }
`;
const P = compileOrThrow(UNIT, "unit.yaml");

const DEBTOR_BASIS = "Provisions on judgment defaulters, art. 1";
const CONDUCT_BASIS = "Aviation conduct rules, art. 2";

const jay = (id: string, at: string): SubjectRecord => rec("traffic-police", id, "traffic.jaywalking", at);
const speeding = (id: string, at: string, kmhOver: number): SubjectRecord =>
  rec("traffic-police", id, "traffic.speeding", at, { "kmh-over": kmhOver });
const vol = (id: string, at: string, hours: number): SubjectRecord => rec("volunteer-registry", id, "volunteer.service", at, { hours });
const blood = (id: string, at: string): SubjectRecord => rec("blood-centre", id, "blood.donation", at);
const judgmentDefault = (id: string, at: string, kase: string): SubjectRecord =>
  rec("court", id, "court.judgment.default", at, { case: kase, amount: 5000 });
const fulfilled = (id: string, at: string, kase: string): SubjectRecord => rec("court", id, "court.judgment.fulfilled", at, { case: kase });
const misconduct = (id: string, at: string): SubjectRecord => rec("airline", id, "aviation.misconduct", at);

const ev = (records: readonly SubjectRecord[], at: string, policy: CompiledPolicy = P): SubjectState => evaluate(policy, records, t(at));
const decideAt = (s: SubjectState, context: string, at = s.at) => decide(timeMeasures(s.measures), context, t(at), s.policy);
/** [rule, record id, points, capped] for each contribution, in state order. */
const pts = (s: SubjectState) => s.contributions.map((c) => [c.rule, c.record.id, c.points, c.capped]);
const ids = (s: SubjectState, list: string) => s.lists.find((l) => l.list === list)?.because.map((r) => r.id);

describe("points contributions with from/until", () => {
  const j1 = jay("j1", "2026-03-10T08:00:00Z");

  it("given a jaywalking record, when evaluated one millisecond before it occurred, then nothing counts yet and the record is the next change", () => {
    const s = ev([j1], "2026-03-10T07:59:59.999Z");
    expect(s.contributions).toEqual([]);
    expect(s.score).toBe(1000);
    expect(s.tier).toBe("A");
    expect(s.nextChangeAt).toBe("2026-03-10T08:00:00.000Z");
  });

  it("given a jaywalking record, when evaluated at the instant it occurred, then -5 points count from then until 3 months later", () => {
    expect(ev([j1], "2026-03-10T08:00:00Z")).toEqual({
      policy: "unit@1.0.0",
      at: "2026-03-10T08:00:00.000Z",
      score: 995,
      tier: "B",
      contributions: [
        {
          rule: "jaywalking",
          record: { source: "traffic-police", id: "j1", type: "traffic.jaywalking", occurredAt: "2026-03-10T08:00:00.000Z" },
          points: -5,
          capped: 0,
          from: "2026-03-10T08:00:00.000Z",
          until: "2026-06-10T08:00:00.000Z",
        },
      ],
      lists: [],
      measures: [],
      nextChangeAt: "2026-06-10T08:00:00.000Z",
    });
  });

  it("given a jaywalking record, when evaluated one millisecond before its until, then it still counts", () => {
    const s = ev([j1], "2026-06-10T07:59:59.999Z");
    expect(pts(s)).toEqual([["jaywalking", "j1", -5, 0]]);
    expect(s.score).toBe(995);
  });

  it("given a jaywalking record, when evaluated exactly at its until, then the state has nothing of the record", () => {
    const s = ev([j1], "2026-06-10T08:00:00Z");
    expect(s).toEqual({
      policy: "unit@1.0.0",
      at: "2026-06-10T08:00:00.000Z",
      score: 1000,
      tier: "A",
      contributions: [],
      lists: [],
      measures: [],
      nextChangeAt: null,
    });
    expect(canonicalJson(s)).not.toContain("j1");
  });
});

describe("caps per rolling period", () => {
  it("given four jaywalkings in the last year, when a 5th occurs, then it gets 0 points and capped shows the 5 withheld, even though the 1st has already expired from the score", () => {
    const rs = [
      jay("j1", "2026-01-10T09:00:00Z"),
      jay("j2", "2026-02-10T09:00:00Z"),
      jay("j3", "2026-03-10T09:00:00Z"),
      jay("j4", "2026-04-10T09:00:00Z"),
      jay("j5", "2026-04-20T09:00:00Z"),
    ];
    const s = ev(rs, "2026-04-20T09:00:00Z");
    // j1 counted from 01-10 until 04-10: gone from the score, still inside the cap's year.
    expect(pts(s)).toEqual([
      ["jaywalking", "j2", -5, 0],
      ["jaywalking", "j3", -5, 0],
      ["jaywalking", "j4", -5, 0],
      ["jaywalking", "j5", 0, 5],
    ]);
    expect(Object.is(s.contributions[3]?.points, -0)).toBe(false);
    expect(s.score).toBe(985);
    expect(s.tier).toBe("B");
  });

  it("given four jaywalkings, when the 5th occurs exactly one year after the 1st, then the 1st is outside the window (t - P1Y, t] and the 5th counts in full", () => {
    const first4 = [
      jay("j1", "2026-01-10T09:00:00Z"),
      jay("j2", "2026-02-10T09:00:00Z"),
      jay("j3", "2026-03-10T09:00:00Z"),
      jay("j4", "2026-04-10T09:00:00Z"),
    ];
    const onTheDot = ev([...first4, jay("j5", "2027-01-10T09:00:00Z")], "2027-01-10T09:00:00Z");
    expect(pts(onTheDot)).toEqual([["jaywalking", "j5", -5, 0]]);
    const aMsEarlier = ev([...first4, jay("j5", "2027-01-10T08:59:59.999Z")], "2027-01-10T09:00:00Z");
    expect(pts(aMsEarlier)).toEqual([["jaywalking", "j5", 0, 5]]);
  });

  it("given speeding at -6 with a cap of -20 a year, when a 4th offence occurs, then it gets the remaining -2 and capped shows 4", () => {
    const rs = [
      speeding("s1", "2026-01-01T10:00:00Z", 25),
      speeding("s2", "2026-01-15T10:00:00Z", 25),
      speeding("s3", "2026-02-01T10:00:00Z", 25),
      speeding("s4", "2026-02-15T10:00:00Z", 25),
    ];
    const s = ev(rs, "2026-02-15T10:00:00Z");
    expect(pts(s)).toEqual([
      ["speeding", "s1", -6, 0],
      ["speeding", "s2", -6, 0],
      ["speeding", "s3", -6, 0],
      ["speeding", "s4", -2, 4],
    ]);
    expect(s.score).toBe(980);
  });
});

describe("CEL points and conditions", () => {
  it("given volunteer records of 4, 25 and 2.5 hours, when evaluated, then they earn min(hours, 10): 4, 10 and 2.5", () => {
    const rs = [vol("v1", "2026-02-01T00:00:00Z", 4), vol("v2", "2026-02-02T00:00:00Z", 25), vol("v3", "2026-02-03T00:00:00Z", 2.5)];
    const s = ev(rs, "2026-02-04T00:00:00Z");
    expect(pts(s)).toEqual([
      ["volunteering", "v1", 4, 0],
      ["volunteering", "v2", 10, 0],
      ["volunteering", "v3", 2.5, 0],
    ]);
    expect(s.score).toBe(1016.5);
    expect(s.contributions[1]?.until).toBe("2027-02-02T00:00:00.000Z");
  });

  it("given volunteering capped at 30 a year, when a 4th record of 7 hours arrives, then it earns 0 and capped shows 7", () => {
    const rs = [
      vol("v1", "2026-01-01T00:00:00Z", 10),
      vol("v2", "2026-02-01T00:00:00Z", 10),
      vol("v3", "2026-03-01T00:00:00Z", 10),
      vol("v4", "2026-04-01T00:00:00Z", 7),
    ];
    const s = ev(rs, "2026-04-01T00:00:00Z");
    expect(pts(s)).toEqual([
      ["volunteering", "v1", 10, 0],
      ["volunteering", "v2", 10, 0],
      ["volunteering", "v3", 10, 0],
      ["volunteering", "v4", 0, 7],
    ]);
    expect(s.score).toBe(1030);
  });

  it("given a positive rule, when its expression yields a negative number, then it never subtracts", () => {
    const s = ev([vol("v1", "2026-02-01T00:00:00Z", -3)], "2026-02-02T00:00:00Z");
    expect(s.contributions).toEqual([]);
    expect(s.score).toBe(1000);
  });

  it("given a rule with when: kmh-over >= 20, when speeding by 19 and by 20, then only the second counts", () => {
    const s = ev([speeding("s1", "2026-05-01T00:00:00Z", 19), speeding("s2", "2026-05-02T00:00:00Z", 20)], "2026-05-03T00:00:00Z");
    expect(pts(s)).toEqual([["speeding", "s2", -6, 0]]);
    expect(s.score).toBe(994);
  });
});

describe("score and tier", () => {
  const at = "2026-06-01T00:00:00Z";
  const cases: [string, SubjectRecord[], number, string][] = [
    ["no records", [], 1000, "A"],
    ["one jaywalking", [jay("j1", "2026-05-01T00:00:00Z")], 995, "B"],
    ["29 volunteer points", [vol("v1", "2026-03-01T00:00:00Z", 10), vol("v2", "2026-04-01T00:00:00Z", 10), vol("v3", "2026-05-01T00:00:00Z", 9)], 1029, "A"],
    ["exactly 30 volunteer points (a tier's minimum is inclusive)", [vol("v1", "2026-03-01T00:00:00Z", 10), vol("v2", "2026-04-01T00:00:00Z", 10), vol("v3", "2026-05-01T00:00:00Z", 10)], 1030, "AA"],
    [
      "30 volunteer points and two blood donations",
      [vol("v1", "2026-03-01T00:00:00Z", 10), vol("v2", "2026-04-01T00:00:00Z", 10), vol("v3", "2026-05-01T00:00:00Z", 10), blood("b1", "2026-05-02T00:00:00Z"), blood("b2", "2026-05-03T00:00:00Z")],
      1050,
      "AAA",
    ],
    ["one judgment default (800 is below the lowest tier's 850: the lowest tier catches it)", [judgmentDefault("d1", "2026-05-01T00:00:00Z", "K-1")], 800, "C"],
    ["two judgment defaults (the second partly capped)", [judgmentDefault("d1", "2026-05-01T00:00:00Z", "K-1"), judgmentDefault("d2", "2026-05-02T00:00:00Z", "K-2")], 700, "C"],
  ];
  for (const [what, rs, score, tier] of cases) {
    it(`given ${what}, when evaluated, then the score is ${score} and the tier ${tier}`, () => {
      const s = ev(rs, at);
      expect(s.score).toBe(score);
      expect(s.tier).toBe(tier);
    });
  }
});

describe("restrict lists", () => {
  const m1 = misconduct("m1", "2026-04-01T00:00:00Z");
  const m1Ref = { source: "airline", id: "m1", type: "aviation.misconduct", occurredAt: "2026-04-01T00:00:00.000Z" };

  it("given on-board misconduct, when evaluated during the next year, then the subject is on aviation-banned for exactly P1Y because of that record", () => {
    const s = ev([m1], "2026-09-01T00:00:00Z");
    expect(s.lists).toEqual([
      { list: "aviation-banned", effect: "restrict", since: "2026-04-01T00:00:00.000Z", until: "2027-04-01T00:00:00.000Z", because: [m1Ref] },
    ]);
    expect(s.measures).toEqual([
      {
        measure: "no-flights-misconduct",
        context: "air-travel",
        effect: "deny",
        code: "CONDUCT",
        basis: CONDUCT_BASIS,
        status: "active",
        since: "2026-04-08T00:00:00.000Z",
        until: "2027-04-01T00:00:00.000Z",
        lists: ["aviation-banned"],
      },
    ]);
    expect(s.nextChangeAt).toBe("2027-04-01T00:00:00.000Z");
  });

  it("given on-board misconduct, when evaluated at the list's until, then neither the list nor the measure remains", () => {
    const s = ev([m1], "2027-04-01T00:00:00Z");
    expect(s.lists).toEqual([]);
    expect(s.measures).toEqual([]);
    expect(s.nextChangeAt).toBeNull();
  });

  it("given two overlapping entries, when the older one runs out, then `because` loses it at that instant, and nextChangeAt announces it", () => {
    const rs = [misconduct("m1", "2026-01-01T00:00:00Z"), misconduct("m2", "2026-06-01T00:00:00Z")];
    const before = ev(rs, "2026-07-01T00:00:00Z");
    expect(ids(before, "aviation-banned")).toEqual(["m1", "m2"]);
    expect(before.lists[0]?.until).toBe("2027-06-01T00:00:00.000Z");
    // At 2027-01-01 m1's year is over: the state changes by itself then.
    expect(before.nextChangeAt).toBe("2027-01-01T00:00:00.000Z");
    const after = ev(rs, "2027-01-01T00:00:00Z");
    expect(ids(after, "aviation-banned")).toEqual(["m2"]);
    expect(after.lists[0]?.since).toBe("2026-01-01T00:00:00.000Z"); // still continuously listed since m1
  });
});

describe("leave rules", () => {
  const d1 = judgmentDefault("d1", "2026-02-01T00:00:00Z", "K-1");

  it("given a debtor on judgment-defaulters, when a court.judgment.fulfilled for the same case arrives, then the debtor leaves at its occurredAt", () => {
    const rs = [d1, fulfilled("f1", "2026-05-01T00:00:00Z", "K-1")];
    const justBefore = ev(rs, "2026-04-30T23:59:59.999Z");
    expect(justBefore.lists.map((l) => [l.list, l.since, l.until])).toEqual([
      ["judgment-defaulters", "2026-02-01T00:00:00.000Z", "2028-02-01T00:00:00.000Z"],
    ]);
    expect(justBefore.nextChangeAt).toBe("2026-05-01T00:00:00.000Z");
    const after = ev(rs, "2026-05-01T00:00:00Z");
    expect(after.lists).toEqual([]);
    expect(after.measures).toEqual([]);
  });

  it("given a debtor on judgment-defaulters, when a fulfilment for a different case arrives, then the debtor stays listed until the full P2Y", () => {
    const s = ev([d1, fulfilled("f1", "2026-05-01T00:00:00Z", "K-2")], "2026-06-01T00:00:00Z");
    expect(s.lists.map((l) => [l.list, l.until, l.because.map((r) => r.id)])).toEqual([
      ["judgment-defaulters", "2028-02-01T00:00:00.000Z", ["d1"]],
    ]);
    expect(s.measures.map((m) => [m.measure, m.status])).toEqual([["no-flights-debtor", "active"]]);
  });

  it("given two cases in default, when one is fulfilled, then the debtor stays listed because of the other one only", () => {
    const rs = [d1, judgmentDefault("d2", "2026-03-01T00:00:00Z", "K-2"), fulfilled("f1", "2026-05-01T00:00:00Z", "K-1")];
    const s = ev(rs, "2026-06-01T00:00:00Z");
    expect(s.lists).toEqual([
      {
        list: "judgment-defaulters",
        effect: "restrict",
        since: "2026-02-01T00:00:00.000Z", // continuously listed since d1
        until: "2028-03-01T00:00:00.000Z",
        because: [{ source: "court", id: "d2", type: "court.judgment.default", occurredAt: "2026-03-01T00:00:00.000Z" }],
      },
    ]);
  });
});

describe("deny measures and notice", () => {
  const d1 = judgmentDefault("d1", "2026-02-01T10:00:00Z", "K-1");
  const debtorMeasure = (status: "pending" | "active") => ({
    measure: "no-flights-debtor",
    context: "air-travel",
    effect: "deny",
    code: "SPC-DEBTOR",
    basis: DEBTOR_BASIS,
    status,
    since: "2026-02-08T10:00:00.000Z",
    until: "2028-02-01T10:00:00.000Z",
    lists: ["judgment-defaulters"],
  });

  it("given a new debtor, when evaluated during the 7-day notice period, then the measure is pending since entry + P7D and nextChangeAt is the notice end", () => {
    const s = ev([d1], "2026-02-03T00:00:00Z");
    expect(s.measures).toEqual([debtorMeasure("pending")]);
    expect(s.nextChangeAt).toBe("2026-02-08T10:00:00.000Z");
    expect(decideAt(s, "air-travel").decision).toBe("allow");
  });

  it("given a new debtor, when the notice period has run, then the measure is active and a checkpoint in a related context is denied with code, basis and until", () => {
    const s = ev([d1], "2026-02-08T10:00:00Z");
    expect(s.measures).toEqual([debtorMeasure("active")]);
    expect(s.nextChangeAt).toBe("2028-02-01T10:00:00.000Z");
    expect(decideAt(s, "air-travel")).toEqual({
      decision: "deny",
      context: "air-travel",
      reasons: [{ code: "SPC-DEBTOR", measure: "no-flights-debtor", basis: DEBTOR_BASIS, until: "2028-02-01T10:00:00.000Z" }],
      privileges: [],
      policy: "unit@1.0.0",
      at: "2026-02-08T10:00:00.000Z",
    });
  });

  it("given an active debtor measure, when a checkpoint asks in an unrelated context, then it is allowed", () => {
    const s = ev([d1], "2026-03-01T00:00:00Z");
    expect(decideAt(s, "public-services")).toEqual({
      decision: "allow",
      context: "public-services",
      reasons: [],
      privileges: [],
      policy: "unit@1.0.0",
      at: "2026-03-01T00:00:00.000Z",
    });
  });

  it("given a debtor who pays within the notice period, when the notice would have run out, then the measure never bites", () => {
    const rs = [d1, fulfilled("f1", "2026-02-05T10:00:00Z", "K-1")];
    // Before the fulfilment is known as a fact, the measure is pending and the fulfilment is the next change.
    const during = ev(rs, "2026-02-03T00:00:00Z");
    expect(during.measures.map((m) => m.status)).toEqual(["pending"]);
    expect(during.nextChangeAt).toBe("2026-02-05T10:00:00.000Z");
    for (const at of ["2026-02-05T10:00:00Z", "2026-02-08T10:00:00Z", "2026-06-01T00:00:00Z"]) {
      const s = ev(rs, at);
      expect(s.lists).toEqual([]);
      expect(s.measures).toEqual([]);
      expect(decideAt(s, "air-travel").decision).toBe("allow");
    }
  });

  it("given a list that lasts less than the notice period, when the subject enters it, then the deny measure never appears", () => {
    const short = compileOrThrow(
      UNIT.replace("aviation-banned: { effect: restrict, enter: aviation.misconduct, for: P1Y }", "aviation-banned: { effect: restrict, enter: aviation.misconduct, for: P5D }"),
      "short.yaml",
    );
    const rs = [misconduct("m1", "2026-04-01T00:00:00Z")];
    for (const at of ["2026-04-01T00:00:00Z", "2026-04-05T23:59:59.999Z"]) {
      const s = ev(rs, at, short);
      expect(s.lists.map((l) => [l.list, l.until])).toEqual([["aviation-banned", "2026-04-06T00:00:00.000Z"]]);
      expect(s.measures).toEqual([]);
      expect(s.nextChangeAt).toBe("2026-04-06T00:00:00.000Z");
    }
  });
});

describe("privilege lists by tier", () => {
  const v = [vol("v1", "2026-01-01T00:00:00Z", 10), vol("v2", "2026-02-01T00:00:00Z", 10), vol("v3", "2026-03-01T00:00:00Z", 10)];

  it("given 20 volunteer points, when evaluated, then the subject is in tier A and not on the green lane", () => {
    const s = ev(v, "2026-02-15T00:00:00Z");
    expect(s.tier).toBe("A");
    expect(s.lists).toEqual([]);
    expect(s.measures).toEqual([]);
  });

  it("given 30 volunteer points from 1 March, when evaluated, then the green lane holds from 1 March until the first 10 points expire", () => {
    const s = ev(v, "2026-06-01T00:00:00Z");
    expect(s.tier).toBe("AA");
    expect(s.lists).toEqual([{ list: "green-lane", effect: "privilege", since: "2026-03-01T00:00:00.000Z", until: "2027-01-01T00:00:00.000Z", because: [] }]);
    const privilege = (measure: string, context: string) => ({
      measure,
      context,
      effect: "privilege",
      code: "GREEN-LANE",
      basis: null,
      status: "active",
      since: "2026-03-01T00:00:00.000Z",
      until: "2027-01-01T00:00:00.000Z",
      lists: ["green-lane"],
    });
    expect(s.measures).toEqual([privilege("express-security", "air-travel"), privilege("deposit-free", "public-services")]);
    expect(s.nextChangeAt).toBe("2027-01-01T00:00:00.000Z");
    expect(decideAt(s, "air-travel")).toEqual({
      decision: "allow",
      context: "air-travel",
      reasons: [],
      privileges: [{ code: "GREEN-LANE", measure: "express-security", until: "2027-01-01T00:00:00.000Z" }],
      policy: "unit@1.0.0",
      at: "2026-06-01T00:00:00.000Z",
    });
  });

  it("given the green lane, when the first volunteer points expire, then the subject leaves it", () => {
    const s = ev(v, "2027-01-01T00:00:00Z");
    expect(s.score).toBe(1020);
    expect(s.lists).toEqual([]);
  });

  it("given a green-lane subject under an active flight ban, when asked, then air travel is denied without privileges and other contexts keep theirs", () => {
    const s = ev([...v, misconduct("m1", "2026-05-01T00:00:00Z")], "2026-06-01T00:00:00Z");
    expect(s.lists.map((l) => l.list)).toEqual(["aviation-banned", "green-lane"]);
    const air = decideAt(s, "air-travel");
    expect(air.decision).toBe("deny");
    expect(air.reasons.map((r) => r.code)).toEqual(["CONDUCT"]);
    expect(air.privileges).toEqual([]);
    const pub = decideAt(s, "public-services");
    expect(pub.decision).toBe("allow");
    expect(pub.privileges).toEqual([{ code: "GREEN-LANE", measure: "deposit-free", until: "2027-01-01T00:00:00.000Z" }]);
  });
});

describe("retraction", () => {
  const j1 = jay("j1", "2026-03-10T08:00:00Z");

  it("given a jaywalking retracted by its own source, when evaluated (even before the retraction occurred), then it never counted", () => {
    const rs = [j1, retraction("traffic-police", "r1", j1, "2026-03-12T00:00:00Z")];
    for (const at of ["2026-03-11T00:00:00Z", "2026-03-12T00:00:00Z"]) {
      const s = ev(rs, at);
      expect(s.contributions).toEqual([]);
      expect(s.score).toBe(1000);
      expect(s.nextChangeAt).toBeNull();
    }
  });

  it("given a retraction naming the same id from a different source, when evaluated, then the original still counts", () => {
    const forged: SubjectRecord = { source: "airline", id: "r1", type: "traffic.jaywalking", occurredAt: t("2026-03-12T00:00:00Z"), fields: {}, retracts: "j1" };
    const s = ev([j1, forged], "2026-03-12T00:00:00Z");
    expect(pts(s)).toEqual([["jaywalking", "j1", -5, 0]]);
    expect(s.score).toBe(995);
  });

  it("given five jaywalkings of which the first is retracted, when evaluated, then the cap is recomputed and the 5th counts in full", () => {
    const rs = [
      jay("j1", "2026-01-10T09:00:00Z"),
      jay("j2", "2026-02-10T09:00:00Z"),
      jay("j3", "2026-03-10T09:00:00Z"),
      jay("j4", "2026-04-10T09:00:00Z"),
      jay("j5", "2026-04-20T09:00:00Z"),
    ];
    const withRetraction = [...rs, retraction("traffic-police", "r1", rs[0] as SubjectRecord, "2026-05-01T00:00:00Z")];
    const s = ev(withRetraction, "2026-04-20T09:00:00Z");
    expect(pts(s)).toEqual([
      ["jaywalking", "j2", -5, 0],
      ["jaywalking", "j3", -5, 0],
      ["jaywalking", "j4", -5, 0],
      ["jaywalking", "j5", -5, 0],
    ]);
    expect(s.score).toBe(980);
  });

  it("given a retracted judgment default, when evaluated, then there is no list, no measure and the checkpoint allows", () => {
    const d1 = judgmentDefault("d1", "2026-02-01T10:00:00Z", "K-1");
    const s = ev([d1, retraction("court", "r-d1", d1, "2026-03-01T00:00:00Z")], "2026-04-01T00:00:00Z");
    expect(s.contributions).toEqual([]);
    expect(s.lists).toEqual([]);
    expect(s.measures).toEqual([]);
    expect(decideAt(s, "air-travel").decision).toBe("allow");
  });
});

describe("late-arriving and future records", () => {
  it("given four jaywalkings in February and a late one from January, when evaluated in any arrival order, then occurredAt decides who hits the cap", () => {
    const feb = ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"].map((d, i) => jay(`f${i + 1}`, `${d}T12:00:00Z`));
    const late = jay("late", "2026-01-15T12:00:00Z");
    const orders = [[...feb, late], [late, ...feb], [feb[2], late, feb[0], feb[3], feb[1]] as SubjectRecord[]];
    const states = orders.map((o) => ev(o, "2026-02-05T00:00:00Z"));
    expect(pts(states[0] as SubjectState)).toEqual([
      ["jaywalking", "late", -5, 0],
      ["jaywalking", "f1", -5, 0],
      ["jaywalking", "f2", -5, 0],
      ["jaywalking", "f3", -5, 0],
      ["jaywalking", "f4", 0, 5],
    ]);
    const bytes = states.map((s) => canonicalJson(s));
    expect(bytes[1]).toBe(bytes[0]);
    expect(bytes[2]).toBe(bytes[0]);
  });

  it("given a record dated after the instant, when evaluated, then it does not count but nextChangeAt is its occurredAt", () => {
    const rs = [vol("v1", "2025-12-01T00:00:00Z", 5), jay("j1", "2026-03-10T08:00:00Z")];
    const s = ev(rs, "2026-01-01T00:00:00Z");
    expect(pts(s)).toEqual([["volunteering", "v1", 5, 0]]);
    expect(s.score).toBe(1005);
    expect(s.nextChangeAt).toBe("2026-03-10T08:00:00.000Z");
  });
});

describe("a deny measure fed by two lists", () => {
  const TWO = `
standing: 1
policy: two
version: 1.0.0
effective: 2026-01-01T00:00:00Z
timezone: UTC
severity: { minor: P3M, general: P1Y, serious: P3Y }
records:
  aviation.misconduct: { category: aviation-conduct, severity: general, sources: [airline] }
  aviation.fraud: { category: aviation-conduct, severity: general, sources: [airline] }
score: { base: 1000, tiers: { A: 1000, B: 0 } }
lists:
  banned: { effect: restrict, enter: aviation.misconduct, for: P1Y }
  fraudsters: { effect: restrict, enter: aviation.fraud, for: P1Y }
contexts:
  air-travel: { related: [aviation-conduct], why: "Safety on board and fare integrity." }
measures:
  - { measure: no-fly, context: air-travel, effect: deny, lists: [banned, fraudsters], code: NOFLY, basis: "Aviation rules art. 1", notice: P7D }
`;
  const two = compileOrThrow(TWO, "two.yaml");
  // banned [2026-01-01, 2027-01-01), fraudsters [2026-12-28, 2027-12-28): listed without a break.
  const rs = [misconduct("m1", "2026-01-01T00:00:00Z"), rec("airline", "x1", "aviation.fraud", "2026-12-28T00:00:00Z")];

  it("given continuous membership across the two lists, when the first list ends, then the measure stays active without a new notice period", () => {
    for (const at of ["2026-12-30T00:00:00Z", "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", "2027-06-01T00:00:00Z"]) {
      const s = ev(rs, at, two);
      expect(s.measures.map((m) => [m.status, m.since, m.until])).toEqual([["active", "2026-01-08T00:00:00.000Z", "2027-12-28T00:00:00.000Z"]]);
      expect(decideAt(s, "air-travel").decision).toBe("deny");
    }
    expect(ev(rs, "2027-01-02T00:00:00Z", two).measures[0]?.lists).toEqual(["fraudsters"]);
    expect(ev(rs, "2027-12-28T00:00:00Z", two).measures).toEqual([]);
  });
});

describe("calendar arithmetic in the policy's time zone", () => {
  const cal = (timezone: string, forDur: string): CompiledPolicy =>
    compileOrThrow(
      `
standing: 1
policy: cal
version: 1.0.0
effective: 2024-01-01T00:00:00Z
timezone: ${timezone}
severity: { minor: P3M, general: P1Y, serious: P3Y }
records:
  volunteer.service: { category: civic-contribution, sources: [volunteer-registry] }
  aviation.misconduct: { category: aviation-conduct, severity: general, sources: [airline] }
score: { base: 1000, tiers: { A: 1000, B: 0 } }
points:
  - { rule: bonus, on: volunteer.service, points: 1, for: ${forDur}, cap: { total: 100, per: P1Y } }
lists:
  banned: { effect: restrict, enter: aviation.misconduct, for: P1Y }
contexts:
  air-travel: { related: [aviation-conduct], why: "Safety on board for everyone." }
measures:
  - { measure: no-fly, context: air-travel, effect: deny, lists: [banned], code: NOFLY, basis: "Aviation conduct rules, art. 2", notice: P7D }
`,
      `cal-${timezone}-${forDur}.yaml`,
    );
  /** The until of a bonus point earned at `occurredAt`, checked at until - 1 ms and at until. */
  const bonusUntil = (policy: CompiledPolicy, occurredAt: string): string => {
    const rs = [rec("volunteer-registry", "v", "volunteer.service", occurredAt)];
    const s = evaluate(policy, rs, t(occurredAt));
    const until = s.contributions[0]?.until;
    if (!until) throw new Error("no contribution");
    expect(evaluate(policy, rs, Date.parse(until) - 1).contributions).toHaveLength(1);
    expect(evaluate(policy, rs, Date.parse(until)).contributions).toHaveLength(0);
    return until;
  };

  it("given P1M in Asia/Shanghai, when counted from 31 January, then it ends on the last day of February at the same wall-clock time (28th, or 29th in a leap year)", () => {
    const p = cal("Asia/Shanghai", "P1M");
    expect(bonusUntil(p, "2026-01-31T10:00:00+08:00")).toBe("2026-02-28T02:00:00.000Z");
    expect(bonusUntil(p, "2028-01-31T10:00:00+08:00")).toBe("2028-02-29T02:00:00.000Z");
  });

  it("given P1M in Asia/Shanghai, when the record is on 30 January in UTC but 31 January in Shanghai, then the month is counted in Shanghai", () => {
    // 2026-01-30T20:00Z is 31 Jan 04:00 in Shanghai; + P1M = 28 Feb 04:00 Shanghai = 27 Feb 20:00Z
    // (UTC arithmetic would have given 28 Feb 20:00Z).
    expect(bonusUntil(cal("Asia/Shanghai", "P1M"), "2026-01-30T20:00:00Z")).toBe("2026-02-27T20:00:00.000Z");
  });

  it("given P1Y, when counted from 29 February 2024, then it ends on 28 February 2025", () => {
    expect(bonusUntil(cal("Asia/Shanghai", "P1Y"), "2024-02-29T09:00:00+08:00")).toBe("2025-02-28T01:00:00.000Z");
    const s = evaluate(cal("Asia/Shanghai", "P1Y"), [rec("airline", "m", "aviation.misconduct", "2024-02-29T09:00:00+08:00")], t("2024-06-01T00:00:00Z"));
    expect(s.lists.map((l) => [l.since, l.until])).toEqual([["2024-02-29T01:00:00.000Z", "2025-02-28T01:00:00.000Z"]]);
    expect(s.measures.map((m) => m.since)).toEqual(["2024-03-07T01:00:00.000Z"]);
  });

  it("given P1D in Europe/Berlin, when it spans the spring DST change (2026-03-29), then it keeps the wall-clock time and lasts 23 hours", () => {
    const until = bonusUntil(cal("Europe/Berlin", "P1D"), "2026-03-28T12:00:00+01:00");
    expect(until).toBe("2026-03-29T10:00:00.000Z"); // 12:00 CEST
    expect(Date.parse(until) - t("2026-03-28T12:00:00+01:00")).toBe(23 * HOUR);
  });

  it("given PT24H in Europe/Berlin, when it spans the spring DST change, then it is 24 hours of elapsed time (13:00 CEST)", () => {
    expect(bonusUntil(cal("Europe/Berlin", "PT24H"), "2026-03-28T12:00:00+01:00")).toBe("2026-03-29T11:00:00.000Z");
  });

  it("given P1D in Europe/Berlin, when it spans the autumn DST change (2026-10-25), then it lasts 25 hours", () => {
    const until = bonusUntil(cal("Europe/Berlin", "P1D"), "2026-10-24T12:00:00+02:00");
    expect(until).toBe("2026-10-25T11:00:00.000Z"); // 12:00 CET
    expect(Date.parse(until) - t("2026-10-24T12:00:00+02:00")).toBe(25 * HOUR);
  });

  it("given a P7D notice in Europe/Berlin, when it spans the spring DST change, then the measure starts at the same wall-clock time a week later", () => {
    const p = cal("Europe/Berlin", "P1D");
    const s = evaluate(p, [rec("airline", "m", "aviation.misconduct", "2026-03-25T09:00:00+01:00")], t("2026-03-26T00:00:00Z"));
    expect(s.measures.map((m) => [m.status, m.since])).toEqual([["pending", "2026-04-01T07:00:00.000Z"]]); // 09:00 CEST
    expect(s.nextChangeAt).toBe("2026-04-01T07:00:00.000Z");
    expect(Date.parse(s.measures[0]?.since ?? "") - t("2026-03-25T09:00:00+01:00")).toBe(7 * DAY - HOUR);
  });

  it("given P3M in Asia/Shanghai, when counted from near month ends, then the day is clamped to the target month's length", () => {
    const p = cal("Asia/Shanghai", "P3M");
    expect(bonusUntil(p, "2025-11-30T12:00:00+08:00")).toBe("2026-02-28T04:00:00.000Z");
    expect(bonusUntil(p, "2023-11-30T12:00:00+08:00")).toBe("2024-02-29T04:00:00.000Z");
    expect(bonusUntil(p, "2025-12-31T12:00:00+08:00")).toBe("2026-03-31T04:00:00.000Z");
    expect(bonusUntil(p, "2026-03-31T12:00:00+08:00")).toBe("2026-06-30T04:00:00.000Z");
    expect(bonusUntil(p, "2026-05-31T12:00:00+08:00")).toBe("2026-08-31T04:00:00.000Z");
  });
});

describe("decide()", () => {
  const at = t("2026-06-01T00:00:00Z");
  const m = (over: Partial<TimedMeasure>): TimedMeasure => ({
    measure: "no-fly",
    context: "air-travel",
    effect: "deny",
    code: "NOFLY",
    basis: "Aviation conduct rules, art. 2",
    since: t("2026-05-01T00:00:00Z"),
    until: t("2026-07-01T00:00:00Z"),
    ...over,
  });
  const perk = m({ measure: "fast-track", effect: "privilege", code: "FAST", basis: null, since: -Infinity, until: Infinity });

  it("given an active deny in air-travel, when asked for air-travel, then deny with code, basis and until", () => {
    const d = decide([m({})], "air-travel", at, "p@1");
    expect(d).toEqual({
      decision: "deny",
      context: "air-travel",
      reasons: [{ code: "NOFLY", measure: "no-fly", basis: "Aviation conduct rules, art. 2", until: "2026-07-01T00:00:00.000Z" }],
      privileges: [],
      policy: "p@1",
      at: "2026-06-01T00:00:00.000Z",
    });
  });

  it("given an active deny in air-travel, when asked for another context, then allow", () => {
    expect(decide([m({})], "rail-high-speed", at, "p@1").decision).toBe("allow");
  });

  it("given a deny measure, when asked at its since, then deny; when asked 1 ms before or at its until, then allow", () => {
    const x = [m({})];
    expect(decide(x, "air-travel", t("2026-05-01T00:00:00Z"), "p").decision).toBe("deny");
    expect(decide(x, "air-travel", t("2026-05-01T00:00:00Z") - 1, "p").decision).toBe("allow");
    expect(decide(x, "air-travel", t("2026-07-01T00:00:00Z"), "p").decision).toBe("allow");
  });

  it("given an open-ended privilege, when not denied, then it is granted; when also denied, then it is withheld", () => {
    expect(decide([perk], "air-travel", at, "p").privileges).toEqual([{ code: "FAST", measure: "fast-track", until: null }]);
    const both = decide([perk, m({})], "air-travel", at, "p");
    expect(both.decision).toBe("deny");
    expect(both.privileges).toEqual([]);
    // A deny in another context does not take the privilege away here.
    const elsewhere = decide([perk, m({ context: "property-purchase" })], "air-travel", at, "p");
    expect(elsewhere).toMatchObject({ decision: "allow", privileges: [{ code: "FAST" }] });
  });
});
