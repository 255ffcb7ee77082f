// An API node's side of ingest through JetStream. A batch's lines are checked as
// ingest checks them first (the envelope, the key's own source); lines refused there
// are journaled and answered at once. Every other line is published on its partition's
// subject, and once JetStream has stored them all (each publish acknowledged) the node
// answers 202 with a receipt. Evaluators (evaluator.ts) apply the lines later and store
// each line's outcome with its effects; the receipt reads them back.
//
// Partitions follow the record's subject identifier, so records about one identifier
// are applied in the order they were accepted, by one evaluator at a time. A
// retraction names no subject: it goes to the partition of the record it retracts,
// found where that record is (stored, quarantined, or still in the stream), so it is
// never applied before its target. See ARCHITECTURE.md ("Ingest through JetStream").
import { headers as natsHeaders } from "@nats-io/transport-node";
import { v7 as uuidv7 } from "uuid";
import { StandingError } from "../errors.js";
import type { NormalisedRecord } from "../ingest/input.js";
import type { IngestResult, Standing } from "../standing.js";
import type { OutcomeRow } from "../store/types.js";
import { partitionOf, recordKey, type Cluster } from "./nats.js";

export const RECEIPT_HEADER = "Standing-Receipt";
export const LINE_HEADER = "Standing-Line";

/** What a batch's receipt keeps in JetStream (the batches bucket): who sent it, when, how many lines. */
export interface BatchManifest {
  readonly receipt: string;
  readonly keyId: string;
  readonly at: number;
  readonly lines: number;
  readonly published: number;
  readonly rejected: number;
}

export interface Submitted {
  readonly receipt: string;
  readonly lines: number;
  readonly published: number;
  /** Lines refused before publishing, with their answers (line numbers are 1-based). */
  readonly rejected: readonly { readonly line: number; readonly result: IngestResult }[];
}

export type LineStatus = IngestResult["status"] | "pending";

export interface BatchStatus {
  readonly receipt: string;
  readonly at: number;
  readonly lines: number;
  readonly counts: Record<LineStatus, number>;
  /** Every line has an outcome. */
  readonly done: boolean;
  /** Lines after `after`, in order, up to the limit: each line's outcome, or pending. */
  readonly results: readonly ({ readonly line: number } & (IngestResult | { readonly status: "pending" }))[];
  /** Where the next page starts, when there is one. */
  readonly next?: number;
}

export type RecordStatus =
  | { readonly status: "pending"; readonly source: string; readonly id: string; readonly receipt: string | null; readonly line: number | null }
  | ({ readonly receipt: string | null; readonly line: number | null } & IngestResult);

/** Publishes at most this many lines before waiting for their acknowledgements. */
const WINDOW = 2_000;

export class ClusterIntake {
  constructor(
    private readonly cluster: Cluster,
    private readonly standing: Standing,
  ) {}

  /**
   * Checks, publishes and acknowledges a batch (inputs already parsed; `null` marks a
   * line that did not parse, with its error in `unparsed`). Resolves once JetStream has
   * stored every published line and the refusals are journaled: the receipt then
   * stands for every line.
   */
  async submit(inputs: readonly { readonly line: number; readonly input: unknown; readonly refused?: StandingError }[], by: { readonly keyId: string; readonly source: string | null }): Promise<Submitted> {
    const receipt = uuidv7();
    const { names, settings, js } = this.cluster;
    const rejected: { line: number; rejected: IngestResult; refusal: Parameters<Standing["refuseLines"]>[1][number]["refusal"] }[] = [];
    const toPublish: { line: number; record: NormalisedRecord; text: string }[] = [];
    for (const { line, input, refused } of inputs) {
      if (refused) {
        rejected.push({ line, ...this.standing.refusalOf(input, refused) });
        continue;
      }
      const s = typeof input === "object" && input !== null ? (input as Record<string, unknown>).source : undefined;
      if (by.source !== null && typeof s === "string" && s !== by.source) {
        rejected.push({ line, ...this.standing.refusalOf(input, new StandingError("forbidden", `this key submits as source "${by.source}", not ${JSON.stringify(s)}`, { source: s })) });
        continue;
      }
      const checked = this.standing.precheckRecord(input);
      if ("rejected" in checked) {
        rejected.push({ line, ...checked });
        continue;
      }
      toPublish.push({ line, record: checked.record, text: JSON.stringify(input) });
    }
    await this.standing.refuseLines(receipt, rejected);

    // Partitions of this batch's own records, so a retraction later in it follows its target.
    const routed = new Map<string, number>();
    const pending: Promise<unknown>[] = [];
    for (const item of toPublish) {
      const { record } = item;
      const partition = record.subject !== undefined ? partitionOf(record.subject.scheme, record.subject.value, settings.partitions) : await this.partitionOfTarget(record.source, record.retracts ?? "", routed);
      routed.set(`${record.source}\u0000${record.id}`, partition);
      const h = natsHeaders();
      h.set(RECEIPT_HEADER, receipt);
      h.set(LINE_HEADER, String(item.line));
      pending.push(js.publish(names.recordSubject(partition, recordKey(record.source, record.id)), item.text, { headers: h, msgID: `${receipt}:${item.line}` }));
      if (pending.length >= WINDOW) await Promise.all(pending.splice(0));
    }
    try {
      await Promise.all(pending);
    } catch (e) {
      throw new StandingError("storage-unavailable", `JetStream did not store the batch (${(e as Error).message}); nothing of it is acknowledged: send it again (lines already taken come back as duplicates)`, { receipt });
    }
    const manifest: BatchManifest = { receipt, keyId: by.keyId, at: Date.now(), lines: inputs.length, published: toPublish.length, rejected: rejected.length };
    const kv = await this.cluster.kv(names.batchesBucket);
    await kv.put(receipt, JSON.stringify(manifest));
    return { receipt, lines: inputs.length, published: toPublish.length, rejected: rejected.map((r) => ({ line: r.line, result: r.rejected })) };
  }

