// Property tests for the evaluator: arbitrary record histories for the shipped
// municipal-credit policy (and for a second, deliberately awkward policy in a DST time
// zone, with list durations that differ from points durations and a deny measure fed
// by three lists). Expectations come from the semantics in docs/policy-language.md
// ("How a policy is evaluated"), computed here independently; none is read back from
// the implementation.
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../canonical.js";
import type { CompiledPolicy } from "../policy/types.js";
import { addDuration, parseDuration, subtractDuration, type Instant, type IsoDuration } from "../time.js";
import { decide, timeMeasures } from "./decide.js";
import { evaluate } from "./evaluate.js";
import type { Contribution, SubjectRecord, SubjectState } from "./types.js";
import { compileOrThrow, DAY, HOUR, withoutAt } from "./test-helpers.js";

const MUNICIPAL = compileOrThrow(
  readFileSync(new URL("../../policies/municipal-credit.yaml", import.meta.url), "utf8"),
  "policies/municipal-credit.yaml",
);

const AWKWARD = compileOrThrow(
  `
standing: 1
policy: awkward
version: 1.0.0
effective: 2026-01-01T00:00:00+01:00
timezone: Europe/Berlin
severity: { minor: P3M, general: P1Y, serious: P3Y }
records:
  court.judgment.default: { category: civil-judgment, severity: serious, sources: [court, enforcement-office], fields: { case: string, amount: number } }
  court.judgment.fulfilled: { category: civil-judgment, sources: [court, enforcement-office], fields: { case: string } }
  traffic.jaywalking: { category: traffic, severity: minor, sources: [traffic-police, city-camera] }
  aviation.onboard-misconduct: { category: aviation-conduct, severity: general, sources: [airline], fields: { flight: string } }
  aviation.fare-fraud: { category: aviation-conduct, severity: general, sources: [airline] }
  volunteer.service: { category: civic-contribution, sources: [volunteer-registry], fields: { hours: number } }
score: { base: 1000, tiers: { AA: 1020, A: 1000, B: 990, C: 900, D: 0 } }
points:
  - { rule: jaywalking, on: traffic.jaywalking, points: -3, for: P1M, cap: { total: -7, per: P1M } }
  - { rule: court-default, on: court.judgment.default, points: "0 - min(50, record.amount / 1000)", for: P1Y, cap: { total: -80, per: P2Y } }
  - { rule: misconduct, on: [aviation.onboard-misconduct, aviation.fare-fraud], points: -10, for: P6M, cap: { total: -15, per: P1Y } }
  - { rule: volunteering, on: volunteer.service, when: "record.hours >= 1.0", points: "min(record.hours, 8)", for: P2M, cap: { total: 20, per: P3M } }
lists:
  defaulters:
    effect: restrict
    enter: court.judgment.default
    leave: { on: court.judgment.fulfilled, when: "record.case == entry.case" }
    for: P18M
  banned: { effect: restrict, enter: aviation.onboard-misconduct, for: P9M }
  fraudsters: { effect: restrict, enter: aviation.fare-fraud, for: P4M }
  good: { effect: privilege, when: "score >= 1010.0" }
contexts:
  air-travel: { related: [civil-judgment, aviation-conduct], why: "Debtors able to pay may not fly; safety and fare integrity." }
  housing: { related: [civil-judgment], why: "A debtor's assets go to the creditor first." }
  library: { related: [], why: "Privileges only." }
measures:
  - { measure: no-fly, context: air-travel, effect: deny, lists: [defaulters, banned, fraudsters], code: NOFLY, basis: "Rules art. 1", notice: P10D }
  - { measure: no-housing, context: housing, effect: deny, lists: [defaulters], code: NOHOUSE, basis: "Rules art. 2", notice: { period: PT0S, reason: "A court order takes effect at once." } }
  - { measure: fast-lane, context: air-travel, effect: privilege, lists: [good], code: FAST }
  - { measure: late-returns, context: library, effect: privilege, lists: [good], code: LATE }
`,
  "awkward.yaml",
);

