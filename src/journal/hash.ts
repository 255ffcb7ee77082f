// The journal's two hashes, as pure functions. Both hash RFC 8785 canonical JSON
// (see canonical.ts); the encoders here are hand-rolled for the two fixed shapes
// because they run once per written row, and journal.test.ts checks that they give
// exactly the bytes canonicalJson gives.
//
//   row hash   = sha256(canonicalJSON({column: value, …}))        one row of one table
//   entry hash = sha256(prev ‖ canonicalJSON({data, key, kind, rowHash, seq, tbl}))
//
// Column values are encoded by their SQLite storage class, so that a change of type
// is a change of hash: NULL → null, TEXT → string, INTEGER → number (or
// {"$int": "digits"} beyond ±2^53), REAL → {"$real": "shortest round-trip digits"},
// BLOB → {"$blob": base64}.
import * as crypto from "node:crypto";

/** The `prev` of the first entry. */
export const GENESIS = "0".repeat(64);

export type SqlValue = string | number | bigint | Buffer | Uint8Array | null;

// crypto.hash (Node ≥ 20.12) is a one-shot digest, about three times faster than
// createHash for short inputs; it runs once or twice per journaled row.
const oneShot = typeof crypto.hash === "function" ? crypto.hash : undefined;

/** sha256 of the UTF-8 bytes of `text`, as lowercase hex. */
export function sha256Hex(text: string): string {
  return oneShot ? oneShot("sha256", text, "hex") : crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

/** Canonical JSON of one column value (see the header for the encoding). */
export function encodeValue(v: SqlValue): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "bigint":
      return v >= -9007199254740991n && v <= 9007199254740991n ? String(v) : `{"$int":${JSON.stringify(String(v))}}`;
    case "number":
      // Reached only for REAL values: integers arrive as bigint (safeIntegers).
      return `{"$real":${JSON.stringify(String(v))}}`;
    default:
      return `{"$blob":${JSON.stringify(Buffer.from(v as Uint8Array).toString("base64"))}}`;
  }
}

/**
 * Canonical JSON of a row given as alternating column names and values
 * (`name1, value1, name2, value2, …`), as the journal triggers pass them.
 */
export function canonicalRow(pairs: readonly SqlValue[]): string {
  const n = pairs.length >> 1;
  let sorted = true;
  for (let i = 1; i < n; i++) {
    if ((pairs[2 * i - 2] as string) >= (pairs[2 * i] as string)) {
      sorted = false;
      break;
    }
  }
  let order: number[] | undefined;
  if (!sorted) {
    order = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
      const x = pairs[2 * a] as string;
      const y = pairs[2 * b] as string;
      return x < y ? -1 : x > y ? 1 : 0;
    });
  }
  let out = "{";
  for (let j = 0; j < n; j++) {
    const i = order ? (order[j] as number) : j;
    if (j > 0) out += ",";
    out += JSON.stringify(String(pairs[2 * i])) + ":" + encodeValue(pairs[2 * i + 1] ?? null);
  }
  return out + "}";
}

export function rowHash(pairs: readonly SqlValue[]): string {
  return sha256Hex(canonicalRow(pairs));
}

export interface EntryFields {
  readonly seq: number;
  readonly kind: string;
  readonly tbl: string | null;
  readonly key: string | null;
  readonly rowHash: string | null;
  readonly data: string | null;
}

const str = (s: string | null): string => (s === null ? "null" : JSON.stringify(s));

/** Canonical JSON of an entry without its links: what the chain hashes. */
export function canonicalEntry(e: EntryFields): string {
  return `{"data":${str(e.data)},"key":${str(e.key)},"kind":${str(e.kind)},"rowHash":${str(e.rowHash)},"seq":${String(e.seq)},"tbl":${str(e.tbl)}}`;
}

export function entryHash(prev: string, e: EntryFields): string {
  return sha256Hex(prev + canonicalEntry(e));
}

// A batch entry (tables journaled per batch, see batchedTables in journal.ts) covers
// many rows with one entry:
//
//   batch row hash = sha256(row₁ "\n" row₂ "\n" … rowₙ "\n")   each rowᵢ its canonicalRow
//
// in the order of the rows' keys (keyText, compared as strings). Insert order cannot be
// recovered from the table, the key order can, by anyone, from the rows alone.

/** A row's primary key as JSON text: what a batch entry's data names the row by. */
export function keyText(values: readonly SqlValue[]): string {
  return JSON.stringify(
    values.map((v) =>
      typeof v === "bigint" ? (v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : String(v)) : v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v,
    ),
  );
}

/**
 * A row of a table journaled per batch, as its batch entry covers it: `values` are the
 * row's columns in `columns` order (sorted, without the batch column), starting at
 * `offset`. The writer and `audit verify` both build rows here, so they cannot drift.
 */
export function batchRow(columns: readonly string[], key: readonly string[], values: readonly SqlValue[], offset = 0): BatchRow {
  const pairs: SqlValue[] = [];
  for (let i = 0; i < columns.length; i++) pairs.push(columns[i] as string, values[i + offset] ?? null);
  return { key: keyText(key.map((k) => values[columns.indexOf(k) + offset] ?? null)), row: canonicalRow(pairs) };
}

export interface BatchRow {
  /** keyText of the row's primary key. */
  readonly key: string;
  /** canonicalRow of the row's journaled columns. */
  readonly row: string;
}

/** Orders a batch's rows by key, as both the writer and `audit verify` must. */
export function sortBatch<T extends BatchRow>(rows: T[]): T[] {
  return rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The hex digits of a row's hash a batch entry keeps per row, to say which row changed. */
export const BATCH_DIGEST_CHARS = 16;

/**
 * A batch entry's row hash and data, from its rows in key order (sortBatch). The data,
 * canonical JSON, names every row and the start of its row hash:
 * {"rows":[[key, digest], …]}.
 */
export function batchEntry(rows: readonly BatchRow[]): { rowHash: string; data: string } {
  // Fed row by row rather than joined first: a compact log's rows are kilobytes each,
  // and joining them into one string to hash was most of the cost of the entry.
  const all = crypto.createHash("sha256");
  let data = '{"rows":[';
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as BatchRow;
    all.update(r.row, "utf8").update("\n", "utf8");
    if (i > 0) data += ",";
    data += `[${r.key},"${sha256Hex(r.row).slice(0, BATCH_DIGEST_CHARS)}"]`;
  }
  return { rowHash: all.digest("hex"), data: data + "]}" };
}

/**
 * What a signed head signs: canonical JSON of {at, headHash, prev, seq}, where `prev` is
 * the seq of the signed head before it (0 for the first). Chaining the heads makes a
 * head removed from between two others visible: the next one no longer verifies.
 */
export function headPayload(seq: number, headHash: string, at: number, prev: number): string {
  return `{"at":${String(at)},"headHash":${JSON.stringify(headHash)},"prev":${String(prev)},"seq":${String(seq)}}`;
}

/** What a checkpoint signed before heads were chained: canonical JSON of {seq, headHash, at}. Verify still reads it. */
export function checkpointPayload(seq: number, headHash: string, at: number): string {
  return `{"at":${String(at)},"headHash":${JSON.stringify(headHash)},"seq":${String(seq)}}`;
}

/**
 * What the old key signs when the journal key is rotated: canonical JSON of
 * {at, from, publicKey, to} (fingerprints, and the new key as SPKI PEM).
 */
export function rotationPayload(from: string, to: string, publicKey: string, at: number): string {
  return `{"at":${String(at)},"from":${JSON.stringify(from)},"publicKey":${JSON.stringify(publicKey)},"to":${JSON.stringify(to)}}`;
}
