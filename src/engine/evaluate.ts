// The evaluator: a pure function from (policy, a subject's records, an instant) to
// that subject's state. No I/O, no clock: the instant is an argument. The same
// inputs give byte-identical canonical output whatever order the records came in.
import { addDuration, isoUtc, subtractDuration, type Instant } from "../time.js";
import type { CompiledPolicy, ListDef } from "../policy/types.js";
import type {
  ListApplication,
  Contribution,
  ListMembership,
  MeasureState,
  RecordRef,
  SubjectRecord,
  SubjectState,
} from "./types.js";

const key = (source: string, id: string): string => `${source}\u0000${id}`;

export function compareRecords(a: SubjectRecord, b: SubjectRecord): number {
  return a.occurredAt - b.occurredAt || cmp(a.source, b.source) || cmp(a.id, b.id);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// `+ 0` turns -0 (a fully capped negative contribution) into 0.
const round = (x: number): number => Math.round(x * 1e6) / 1e6 + 0;

function ref(r: SubjectRecord): RecordRef {
  return { source: r.source, id: r.id, type: r.type, occurredAt: isoUtc(r.occurredAt) };
}

interface Interval {
  start: number; // may be -Infinity
  end: number; // may be Infinity
  records: SubjectRecord[];
  /** When the subject could first be told of this stretch (notice runs from here). */
  known: number;
}

interface Grant {
  rule: string;
  record: SubjectRecord;
  points: number;
  capped: number;
  from: Instant;
  until: number; // Infinity when the rule has no duration
}

/** Whether a disputed record counts at `at`, and when that can next change. */
function disputeCounts(r: SubjectRecord, at: number): { counts: boolean; change: number | undefined } {
  const d = r.dispute;
  if (!d || at < d.openedAt) return { counts: true, change: d && d.openedAt > at ? d.openedAt : undefined };
  if (d.closedAt !== null && at >= d.closedAt) return { counts: d.counts !== false, change: undefined };
  if (d.closedAt === null && at >= d.deadline) return { counts: false, change: undefined };
  const next = d.closedAt !== null ? Math.min(d.closedAt, d.deadline) : d.deadline;
  return { counts: !d.suspend, change: next };
}

/**
 * The records that count at `at`: known types, not retracted or superseded, not
 * removed or suspended by a dispute, in canonical order. `changes` collects instants
 * at which a dispute changes that.
 */
export function countingRecords(policy: CompiledPolicy, records: readonly SubjectRecord[], at = Infinity, changes?: number[]): SubjectRecord[] {
  const retracted = new Set<string>();
  for (const r of records) {
    if (r.retracts !== undefined) retracted.add(key(r.source, r.retracts));
    if (r.supersedes !== undefined) retracted.add(key(r.source, r.supersedes));
  }
  return records
    .filter((r) => {
      if (r.retracts !== undefined || retracted.has(key(r.source, r.id)) || !policy.records.has(r.type)) return false;
      const d = disputeCounts(r, at);
      if (d.change !== undefined) changes?.push(d.change);
      return d.counts;
    })
    .sort(compareRecords);
}

function grantsFor(policy: CompiledPolicy, facts: readonly SubjectRecord[]): Grant[] {
  const tz = policy.timezone;
  const grants: Grant[] = [];
  for (const rule of policy.points) {
    const awarded: { t: Instant; pts: number }[] = [];
    const capAbs = Math.abs(rule.cap.total);
    for (const r of facts) {
      if (!rule.on.includes(r.type)) continue;
      if (rule.when && !rule.when.evalBool({ record: r.fields })) continue;
      let raw = typeof rule.points === "number" ? rule.points : rule.points.evalNumber({ record: r.fields });
      // A rule's cap sign says which way it may move the score; it never moves the other way.
      raw = rule.direction < 0 ? Math.min(raw, 0) : Math.max(raw, 0);
      if (raw === 0) continue;
      const windowStart = subtractDuration(r.occurredAt, rule.cap.per, tz);
      let used = 0;
      for (const a of awarded) if (a.t > windowStart && a.t <= r.occurredAt) used += Math.abs(a.pts);
      const room = Math.max(0, round(capAbs - used));
      const granted = Math.min(Math.abs(raw), room);
      awarded.push({ t: r.occurredAt, pts: granted });
      grants.push({
        rule: rule.rule,
        record: r,
        points: round(rule.direction * granted),
        capped: round(Math.abs(raw) - granted),
        from: r.occurredAt,
        until: rule.for ? addDuration(r.occurredAt, rule.for, tz) : Infinity,
      });
    }
  }
  return grants;
}

function scoreAt(policy: CompiledPolicy, grants: readonly Grant[], t: number): number {
  let s = policy.score.base;
  for (const g of grants) if (g.from <= t && t < g.until) s += g.points;
  return round(s);
}

export function tierOf(policy: CompiledPolicy, score: number): string {
  const tiers = policy.score.tiers;
  for (const t of tiers) if (score >= t.min) return t.name;
  return (tiers[tiers.length - 1] as { name: string }).name;
}

function entryIntervals(policy: CompiledPolicy, list: ListDef, facts: readonly SubjectRecord[], applications: readonly ListApplication[]): Interval[] {
  const enter = list.enter;
  if (!enter) return [];
  const out: Interval[] = [];
  const applied = applications.filter((a) => a.list === list.name).map((a) => a.at).sort((a, b) => a - b);
  for (const r of facts) {
    if (!enter.on.includes(r.type)) continue;
    if (enter.when && !enter.when.evalBool({ record: r.fields })) continue;
    let end = list.for ? addDuration(r.occurredAt, list.for, policy.timezone) : Infinity;
    if (list.leave) {
      for (const l of facts) {
        if (l.occurredAt < r.occurredAt || l.occurredAt >= end || !list.leave.on.includes(l.type)) continue;
        if (list.leave.when && !list.leave.when.evalBool({ record: l.fields, entry: r.fields })) continue;
        end = l.occurredAt;
        break;
      }
    }
    // Recovery by rule: an application made once the minimum period has passed ends the entry then.
    if (list.earlyExit) {
      const from = addDuration(r.occurredAt, list.earlyExit, policy.timezone);
      const a = applied.find((t) => t >= from && t < end);
      if (a !== undefined) end = a;
    }
    if (end > r.occurredAt) out.push({ start: r.occurredAt, end, records: [r], known: Math.max(r.occurredAt, r.receivedAt ?? r.occurredAt) });
  }
  return out;
}

/** Intervals where a score/tier condition holds, over the known timeline. */
function conditionIntervals(policy: CompiledPolicy, list: ListDef, grants: readonly Grant[]): Interval[] {
  const cond = list.when;
  if (!cond) return [];
  const points = new Set<number>();
  for (const g of grants) {
    points.add(g.from);
    if (Number.isFinite(g.until)) points.add(g.until);
  }
  const bounds = [-Infinity, ...[...points].sort((a, b) => a - b)];
  const out: Interval[] = [];
  for (let i = 0; i < bounds.length; i++) {
    const start = bounds[i] as number;
    const end = i + 1 < bounds.length ? (bounds[i + 1] as number) : Infinity;
    const probe = Number.isFinite(start) ? start : end === Infinity ? 0 : end - 1;
    const score = scoreAt(policy, grants, probe);
    const holds = cond.evalBool({ score, tier: tierOf(policy, score) });
    if (!holds) continue;
    const prev = out[out.length - 1];
    if (prev && prev.end === start) prev.end = end;
    else out.push({ start, end, records: [], known: start });
  }
  return out;
}

/** Merges intervals into the one that contains `at`, collecting the records active at `at`. */
function unionAt(intervals: readonly Interval[], at: number): Interval | undefined {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let cur: Interval | undefined;
  const merged: Interval[] = [];
  for (const iv of sorted) {
    if (cur && iv.start <= cur.end) {
      cur.end = Math.max(cur.end, iv.end);
      cur.records.push(...iv.records);
      cur.known = Math.min(cur.known, iv.known);
    } else {
      cur = { start: iv.start, end: iv.end, records: [...iv.records], known: iv.known };
      merged.push(cur);
    }
  }
  const hit = merged.find((m) => m.start <= at && at < m.end);
  if (!hit) return undefined;
  const activeRecords = intervals.filter((iv) => iv.start <= at && at < iv.end).flatMap((iv) => iv.records);
  return { start: hit.start, end: hit.end, records: activeRecords.sort(compareRecords), known: hit.known };
}

const iso = (t: number): string | null => (Number.isFinite(t) ? isoUtc(t) : null);

/**
 * Evaluates one subject's state at instant `at`. Records that occur after `at` are
 * not counted yet, but their time is reported as `nextChangeAt`.
 */
export function evaluate(
  policy: CompiledPolicy,
  records: readonly SubjectRecord[],
  at: Instant,
  applications: readonly ListApplication[] = [],
): SubjectState {
  const changes: number[] = [];
  const all = countingRecords(policy, records, at, changes);
  const facts = all.filter((r) => r.occurredAt <= at);
  const upcoming = all.filter((r) => r.occurredAt > at);
  for (const r of upcoming) changes.push(r.occurredAt);
  // A future-dated dispute opening or a future record counted only under another
  // dispute outcome is announced through `changes` by countingRecords.
  const pastApplications = applications.filter((a) => a.at <= at);
  for (const a of applications) if (a.at > at) changes.push(a.at);

  const grants = grantsFor(policy, facts);
  const active = grants.filter((g) => g.from <= at && at < g.until);
  for (const g of active) if (Number.isFinite(g.until)) changes.push(g.until);
  const score = scoreAt(policy, grants, at);
  const tier = tierOf(policy, score);
  const contributions: Contribution[] = active.map((g) => ({
    rule: g.rule,
    record: ref(g.record),
    points: g.points,
    capped: g.capped,
    from: isoUtc(g.from),
    until: iso(g.until),
  }));

  const memberships = new Map<string, Interval>();
  const timelines = new Map<string, Interval[]>();
  const lists: ListMembership[] = [];
  for (const list of policy.lists.values()) {
    const intervals = list.when ? conditionIntervals(policy, list, grants) : entryIntervals(policy, list, facts, pastApplications);
    timelines.set(list.name, intervals);
    const u = unionAt(intervals, at);
    if (!u) continue;
    memberships.set(list.name, u);
    if (Number.isFinite(u.end)) changes.push(u.end);
    // An entry that ends inside a longer membership still changes `because` when it ends.
    for (const iv of intervals) if (iv.start <= at && at < iv.end && Number.isFinite(iv.end)) changes.push(iv.end);
    lists.push({ list: list.name, effect: list.effect, since: iso(u.start), until: iso(u.end), because: u.records.map(ref) });
  }

  const measures: MeasureState[] = [];
  for (const m of policy.measures) {
    // The whole timeline of every list the measure reads: membership that continues
    // from one of its lists into another is one stretch with one notice period.
    const ivs = m.lists.flatMap((l) => timelines.get(l) ?? []);
    const u = unionAt(ivs, at);
    if (!u) continue;
    // Notice runs from when the subject could first be told, so a record that arrives
    // late never makes a restriction bite without notice.
    const since = m.effect === "deny" ? addDuration(Math.max(u.start, u.known), m.notice, policy.timezone) : u.start;
    if (since >= u.end) continue; // the membership ends before notice runs out: it never bites
    const status = since <= at ? "active" : "pending";
    if (status === "pending") changes.push(since);
    measures.push({
      measure: m.measure,
      context: m.context,
      effect: m.effect,
      code: m.code,
      basis: m.basis ?? null,
      status,
      since: iso(since),
      until: iso(u.end),
      lists: m.lists.filter((l) => memberships.has(l)),
    });
  }

  const next = changes.filter((t) => t > at).reduce((a, b) => Math.min(a, b), Infinity);
  return {
    policy: policy.ref,
    at: isoUtc(at),
    score,
    tier,
    contributions,
    lists,
    measures,
    nextChangeAt: iso(next),
  };
}