/** STANDING_PROPERTY_SCALE=20 npx vitest run … runs every property 20 times as often. */
const runs = (n: number): number => Math.max(1, Math.round(n * Number(process.env.STANDING_PROPERTY_SCALE ?? "1")));

// ---------------------------------------------------------------------------------
// Generators

const W0 = Date.parse("2026-01-01T00:00:00Z");
const W1 = Date.parse("2030-01-01T00:00:00Z"); // a 4-year window
const DAYS = Math.round((W1 - W0) / DAY);

/** Any millisecond, or whole days/hours (so records collide with each other and with month-aligned expiries). */
const instantArb: fc.Arbitrary<Instant> = fc.oneof(
  fc.integer({ min: W0, max: W1 }),
  fc.integer({ min: 0, max: DAYS }).map((d) => W0 + d * DAY),
  fc.integer({ min: 0, max: DAYS * 24 }).map((h) => W0 + h * HOUR),
);

interface Step {
  kind: "new" | "retract" | "foreign-retract" | "fulfil" | "echo";
  type: number;
  source: number;
  at: Instant;
  pick: number;
  strs: string[];
  nums: number[];
  delay: number;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom<Step["kind"][]>("new", "new", "new", "new", "new", "retract", "foreign-retract", "fulfil", "fulfil", "echo", "echo"),
  type: fc.nat(),
  source: fc.nat(),
  at: instantArb,
  pick: fc.nat(),
  strs: fc.array(fc.constantFrom("K-1", "K-2", "K-3"), { minLength: 3, maxLength: 3 }),
  // -5 … 60 in halves: crosses every threshold the policies use (1 h, 8/10 h, 20 km/h).
  nums: fc.array(fc.integer({ min: -10, max: 120 }).map((n) => n / 2), { minLength: 3, maxLength: 3 }),
  delay: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 400 * DAY })),
});

const ECHO_PERIODS = ["P7D", "P10D", "P1M", "P2M", "P3M", "P4M", "P6M", "P9M", "P180D", "P1Y", "P18M", "P2Y"].map((d) => parseDuration(d) as IsoDuration);

interface Arrival {
  record: SubjectRecord;
  arrival: Instant;
}

/** Turns generated steps into a history of records valid for `policy`, each with an arrival time. */
function build(policy: CompiledPolicy, steps: readonly Step[]): Arrival[] {
  const types = [...policy.records.keys()].sort();
  const allSources = [...new Set([...policy.records.values()].flatMap((r) => r.sources))].sort();
  const out: Arrival[] = [];
  steps.forEach((s, i) => {
    const id = `r${i}`;
    const arrivalOf = (occurredAt: Instant): Instant => occurredAt + s.delay;
    const originals = out.map((a) => a.record).filter((r) => r.retracts === undefined);
    if ((s.kind === "retract" || s.kind === "foreign-retract") && originals.length > 0) {
      const o = originals[s.pick % originals.length] as SubjectRecord;
      const others = allSources.filter((x) => x !== o.source);
      const source = s.kind === "retract" ? o.source : (others[s.pick % others.length] as string);
      const occurredAt = Math.max(o.occurredAt, s.at);
      out.push({ record: { source, id, type: o.type, occurredAt, fields: {}, retracts: o.id }, arrival: arrivalOf(occurredAt) });
      return;
    }
    const fulfilledDef = policy.records.get("court.judgment.fulfilled");
    const defaults = originals.filter((r) => r.type === "court.judgment.default");
    if (s.kind === "fulfil" && fulfilledDef && defaults.length > 0) {
      const d = defaults[s.pick % defaults.length] as SubjectRecord;
      const source = fulfilledDef.sources.includes(d.source) ? d.source : (fulfilledDef.sources[0] as string);
      out.push({ record: { source, id, type: "court.judgment.fulfilled", occurredAt: s.at, fields: { case: d.fields.case } }, arrival: arrivalOf(s.at) });
      return;
    }
    if (s.kind === "echo" && originals.length > 0) {
      // The same kind of record again, exactly one period after an earlier one: lands on
      // cap-window edges, expiries and notice ends.
      const o = originals[s.pick % originals.length] as SubjectRecord;
      const period = ECHO_PERIODS[s.type % ECHO_PERIODS.length] as IsoDuration;
      const occurredAt = addDuration(o.occurredAt, period, policy.timezone);
      out.push({ record: { ...o, id, occurredAt }, arrival: arrivalOf(occurredAt) });
      return;
    }
    const type = types[s.type % types.length] as string;
    const def = policy.records.get(type);
    if (!def) throw new Error("unreachable");
    const source = def.sources[s.source % def.sources.length] as string;
    const fields: Record<string, unknown> = {};
    def.fields.forEach((f, k) => {
      const n = s.nums[k % s.nums.length] as number;
      const str = s.strs[k % s.strs.length] as string;
      // Amounts in the thousands, so an amount-based points expression varies.
      const num = f.name === "amount" ? Math.abs(n) * 2000 : n;
      fields[f.name] =
        f.type === "string" ? str : f.type === "number" ? num : f.type === "integer" ? Math.round(num) : f.type === "boolean" ? n > 0 : "2026-01-01";
    });
    out.push({ record: { source, id, type, occurredAt: s.at, fields }, arrival: arrivalOf(s.at) });
  });
  return out;
}

