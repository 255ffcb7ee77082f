// Public aggregates for the transparency portal: list sizes and measures per context
// (from stored states), dispute outcomes per source and resolution times (from the
// disputes), and monthly history approximated from dispute and notice dates.
import type { Standing } from "../standing.js";
import type { DisputeRow, ListCount, MeasureCount } from "../store/types.js";

export interface SourceDisputes {
  readonly source: string;
  readonly opened: number;
  readonly resolved: number;
  /** Closed so that the record stops counting: upheld, withdrawn, corrected or expired. */
  readonly overturned: number;
  readonly pending: number;
}

export interface MonthRow {
  readonly month: string;
  readonly disputesOpened: number;
  readonly disputesClosed: number;
  readonly restrictionsAnnounced: number;
}

export interface PublicStats {
  readonly at: number;
  readonly policy: string | null;
  readonly subjects: number;
  readonly lists: readonly ListCount[];
  readonly measures: readonly MeasureCount[];
  readonly contexts: readonly { readonly context: string; readonly active: number; readonly pending: number; readonly privileges: number }[];
  readonly disputes: {
    readonly total: number;
    readonly open: number;
    readonly resolved: number;
    readonly overturned: number;
    readonly medianResolutionMs: number | null;
    readonly bySource: readonly SourceDisputes[];
  };
  readonly months: readonly MonthRow[];
}

const CLOSED = new Set(["withdrawn", "corrected", "upheld", "dismissed", "expired"]);
const OVERTURNED = new Set(["withdrawn", "corrected", "upheld", "expired"]);
const MAX_DISPUTES = 1_000_000;

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function monthOf(t: number, tz: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit" }).formatToParts(new Date(t));
  const y = parts.find((p) => p.type === "year")?.value ?? "0000";
  const m = parts.find((p) => p.type === "month")?.value ?? "00";
  return `${y}-${m}`;
}

export function disputeStats(rows: readonly DisputeRow[]): PublicStats["disputes"] {
  const by = new Map<string, { opened: number; resolved: number; overturned: number; pending: number }>();
  const durations: number[] = [];
  let resolved = 0;
  let overturned = 0;
  for (const d of rows) {
    const s = by.get(d.source) ?? { opened: 0, resolved: 0, overturned: 0, pending: 0 };
    s.opened++;
    if (CLOSED.has(d.status)) {
      s.resolved++;
      resolved++;
      if (d.closedAt !== null) durations.push(d.closedAt - d.openedAt);
    } else s.pending++;
    if (OVERTURNED.has(d.status)) {
      s.overturned++;
      overturned++;
    }
    by.set(d.source, s);
  }
  return {
    total: rows.length,
    open: rows.length - resolved,
    resolved,
    overturned,
    medianResolutionMs: median(durations),
    bySource: [...by.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([source, s]) => ({ source, ...s })),
  };
}

export async function computeStats(standing: Standing): Promise<PublicStats> {
  const now = standing.clock.now();
  const policy = standing.activePolicy(now);
  const tz = policy?.timezone ?? "UTC";
  const reads = standing.reads;
  const [measures, counted, disputes, notices, subjects] = await Promise.all([
    reads.measureCounts(),
    reads.listCounts(),
    reads.listDisputes({ limit: MAX_DISPUTES }),
    reads.noticeTimes(),
    reads.countSubjects(),
  ]);
  // Every list of the policy in force, with zero for the empty ones.
  const lists: ListCount[] = [
    ...(policy ? [...policy.lists.values()].map((l) => counted.find((c) => c.list === l.name) ?? { list: l.name, effect: l.effect, members: 0 }) : []),
    ...counted.filter((c) => !policy?.lists.has(c.list)),
  ];
  const ctx = new Map<string, { active: number; pending: number; privileges: number }>();
  for (const c of policy ? policy.contexts.keys() : []) ctx.set(c, { active: 0, pending: 0, privileges: 0 });
  for (const m of measures) {
    const c = ctx.get(m.context) ?? { active: 0, pending: 0, privileges: 0 };
    if (m.effect === "deny") {
      c.active += m.active;
      c.pending += m.pending;
    } else c.privileges += m.active;
    ctx.set(m.context, c);
  }
  const months = new Map<string, { disputesOpened: number; disputesClosed: number; restrictionsAnnounced: number }>();
  const bump = (t: number, k: "disputesOpened" | "disputesClosed" | "restrictionsAnnounced"): void => {
    if (t > now) return;
    const key = monthOf(t, tz);
    const row = months.get(key) ?? { disputesOpened: 0, disputesClosed: 0, restrictionsAnnounced: 0 };
    row[k]++;
    months.set(key, row);
  };
  for (const d of disputes) {
    bump(d.openedAt, "disputesOpened");
    if (d.closedAt !== null && CLOSED.has(d.status)) bump(d.closedAt, "disputesClosed");
  }
  for (const t of notices) bump(t, "restrictionsAnnounced");
  return {
    at: now,
    policy: policy?.ref ?? null,
    subjects,
    lists,
    measures,
    contexts: [...ctx.entries()].map(([context, c]) => ({ context, ...c })),
    disputes: disputeStats(disputes),
    months: [...months.entries()].sort(([a], [b]) => a.localeCompare(b)).slice(-24).map(([month, r]) => ({ month, ...r })),
  };
}

/** "3 days 4 hours", "2 hours 5 minutes", "under a minute". */
export function duration(ms: number): string {
  const abs = Math.abs(ms);
  const units: [string, number][] = [
    ["day", 86_400_000],
    ["hour", 3_600_000],
    ["minute", 60_000],
  ];
  const parts: string[] = [];
  let rest = abs;
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0 && parts.length < 2) {
      parts.push(`${n} ${name}${n === 1 ? "" : "s"}`);
      rest -= n * size;
    } else if (parts.length > 0) break;
  }
  return parts.length === 0 ? "under a minute" : parts.join(" ");
}
