// The decision log of a screening, kept compactly: a batch of screened identifiers is
// stored as one row per bucket of identifiers (a hash of the identifier, SCREENING_BUCKETS
// of them), each row holding its identifiers' decisions as lines of JSON, and the batch is
// journaled as one entry. A row per identifier cost ~20 µs on the reference machine, two
// thirds of it the index that lets a statement find a subject's lookups; with buckets a
// statement reads the rows of its identifiers' buckets only (1/SCREENING_BUCKETS of all
// screenings), and a batch of thousands of identifiers writes a few dozen rows.
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
  /** One JSON array per line: [decision id, scheme, value, decision, codes]. */
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
  const lines = new Map<number, string[]>();
  for (const d of batch.decisions) {
    const b = screeningBucket(d.scheme, d.value);
    let l = lines.get(b);
    if (l === undefined) lines.set(b, (l = []));
    l.push(JSON.stringify([d.id, d.scheme, d.value, d.decision, d.codes]));
  }
  return [...lines.keys()]
    .sort((a, b) => a - b)
    .map((bucket) => ({ id: `${batch.id}/${String(bucket).padStart(2, "0")}`, at: batch.at, keyId: batch.keyId, askedBy: batch.askedBy, context: batch.context, bucket, lines: (lines.get(bucket) as string[]).length, entries: (lines.get(bucket) as string[]).join("\n") }));
}

/** The decisions of a stored row about `who`, as decision log rows. A line that does not parse is skipped (verification reports a changed row). */
export function screenedAbout(row: ScreeningRow, who: Identifier): DecisionLogRow[] {
  const out: DecisionLogRow[] = [];
  for (const line of row.entries.split("\n")) {
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (!Array.isArray(e) || e[1] !== who.scheme || e[2] !== who.value) continue;
    const [id, scheme, value, decision, codes] = e as [string, string, string, "allow" | "deny", string[]];
    out.push({ id, at: row.at, keyId: row.keyId, askedBy: row.askedBy, scheme, value, context: row.context, decision, codes });
  }
  return out;
}