const historyArb = (policy: CompiledPolicy, maxLength = 20): fc.Arbitrary<Arrival[]> =>
  fc.array(stepArb, { maxLength }).map((steps) => build(policy, steps));
const recordsArb = (policy: CompiledPolicy, maxLength = 20): fc.Arbitrary<SubjectRecord[]> =>
  historyArb(policy, maxLength).map((h) => h.map((a) => a.record));

// ---------------------------------------------------------------------------------
// Independent expectations

/** The records that count, straight from §4: a source's retraction removes its own record, nothing else. */
function countingRecords(records: readonly SubjectRecord[]): SubjectRecord[] {
  const retracted = new Set(records.filter((r) => r.retracts !== undefined).map((r) => `${r.source}\u0000${r.retracts}`));
  return records.filter((r) => r.retracts === undefined && !retracted.has(`${r.source}\u0000${r.id}`));
}

function expectedTier(policy: CompiledPolicy, score: number): string {
  const sorted = [...policy.score.tiers].sort((a, b) => b.min - a.min);
  return (sorted.find((x) => score >= x.min) ?? (sorted[sorted.length - 1] as { name: string })).name;
}

const same = (a: SubjectState, b: SubjectState): boolean => canonicalJson(withoutAt(a)) === canonicalJson(withoutAt(b));
const ms = (iso: string | null): number => (iso === null ? NaN : Date.parse(iso));

