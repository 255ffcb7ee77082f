// The decision log, kept compactly: a screening's identifiers, and the checks a server
// answered since its last flush, are stored as one row per bucket of identifiers (a hash of the identifier, SCREENING_BUCKETS
// of them), each row holding its identifiers' decisions as lines of JSON, and the batch is
// journaled as one entry. A row per identifier cost ~20 µs on the reference machine, two
// thirds of it the index that lets a statement find a subject's lookups; with buckets a
// statement reads the rows of its identifiers' buckets only (1/SCREENING_BUCKETS of all
// lookups), and a batch of thousands of identifiers writes a few dozen rows. Checks were
// a row each until the same cost was measured on the HTTP check path (BENCHMARKS.md).
import type { Instant } from "../time.js";
import type { DecisionLogRow, Identifier } from "./types.js";

export const SCREENING_BUCKETS = 64;

/** One screened identifier's decision. */
export interface ScreenedDecision {
  readonly id: string;
  readonly scheme: string;
  readonly value: string;
  readonly decision: "allow" | "deny";
  readonly codes: readonly string[];
  /** When it was decided, where that differs from the batch's time (a check, logged with others). */
  readonly at?: Instant;
}

/** Decisions of one screening (or a part of a large one), asked by one key in one context. */
export interface ScreeningLogBatch {
  /** Unique per batch: the rows' ids are this and their bucket. */
  readonly id: string;
  readonly at: Instant;
  readonly keyId: string;
  readonly askedBy: string;
  readonly context: string;
  readonly decisions: readonly ScreenedDecision[];
}

/** A stored row: the batch's decisions whose identifier falls in `bucket`. */
export interface ScreeningRow {
  readonly id: string;
  readonly at: Instant;
  readonly keyId: string;
  readonly askedBy: string;
  readonly context: string;
  readonly bucket: number;
  /** How many decisions `entries` holds (what the log counts, without reading them). */
  readonly lines: number;
  /**
   * One JSON array per line: [decision id, scheme, value, decision, codes], and a sixth
   * element, the decision's time in ms, where it is not the row's `at`. The row's `at` is
   * the batch's or the latest of its lines', whichever is later, so it bounds every line's
   * and a reader going newest row first can stop early.
   */
  readonly entries: string;
}

/** FNV-1a over the scheme, a NUL and the value (UTF-16 code units), into a bucket. */
export function screeningBucket(scheme: string, value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < scheme.length; i++) h = Math.imul(h ^ scheme.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0, 0x01000193);
  for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
  return (h >>> 0) % SCREENING_BUCKETS;
}

/** The rows a batch is stored as, one per bucket that has any of its identifiers. */
export function screeningRows(batch: ScreeningLogBatch): ScreeningRow[] {
  const buckets = new Map<number, { decisions: ScreenedDecision[]; at: Instant }>();
  for (const d of batch.decisions) {
    const b = screeningBucket(d.scheme, d.value);
    let l = buckets.get(b);
    if (l === undefined) buckets.set(b, (l = { decisions: [], at: batch.at }));
    l.decisions.push(d);
    if (d.at !== undefined && d.at > l.at) l.at = d.at;
  }
  return [...buckets.keys()]
    .sort((a, b) => a - b)
    .map((bucket) => {
      const l = buckets.get(bucket) as { decisions: ScreenedDecision[]; at: Instant };
      // A line names its time where it is not the row's (which a line without one is read as).
      const lines = l.decisions.map((d) => {
        const at = d.at ?? batch.at;
        return logLine(d, at === l.at ? undefined : at);
      });
      return { id: `${batch.id}/${String(bucket).padStart(2, "0")}`, at: l.at, keyId: batch.keyId, askedBy: batch.askedBy, context: batch.context, bucket, lines: lines.length, entries: lines.join("\n") };
    });
}

const str = JSON.stringify;

/** A line as JSON.stringify writes the array [id, scheme, value, decision, codes(, at)], without building the array (one per screened identifier). */
export function logLine(d: ScreenedDecision, at: Instant | undefined): string {
  let codes = "[";
  for (let i = 0; i < d.codes.length; i++) codes += (i === 0 ? "" : ",") + str(d.codes[i]);
  return `[${str(d.id)},${str(d.scheme)},${str(d.value)},"${d.decision}",${codes}]${at === undefined ? "" : `,${str(at)}`}]`;
}

/**
 * Logged checks as compact batches: one per asker and context (a row names one of each),
 * at the time of its latest check, each check keeping its own time on its line.
 */
export function checkBatches(rows: readonly DecisionLogRow[], newId: () => string): ScreeningLogBatch[] {
  const groups = new Map<string, { keyId: string; askedBy: string; context: string; at: Instant; decisions: ScreenedDecision[] }>();
  for (const r of rows) {
    const k = JSON.stringify([r.keyId, r.askedBy, r.context]);
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = { keyId: r.keyId, askedBy: r.askedBy, context: r.context, at: r.at, decisions: [] }));
    if (r.at > g.at) g.at = r.at;
    g.decisions.push({ id: r.id, scheme: r.scheme, value: r.value, decision: r.decision, codes: r.codes, at: r.at });
  }
  return [...groups.values()].map((g) => ({ id: newId(), ...g }));
}

/**
 * Collects the decisions about `who` from rows of its bucket read newest first: `done`
 * says when no later row can hold one of the `limit` newest (a row's `at` bounds its
 * lines'), so a statement reads no further.
 */
export class NewestAbout {
  private readonly times: number[] = [];
  constructor(
    private readonly who: Identifier,
    private readonly limit: number,
  ) {}

  done(nextRowAt: Instant): boolean {
    if (this.limit <= 0) return true;
    if (this.times.length < this.limit) return false;
    this.times.sort((a, b) => b - a);
    this.times.length = this.limit;
    return nextRowAt < (this.times[this.limit - 1] as number);
  }

  take(row: ScreeningRow): DecisionLogRow[] {
    const hits = screenedAbout(row, this.who);
    for (const d of hits) this.times.push(d.at);
    return hits;
  }
}

/** The decisions of a stored row about `who`, as decision log rows. A line that does not parse is skipped (verification reports a changed row). */
export function screenedAbout(row: ScreeningRow, who: Identifier): DecisionLogRow[] {
  const out: DecisionLogRow[] = [];
  // A line names the value as JSON.stringify writes it: lines without it are not parsed.
  const quoted = JSON.stringify(who.value);
  for (const line of row.entries.split("\n")) {
    if (!line.includes(quoted)) continue;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (!Array.isArray(e) || e[1] !== who.scheme || e[2] !== who.value) continue;
    const [id, scheme, value, decision, codes, at] = e as [string, string, string, "allow" | "deny", string[], unknown];
    out.push({ id, at: typeof at === "number" ? at : row.at, keyId: row.keyId, askedBy: row.askedBy, scheme, value, context: row.context, decision, codes });
  }
  return out;
}