  /** The partition a retraction goes to: its target's, wherever the target is; else one of its own (it will be refused as unknown). */
  private async partitionOfTarget(source: string, target: string, routed: ReadonlyMap<string, number>): Promise<number> {
    const { settings, names, jsm } = this.cluster;
    const here = routed.get(`${source}\u0000${target}`);
    if (here !== undefined) return here;
    const stored = await this.standing.reads.findRecord(source, target);
    if (stored) {
      const body = JSON.parse(stored.body) as { subject?: { scheme: string; value: string } };
      if (body.subject) return partitionOf(body.subject.scheme, body.subject.value, settings.partitions);
    }
    const q = await this.standing.reads.findQuarantined(source, target);
    if (q) return partitionOf(q.scheme, q.value, settings.partitions);
    const inStream = await jsm.streams.getMessage(names.recordsStream, { last_by_subj: names.recordInAnyPartition(recordKey(source, target)) }).catch(() => null);
    if (inStream) {
      const p = Number(inStream.subject.split(".").at(-2));
      if (Number.isInteger(p)) return p;
    }
    return Number.parseInt(recordKey(source, target).slice(0, 8), 16) % settings.partitions;
  }

  /** The manifest of a batch; undefined for a receipt this cluster never gave. */
  async manifest(receipt: string): Promise<BatchManifest | undefined> {
    const kv = await this.cluster.kv(this.cluster.names.batchesBucket);
    const e = await kv.get(receipt);
    if (!e || e.operation !== "PUT") return undefined;
    return e.json<BatchManifest>();
  }

  /** Where each line of a batch stands: its outcome, or pending. */
  async status(manifest: BatchManifest, after = 0, limit = 1000): Promise<BatchStatus> {
    const counts: Record<LineStatus, number> = { pending: 0, accepted: 0, duplicate: 0, quarantined: 0, rejected: 0 };
    // Counting reads every outcome of the batch, a page at a time.
    const page: OutcomeRow[] = [];
    for (let from = 0; ; ) {
      const rows = await this.standing.reads.outcomesOf(manifest.receipt, from, 5000);
      if (rows.length === 0) break;
      for (const r of rows) {
        counts[r.status] += 1;
        if (r.line > after && page.length < limit) page.push(r);
      }
      from = (rows[rows.length - 1] as OutcomeRow).line;
    }
    const known = Object.values(counts).reduce((a, b) => a + b, 0);
    counts.pending = Math.max(0, manifest.lines - known);
    const byLine = new Map(page.map((r) => [r.line, r]));
    const results: BatchStatus["results"][number][] = [];
    let line = after;
    while (results.length < limit && line < manifest.lines) {
      line += 1;
      const o = byLine.get(line);
      results.push(o ? { line, ...(JSON.parse(o.detail) as IngestResult) } : { line, status: "pending" });
    }
    return { receipt: manifest.receipt, at: manifest.at, lines: manifest.lines, counts, done: counts.pending === 0, results, ...(line < manifest.lines ? { next: line } : {}) };
  }

  /** Per partition: lines waiting, in flight, delivered again (for /metrics). */
  consumerLag(): ReturnType<typeof consumerLag> {
    return consumerLag(this.cluster);
  }

  /** A record still waiting in the stream for an evaluator, if it is. */
  async pending(source: string, id: string): Promise<{ receipt: string | null; line: number | null } | undefined> {
    const { names, jsm } = this.cluster;
    const m = await jsm.streams.getMessage(names.recordsStream, { last_by_subj: names.recordInAnyPartition(recordKey(source, id)) }).catch(() => null);
    if (!m) return undefined;
    const line = m.header?.get(LINE_HEADER);
    return { receipt: m.header?.get(RECEIPT_HEADER) || null, line: line ? Number(line) : null };
  }
}

/** Where a source's record stands: pending in the stream, else its latest outcome, else as stored; undefined when nowhere. */
export async function recordStatus(standing: Standing, intake: ClusterIntake | undefined, source: string, id: string): Promise<RecordStatus | undefined> {
  const stored = await standing.reads.findRecord(source, id);
  const q = stored ? undefined : await standing.reads.findQuarantined(source, id);
  const waiting = stored || q ? undefined : await intake?.pending(source, id);
  if (waiting) return { status: "pending", source, id, ...waiting };
  const o = await standing.reads.outcomeOfRecord(source, id);
  if (o) return { receipt: o.receipt, line: o.line, ...(JSON.parse(o.detail) as IngestResult) };
  if (stored) return { receipt: null, line: null, status: "accepted", source, id, subject: stored.subjectId };
  // A released record is stored (above); one still here waits for its identifier.
  if (q) return { receipt: null, line: null, status: "quarantined", source, id, reason: q.reason };
  return undefined;
}

/** What the record stream's consumers hold, per partition: lines waiting, lines delivered and not yet acknowledged, and deliveries made again. */
export async function consumerLag(cluster: Cluster): Promise<{ partition: number; pending: number; inFlight: number; redelivered: number }[]> {
  const { jsm, names, settings } = cluster;
  const out = [];
  for (let p = 0; p < settings.partitions; p++) {
    const info = await jsm.consumers.info(names.recordsStream, names.partitionConsumer(p)).catch(() => undefined);
    if (info) out.push({ partition: p, pending: info.num_pending, inFlight: info.num_ack_pending, redelivered: info.num_redelivered });
  }
  return out;
}

