// A synthetic population with plausible frequencies: most people have nothing on
// file, a few percent have traffic points, about 0.5% are court debtors, some
// volunteer or give blood. Deterministic for a seed and a day, so demos and tests
// can be repeated. Every identifier starts with "demo-" so nobody mistakes it for a
// real person's.
import type { RecordInput } from "../ingest/input.js";
import type { Identifier } from "../store/types.js";

export interface DemoOptions {
  readonly subjects: number;
  readonly seed: number;
  /** The demo's "today"; records fall in the years before it. */
  readonly now: number;
}

export interface DemoPopulation {
  readonly subjects: readonly (readonly Identifier[])[];
  readonly records: readonly RecordInput[];
}

/** mulberry32: small, fast, seeded, and good enough for synthetic data and replayable tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
/** A judgment this old has had its notice and any dispute period run under any policy the demo ships. */
const SURELY_IN_FORCE_DAYS = 120;

export function demoNationalId(i: number): string {
  return `demo-${String(i).padStart(6, "0")}`;
}

export function generatePopulation(o: DemoOptions): DemoPopulation {
  const rand = rng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const today = Math.floor(o.now / DAY) * DAY;
  // A time of day between 08:00 and 20:00 UTC, `daysAgo` days before today.
  const ago = (daysAgo: number): string => new Date(today - (daysAgo + 1) * DAY + (8 + Math.floor(rand() * 12)) * 3_600_000 + Math.floor(rand() * 60) * 60_000).toISOString();
  const subjects: Identifier[][] = [];
  const records: RecordInput[] = [];
  let n = 0;
  const id = (prefix: string): string => `${prefix}-${String(++n).padStart(7, "0")}`;
  // Whether some debtor's ban is surely in force today (unpaid, judged long enough ago
  // for its notice period to have run): the demo's printed commands need one.
  let banInForce = false;

  for (let i = 1; i <= o.subjects; i++) {
    const nid = { scheme: "national-id", value: demoNationalId(i) };
    const ids: Identifier[] = [nid];
    const hasPassport = rand() < 0.2;
    const passport = { scheme: "passport", value: `demo-P${String(i).padStart(7, "0")}` };
    if (hasPassport) ids.push(passport);
    subjects.push(ids);

    const r = rand();
    // ~0.5% court debtors; a third of them have since paid.
    if (r < 0.005) {
      const caseNo = `(${2024 + Math.floor(rand() * 3)}) demo court enforcement no. ${1000 + i}`;
      const days = 10 + Math.floor(rand() * 600);
      records.push({ source: "court", id: id("court"), type: "court.judgment.default", subject: nid, occurredAt: ago(days), fields: { case: caseNo, amount: 5000 + Math.floor(rand() * 200000) }, evidence: `court-file://${caseNo}` });
      if (rand() < 0.33 && days > 5) {
        records.push({ source: "court", id: id("court"), type: "court.judgment.fulfilled", subject: nid, occurredAt: ago(Math.floor(rand() * (days - 1))), fields: { case: caseNo } });
      } else if (days >= SURELY_IN_FORCE_DAYS) banInForce = true;
    }
    // ~4% traffic offences in the last year.
    if (rand() < 0.04) {
      const k = 1 + Math.floor(rand() * 3);
      for (let j = 0; j < k; j++) {
        const type = pick(["traffic.speeding", "traffic.speeding", "traffic.red-light", "traffic.jaywalking"] as const);
        const fields = type === "traffic.speeding" ? { "kmh-over": 5 + Math.floor(rand() * 30) } : {};
        records.push({ source: "traffic-police", id: id("tp"), type, subject: nid, occurredAt: ago(Math.floor(rand() * 365)), fields, evidence: `camera://demo/${n}` });
      }
    }
    // ~0.3% aviation misconduct; reported by passport when the subject has one.
    if (rand() < 0.003) {
      records.push({ source: "airline", id: id("air"), type: "aviation.onboard-misconduct", subject: hasPassport ? passport : nid, occurredAt: ago(Math.floor(rand() * 540)), fields: { flight: `DM${100 + Math.floor(rand() * 900)}` }, evidence: `incident-report://demo/${n}` });
    }
    // ~0.2% rail misconduct.
    if (rand() < 0.002) {
      records.push({ source: "railway", id: id("rail"), type: "rail.onboard-misconduct", subject: nid, occurredAt: ago(Math.floor(rand() * 270)), fields: { train: `G${1 + Math.floor(rand() * 9000)}` }, evidence: `incident-report://demo/${n}` });
    }
    // ~6% volunteers, ~3% blood donors.
    if (rand() < 0.06) {
      const k = 1 + Math.floor(rand() * 5);
      for (let j = 0; j < k; j++) {
        records.push({ source: "volunteer-registry", id: id("vol"), type: "volunteer.service", subject: nid, occurredAt: ago(Math.floor(rand() * 400)), fields: { hours: 1 + Math.floor(rand() * 8) } });
      }
    }
    if (rand() < 0.03) {
      records.push({ source: "blood-centre", id: id("blood"), type: "blood.donation", subject: nid, occurredAt: ago(Math.floor(rand() * 400)), fields: { ml: pick([200, 300, 400]) } });
    }
  }
  // A small population may hold no such debtor (at 0.5 %, 2,000 subjects often do not):
  // the first subject becomes one, so `npm start` and `cluster up` print commands that
  // work at any size. Drawn from no random number, so every other subject stays as it was.
  if (!banInForce && o.subjects > 0) {
    const caseNo = "(2026) demo court enforcement no. 1000";
    records.push({ source: "court", id: id("court"), type: "court.judgment.default", subject: { scheme: "national-id", value: demoNationalId(1) }, occurredAt: new Date(today - (SURELY_IN_FORCE_DAYS + 1) * DAY + 10 * 3_600_000).toISOString(), fields: { case: caseNo, amount: 50_000 }, evidence: `court-file://${caseNo}` });
  }
  // A few airline reports name passports nobody has linked yet: they wait in quarantine.
  const stray = Math.max(1, Math.floor(o.subjects / 5000));
  for (let j = 0; j < stray; j++) {
    records.push({ source: "airline", id: id("air"), type: "aviation.onboard-misconduct", subject: { scheme: "passport", value: `demo-X${String(j + 1).padStart(7, "0")}` }, occurredAt: ago(3 + j), fields: { flight: "DM404" }, evidence: `incident-report://demo/${n}` });
  }
  return { subjects, records };
}