/** Invariants every single state must satisfy (properties g and h, plus coherence of measures). */
function checkState(policy: CompiledPolicy, s: SubjectState): void {
  const at = ms(s.at);
  // (g) score = base + the sum of the active contributions' points; the tier follows from the score.
  const sum = s.contributions.reduce((acc, c) => acc + c.points, policy.score.base);
  expect(Math.abs(s.score - sum)).toBeLessThan(1e-6);
  expect(s.tier).toBe(expectedTier(policy, s.score));
  for (const c of s.contributions) {
    expect(ms(c.from)).toBeLessThanOrEqual(at);
    if (c.until !== null) expect(ms(c.until)).toBeGreaterThan(at);
  }
  for (const l of s.lists) {
    if (l.since !== null) expect(ms(l.since)).toBeLessThanOrEqual(at);
    if (l.until !== null) expect(ms(l.until)).toBeGreaterThan(at);
  }
  // (h) a deny measure's context relates the categories of every record that put the
  // subject on the lists it comes from, and those lists are restrict lists.
  for (const m of s.measures) {
    expect(m.lists.length).toBeGreaterThan(0);
    if (m.effect === "deny") {
      const related = policy.contexts.get(m.context)?.related ?? [];
      for (const name of m.lists) {
        const membership = s.lists.find((l) => l.list === name);
        expect(membership?.effect).toBe("restrict");
        expect(membership?.because.length).toBeGreaterThan(0);
        for (const r of membership?.because ?? []) expect(related).toContain(policy.records.get(r.type)?.category);
      }
      expect(m.basis).toBeTruthy();
    }
    // status, since and until agree with the instant
    if (m.status === "active") expect(m.since === null || ms(m.since) <= at).toBe(true);
    else expect(ms(m.since)).toBeGreaterThan(at);
    if (m.until !== null) {
      expect(ms(m.until)).toBeGreaterThan(at);
      if (m.since !== null) expect(ms(m.since)).toBeLessThan(ms(m.until));
    }
  }
  // A decision agrees with the measures: deny iff an active deny measure in that context.
  for (const ctx of policy.contexts.keys()) {
    const d = decide(timeMeasures(s.measures), ctx, at, s.policy);
    const denies = s.measures.filter((m) => m.context === ctx && m.effect === "deny" && m.status === "active");
    expect(d.decision).toBe(denies.length > 0 ? "deny" : "allow");
    if (d.decision === "deny") expect(d.privileges).toEqual([]);
  }
}

/**
 * With no record occurring in between, a later state `n` keeps what an earlier state `p`
 * said about the future: contributions, list memberships and measures that `p` showed
 * as lasting past `n.at` are still there with the same from/since and until, and a
 * measure that was pending has become active once its since has come.
 */
function keepsPromises(p: SubjectState, n: SubjectState): void {
  const x = ms(n.at);
  const lasts = (until: string | null): boolean => until === null || ms(until) > x;
  for (const c of p.contributions.filter((c) => lasts(c.until))) {
    expect(n.contributions).toContainEqual(c);
  }
  for (const l of p.lists.filter((l) => lasts(l.until))) {
    expect(n.lists.find((k) => k.list === l.list)).toMatchObject({ since: l.since, until: l.until, effect: l.effect });
  }
  for (const m of p.measures.filter((m) => lasts(m.until))) {
    const status = m.since === null || ms(m.since) <= x ? "active" : "pending";
    expect(n.measures.find((k) => k.measure === m.measure)).toMatchObject({ since: m.since, until: m.until, status });
  }
}

const instantsOf = (rs: readonly SubjectRecord[]): Instant[] => rs.map((r) => r.occurredAt);

// ---------------------------------------------------------------------------------

