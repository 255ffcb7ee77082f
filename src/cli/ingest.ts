// `standing ingest FILE`: NDJSON or CSV, in durable batches. Every line ends up
// counted as accepted, duplicate, quarantined or rejected; rejected lines are written
// out with their reasons. Killing the process loses nothing that was acknowledged:
// a batch is acknowledged (counted, reported) only after its transaction commits,
// and running the same file again turns what was already stored into duplicates.
import { createReadStream, closeSync, fsyncSync, openSync, statSync, writeSync } from "node:fs";
import { createInterface } from "node:readline";
import { parse as parseCsv } from "csv-parse";
import cliProgress from "cli-progress";
import type { Standing, IngestResult } from "../standing.js";
import type { CompiledPolicy } from "../policy/types.js";

export interface IngestSummary {
  file: string;
  format: "ndjson" | "csv";
  lines: number;
  accepted: number;
  duplicate: number;
  quarantined: number;
  rejected: number;
  rejects: string | null;
}

interface Item {
  line: number;
  text: string;
  value?: unknown;
  error?: string;
}

export interface IngestOptions {
  format?: "ndjson" | "csv";
  rejects?: string;
  batch?: number;
  progress?: boolean;
  /** Called after each committed batch, for tests. */
  onBatch?: (summary: IngestSummary) => void;
}

export async function ingestFile(standing: Standing, file: string, o: IngestOptions): Promise<IngestSummary> {
  const format = o.format ?? (file.toLowerCase().endsWith(".csv") ? "csv" : "ndjson");
  const rejectsPath = o.rejects ?? `${file}.rejected.ndjson`;
  const size = statSync(file).size;
  const summary: IngestSummary = { file, format, lines: 0, accepted: 0, duplicate: 0, quarantined: 0, rejected: 0, rejects: null };
  let rejectsFd: number | undefined;
  const batchSize = Math.max(1, o.batch ?? 1000);
  let bytes = 0;
  const bar = o.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ format: "ingest [{bar}] {percentage}% | {lines} lines | {accepted} accepted {duplicate} duplicate {quarantined} quarantined {rejected} rejected", stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(size || 1, 0, { ...summary });
  let lastPlain = Date.now();

  const writeReject = (item: Item, error: unknown): void => {
    if (rejectsFd === undefined) {
      rejectsFd = openSync(rejectsPath, "w");
      summary.rejects = rejectsPath;
    }
    writeSync(rejectsFd, JSON.stringify({ line: item.line, input: item.text, error }) + "\n");
  };

  const flush = async (items: Item[]): Promise<void> => {
    if (items.length === 0) return;
    const good = items.filter((i) => i.error === undefined);
    const results: IngestResult[] = await standing.ingest(good.map((i) => i.value));
    let k = 0;
    for (const item of items) {
      summary.lines++;
      if (item.error !== undefined) {
        summary.rejected++;
        writeReject(item, { code: "bad-request", message: item.error, details: { line: item.line } });
        continue;
      }
      const r = results[k++] as IngestResult;
      switch (r.status) {
        case "accepted":
          summary.accepted++;
          break;
        case "duplicate":
          summary.duplicate++;
          break;
        case "quarantined":
          summary.quarantined++;
          break;
        case "rejected":
          summary.rejected++;
          writeReject(item, { ...r.error, details: { ...r.error.details, line: item.line } });
          break;
        default: {
          const never: never = r;
          throw new Error(`unexpected result ${JSON.stringify(never)}`);
        }
      }
    }
    if (rejectsFd !== undefined) fsyncSync(rejectsFd);
    bar?.update(Math.min(bytes, size), { ...summary });
    if (o.progress && !bar && Date.now() - lastPlain > 5000) {
      lastPlain = Date.now();
      process.stderr.write(`ingest: ${summary.lines} lines, ${summary.accepted} accepted, ${summary.duplicate} duplicate, ${summary.quarantined} quarantined, ${summary.rejected} rejected\n`);
    }
    // A line per committed batch for whoever follows the log (and for the crash test).
    if (process.env.STANDING_INGEST_TRACE) process.stderr.write(`ingest: acknowledged ${summary.lines}\n`);
    o.onBatch?.({ ...summary });
  };

  try {
    let pending: Item[] = [];
    if (format === "ndjson") {
      const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
      let line = 0;
      for await (const text of rl) {
        line++;
        bytes += Buffer.byteLength(text) + 1;
        if (text.trim() === "") continue;
        const item: Item = { line, text };
        try {
          item.value = JSON.parse(text);
        } catch (e) {
          item.error = `line ${line} is not valid JSON: ${(e as Error).message}`;
        }
        pending.push(item);
        if (pending.length >= batchSize) {
          await flush(pending);
          pending = [];
        }
      }
    } else {
      const parser = createReadStream(file).pipe(
        parseCsv({ columns: true, info: true, skip_empty_lines: true, trim: true, skip_records_with_error: true, bom: true }),
      );
      parser.on("skip", (err: Error & { lines?: number }) => {
        pending.push({ line: err.lines ?? 0, text: "", error: `CSV line ${err.lines ?? "?"}: ${err.message}` });
      });
      for await (const chunk of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number; bytes: number } }>) {
        bytes = chunk.info.bytes;
        const item: Item = { line: chunk.info.lines, text: JSON.stringify(chunk.record) };
        try {
          item.value = csvRowToRecord(chunk.record, standing.activePolicy());
        } catch (e) {
          item.error = (e as Error).message;
        }
        pending.push(item);
        if (pending.length >= batchSize) {
          await flush(pending);
          pending = [];
        }
      }
    }
    await flush(pending);
  } finally {
    bar?.stop();
    if (rejectsFd !== undefined) closeSync(rejectsFd);
  }
  return summary;
}

const envelopeColumns = new Set(["source", "id", "type", "subject", "scheme", "value", "occurredAt", "evidence", "retracts", "reason"]);

/** A CSV row: envelope columns by name, every other non-empty column a field, typed by the policy's field schema. */
export function csvRowToRecord(row: Record<string, string>, policy: CompiledPolicy | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === "") continue;
    if (envelopeColumns.has(k)) {
      if (k === "subject") {
        const i = v.indexOf(":");
        if (i <= 0) throw new Error(`column subject "${v}" must be SCHEME:VALUE`);
        out.subject = { scheme: v.slice(0, i), value: v.slice(i + 1) };
      } else if (k !== "scheme" && k !== "value") out[k] = v;
    } else {
      fields[k.startsWith("fields.") ? k.slice(7) : k] = v;
    }
  }
  if (row.scheme && row.value) out.subject = { scheme: row.scheme, value: row.value };
  const rt = typeof out.type === "string" ? policy?.records.get(out.type) : undefined;
  for (const [k, v] of Object.entries(fields)) {
    const def = rt?.fields.find((f) => f.name === k);
    const s = v as string;
    if (def?.type === "number" || def?.type === "integer") {
      const n = Number(s);
      fields[k] = Number.isFinite(n) && s.trim() !== "" ? n : s;
    } else if (def?.type === "boolean") {
      fields[k] = s === "true" ? true : s === "false" ? false : s;
    }
  }
  if (out.retracts === undefined) out.fields = fields;
  else if (Object.keys(fields).length > 0) throw new Error("a retraction row carries no field columns");
  return out;
}