describe.each([
  ["municipal-credit", MUNICIPAL],
  ["awkward (Europe/Berlin, three-list measure)", AWKWARD],
] as const)("evaluate() properties: %s", (_name, policy) => {
  it("(a) arrival order is irrelevant: a shuffled history gives canonically identical states", () => {
    fc.assert(
      fc.property(
        recordsArb(policy).chain((rs) => fc.tuple(fc.constant(rs), fc.shuffledSubarray(rs, { minLength: rs.length, maxLength: rs.length }))),
        fc.array(instantArb, { minLength: 1, maxLength: 3 }),
        ([rs, shuffled], ats) => {
          expect(shuffled).toHaveLength(rs.length);
          for (const at of [...ats, ...instantsOf(rs).slice(0, 5)]) {
            expect(canonicalJson(evaluate(policy, shuffled, at))).toBe(canonicalJson(evaluate(policy, rs, at)));
          }
        },
      ),
      { numRuns: runs(150) },
    );
  });

  it("(b) determinism: two calls are byte-identical, and the input is not modified", () => {
    fc.assert(
      fc.property(recordsArb(policy), instantArb, (rs, at) => {
        const before = JSON.stringify(rs);
        const one = evaluate(policy, rs, at);
        const two = evaluate(policy, structuredClone(rs), at);
        expect(JSON.stringify(two)).toBe(JSON.stringify(one));
        expect(canonicalJson(two)).toBe(canonicalJson(one));
        expect(JSON.stringify(rs)).toBe(before);
      }),
      { numRuns: runs(150) },
    );
  });

  it("(c) a record alone: at the latest until of its contributions, lists and measures, nothing of it remains", () => {
    fc.assert(
      fc.property(recordsArb(policy, 8), (rs) => {
        for (const r of countingRecords(rs)) {
          const s = evaluate(policy, [r], r.occurredAt);
          checkState(policy, s);
          const untils = [...s.contributions.map((c) => c.until), ...s.lists.map((l) => l.until), ...s.measures.map((m) => m.until)];
          const refersTo = (x: SubjectState): boolean => canonicalJson(x).includes(`"id":${JSON.stringify(r.id)}`);
          if (untils.length === 0) {
            // No effect at all (a fulfilment with nothing to fulfil, a condition that does not hold, …)
            expect(refersTo(s)).toBe(false);
            expect(s.score).toBe(policy.score.base);
            continue;
          }
          // Everything negative expires, and in these policies so does everything else.
          expect(untils).not.toContain(null);
          const end = Math.max(...untils.map(ms));
          expect(refersTo(evaluate(policy, [r], end - 1))).toBe(true);
          const after = evaluate(policy, [r], end);
          expect(refersTo(after)).toBe(false);
          expect(after.contributions).toEqual([]);
          expect(after.lists).toEqual([]);
          expect(after.measures).toEqual([]);
          expect(after.score).toBe(policy.score.base);
          expect(after.nextChangeAt).toBeNull();
        }
      }),
      { numRuns: runs(100) },
    );
  });

  it("(d) caps are never exceeded in any window of the cap period, and withhold only when the window is full", () => {
    fc.assert(
      fc.property(recordsArb(policy, 25), (rs) => {
        const tz = policy.timezone;
        // A contribution is final from the instant its record occurs (later records
        // cannot change it), so collect every contribution at its own record's instant.
        const seen = new Map<string, Contribution>();
        for (const r of countingRecords(rs)) {
          const s = evaluate(policy, rs, r.occurredAt);
          for (const c of s.contributions) {
            const k = `${c.rule}\u0000${c.record.source}\u0000${c.record.id}`;
            const prev = seen.get(k);
            if (prev) expect(c).toEqual(prev);
            else seen.set(k, c);
          }
        }
        for (const rule of policy.points) {
          const cs = [...seen.values()].filter((c) => c.rule === rule.rule);
          const capAbs = Math.abs(rule.cap.total);
          const windowSum = (lo: number, hi: number, hiInclusive: boolean): number =>
            cs
              .filter((d) => {
                const f = ms(d.from);
                return hiInclusive ? lo < f && f <= hi : lo <= f && f < hi;
              })
              .reduce((acc, d) => acc + Math.abs(d.points), 0);
          for (const c of cs) {
            const from = ms(c.from);
            // the points never go against the rule's direction
            expect(c.points * rule.direction).toBeGreaterThanOrEqual(0);
            expect(c.capped).toBeGreaterThanOrEqual(0);
            if (typeof rule.points === "number") expect(Math.abs(c.points) + c.capped).toBeCloseTo(Math.abs(rule.points), 9);
            // the window (from - per, from] that ends at this contribution
            const back = windowSum(subtractDuration(from, rule.cap.per, tz), from, true);
            expect(back).toBeLessThanOrEqual(capAbs + 1e-6);
            // ... and if something was withheld, it is because that window was full
            if (c.capped > 0) expect(back).toBeCloseTo(capAbs, 6);
            // the window [from, from + per) that starts at this contribution
            expect(windowSum(from, addDuration(from, rule.cap.per, tz), false)).toBeLessThanOrEqual(capAbs + 1e-6);
          }
        }
      }),
      { numRuns: runs(100) },
    );
  });

  it("(e) incremental equals replay: a follower that re-evaluates only on arrival and at nextChangeAt ends in the replayed state", () => {
    fc.assert(
      fc.property(historyArb(policy, 15), fc.integer({ min: 0, max: 3 * 365 * DAY }), (history, extra) => {
        const arrivals = history.map((a, i) => ({ ...a, i })).sort((a, b) => a.arrival - b.arrival || a.i - b.i);
        let known: SubjectRecord[] = [];
        let state = evaluate(policy, known, W0 - 1);
        let wakeUps = 0;
        // The follower only wakes at nextChangeAt (strictly before `limit`, or at it when inclusive).
        const advanceTo = (limit: Instant, inclusive: boolean): void => {
          while (state.nextChangeAt !== null) {
            const n = ms(state.nextChangeAt);
            if (n > limit || (!inclusive && n === limit)) break;
            state = evaluate(policy, known, n);
            if (++wakeUps > 10_000) throw new Error("nextChangeAt does not advance");
          }
        };
        for (const a of arrivals) {
          advanceTo(a.arrival, false);
          known = [...known, a.record];
          state = evaluate(policy, known, a.arrival);
        }
        const end = (arrivals[arrivals.length - 1]?.arrival ?? W0) + extra;
        advanceTo(end, true);
        const replay = evaluate(
          policy,
          history.map((a) => a.record),
          end,
        );
        expect(canonicalJson(withoutAt(state))).toBe(canonicalJson(withoutAt(replay)));
        for (const ctx of policy.contexts.keys()) {
          expect(decide(timeMeasures(state.measures), ctx, end, state.policy)).toEqual(decide(timeMeasures(replay.measures), ctx, end, replay.policy));
        }
      }),
      { numRuns: runs(100) },
    );
  });

  it("(f) nextChangeAt is truthful along the whole timeline, states keep their promises, and (g)/(h) hold in every state on it", () => {
    fc.assert(
      fc.property(recordsArb(policy, 12), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 2 }), (rs, fractions) => {
        const occurred = new Set(instantsOf(countingRecords(rs)));
        // Walk from before the window to the end of time, one change at a time.
        let at = W0 - DAY;
        let s = evaluate(policy, rs, at);
        // States seen since the last record occurred: what they said would last must last.
        let promises: SubjectState[] = [];
        for (let segments = 0; ; segments++) {
          expect(segments).toBeLessThan(1000);
          checkState(policy, s);
          for (const p of promises) keepsPromises(p, s);
          promises.push(s);
          if (s.nextChangeAt === null) {
            // Nothing changes any more, however long we wait.
            for (const later of [at + 1, at + 10 * 365 * DAY, at + 100 * 365 * DAY]) expect(same(evaluate(policy, rs, later), s)).toBe(true);
            break;
          }
          const next = ms(s.nextChangeAt);
          expect(next).toBeGreaterThan(at);
          // Between `at` and nextChangeAt the state is the same, except for `at`.
          const samples = new Set([at + 1, next - 1, ...fractions.map((f) => at + Math.floor((next - at) * f))]);
          for (const x of samples) {
            if (x <= at || x >= next) continue;
            expect(same(evaluate(policy, rs, x), s)).toBe(true);
          }
          // At nextChangeAt something changes, unless it is a record's occurredAt and that
          // record happens to contribute nothing (e.g. a fulfilment for no listed case).
          const n = evaluate(policy, rs, next);
          if (same(n, s)) expect(occurred.has(next)).toBe(true);
          if (occurred.has(next)) promises = [];
          at = next;
          s = n;
        }
      }),
      { numRuns: runs(100) },
    );
  });

  it("(g) score = base + Σ points and (h) deny contexts relate the listing records, at arbitrary instants", () => {
    fc.assert(
      fc.property(recordsArb(policy, 25), fc.array(instantArb, { minLength: 1, maxLength: 4 }), (rs, ats) => {
        for (const at of [...ats, ...instantsOf(rs).slice(0, 4)]) checkState(policy, evaluate(policy, rs, at));
      }),
      { numRuns: runs(150) },
    );
  });
});
