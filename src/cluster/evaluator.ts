// An evaluator: takes partitions of the record stream and applies what they carry to
// the store, a fetched batch per transaction, acknowledging only after the commit.
//
// Partitions are held by leases in a JetStream KV bucket whose entries expire unless
// renewed (NATS 2.9 has a bucket TTL, not a per-key one). Each evaluator also keeps an
// entry in a members bucket; from the number of live members it takes its fair share
// of the free partitions and gives back what is over it, so a new evaluator gets
// partitions within a lease period and a dead one's are taken over once its leases
// expire. The KV revision at which a lease was taken is its epoch: every transaction
// first fences the partition in the store with it (StoreTx.fencePartition), so an
// evaluator that lost its lease without noticing (a long pause) cannot commit after the
// new owner has. A redelivered line (a crash between commit and acknowledgement) has
// its outcome stored already and is not applied again (Ingest.ingestDelivered).
import { randomUUID } from "node:crypto";
import type { JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { DeliveredLine, DeliveredResult } from "../services/ingest.js";
import type { Standing } from "../standing.js";
import type { Cluster } from "./nats.js";
import { LINE_HEADER, RECEIPT_HEADER } from "./intake.js";

/** Thrown inside a transaction whose partition a newer owner has fenced: nothing of it commits. */
class FenceLost extends Error {}

export interface EvaluatorOptions {
  /** This evaluator's name in the members bucket (default a random id). */
  readonly id?: string;
  /** Only these partitions (default every one). */
  readonly partitions?: readonly number[];
  /** After each applied batch (tests, metrics). */
  readonly onApplied?: (partition: number, results: readonly DeliveredResult[]) => void;
  /** When a batch failed and was handed back (it is delivered again). */
  readonly onError?: (partition: number, e: unknown) => void;
  /** When a partition is taken or given up. */
  readonly onLease?: (event: { readonly partition: number; readonly held: boolean; readonly epoch: number }) => void;
}

interface Lease {
  readonly partition: number;
  /** The revision at which it was taken: the fencing epoch. */
  readonly epoch: number;
  /** The revision to renew from. */
  revision: number;
  stopping: boolean;
  loop: Promise<void>;
}

export interface EvaluatorStats {
  readonly id: string;
  readonly partitions: readonly number[];
  readonly applied: number;
  readonly redelivered: number;
  readonly batches: number;
  readonly failures: number;
}

export class Evaluator {
  readonly id: string;
  private readonly leases = new Map<number, Lease>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = true;
  private stats = { applied: 0, redelivered: 0, batches: 0, failures: 0 };

  constructor(
    private readonly cluster: Cluster,
    private readonly standing: Standing,
    private readonly options: EvaluatorOptions = {},
  ) {
    this.id = options.id ?? randomUUID();
  }

  /** Joins the cluster's evaluators and starts taking partitions. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.standing.start();
    await this.tick();
    this.schedule();
  }

  /** Stops taking work: finishes the batches under way, gives the partitions back and leaves. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking?.catch(() => undefined);
    const [leases, members] = await Promise.all([this.kv("leases"), this.kv("members")]).catch(() => [undefined, undefined]);
    await Promise.all([...this.leases.values()].map((l) => this.release(l, leases)));
    await members?.delete(this.id).catch(() => undefined);
  }

  /** Partitions held now, ascending. */
  held(): number[] {
    return [...this.leases.keys()].sort((a, b) => a - b);
  }

  statistics(): EvaluatorStats {
    return { id: this.id, partitions: this.held(), ...this.stats };
  }

  private kv(which: "leases" | "members"): Promise<KV> {
    return this.cluster.kv(which === "leases" ? this.cluster.names.leasesBucket : this.cluster.names.membersBucket);
  }

  private schedule(): void {
    if (this.stopped) return;
    // Three renewals per lease period: a lease survives one lost renewal.
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((e: unknown) => this.options.onError?.(-1, e))
        .finally(() => this.schedule());
    }, Math.max(50, Math.floor(this.cluster.settings.leaseMs / 3)));
    this.timer.unref();
  }

  /** Renews what is held, then takes or gives back partitions towards a fair share. */
  private async tick(): Promise<void> {
    const [leases, members] = await Promise.all([this.kv("leases"), this.kv("members")]);
    await members.put(this.id, JSON.stringify({ at: Date.now(), partitions: this.held() }));
    // Renewals first and all at once: nothing slow may stand between a lease and its renewal.
    await Promise.all(
      [...this.leases.values()].map(async (l) => {
        try {
          l.revision = await leases.update(leaseKey(l.partition), this.id, l.revision);
        } catch {
          // Someone else holds it now (our lease expired): stop at once; the fence keeps a batch under way from committing.
          void this.release(l, undefined);
        }
      }),
    );
    const allowed = this.options.partitions ?? range(this.cluster.settings.partitions);
    let alive = 0;
    for await (const _ of await members.keys()) alive += 1;
    const fair = Math.ceil(allowed.length / Math.max(1, alive));
    // Over the share: give back the highest, so the others can take them.
    // (In the background: the lease is deleted once the batch under way has committed, and renewals go on meanwhile.)
    for (const l of [...this.leases.values()].sort((a, b) => b.partition - a.partition)) {
      if (this.leases.size <= fair) break;
      void this.release(l, leases);
    }
    if (this.leases.size >= fair || this.stopped) return;
    // Under it: take free partitions, starting at a place of our own so evaluators starting together spread out.
    const offset = Number.parseInt(this.id.replace(/[^0-9a-f]/gi, "").slice(0, 6) || "0", 16) % allowed.length;
    for (let i = 0; i < allowed.length && this.leases.size < fair && !this.stopped; i++) {
      const p = allowed[(offset + i) % allowed.length] as number;
      if (this.leases.has(p)) continue;
      let revision: number;
      try {
        revision = await leases.create(leaseKey(p), this.id);
      } catch {
        continue; // held by another
      }
      const lease: Lease = { partition: p, epoch: revision, revision, stopping: false, loop: Promise.resolve() };
      this.leases.set(p, lease);
      this.options.onLease?.({ partition: p, held: true, epoch: revision });
      lease.loop = this.work(lease);
    }
  }

  /** Stops a partition's loop, waits for its batch under way, and deletes the lease if `leases` is given and it is still ours. */
  private async release(l: Lease, leases: KV | undefined): Promise<void> {
    l.stopping = true;
    this.leases.delete(l.partition);
    await l.loop.catch(() => undefined);
    if (leases) await leases.delete(leaseKey(l.partition), { previousSeq: l.revision }).catch(() => undefined);
    this.options.onLease?.({ partition: l.partition, held: false, epoch: l.epoch });
  }

  /** Fetches and applies one partition's lines, a batch per transaction, until the lease is given up. */
  private async work(l: Lease): Promise<void> {
    const { js, names, settings } = this.cluster;
    while (!l.stopping) {
      let msgs: JsMsg[] = [];
      try {
        const consumer = await js.consumers.get(names.recordsStream, names.partitionConsumer(l.partition));
        const it = await consumer.fetch({ max_messages: settings.evaluatorBatch, expires: 1_000 });
        for await (const m of it) msgs.push(m);
      } catch (e) {
        // NATS away (restarting): wait and try again; nothing was taken.
        this.options.onError?.(l.partition, e);
        await sleep(250);
        continue;
      }
      if (msgs.length === 0) continue;
      if (l.stopping) {
        for (const m of msgs) m.nak();
        break;
      }
      const lines: DeliveredLine[] = [];
      for (const m of msgs) {
        const receipt = m.headers?.get(RECEIPT_HEADER);
        const line = Number(m.headers?.get(LINE_HEADER));
        if (!receipt || !Number.isInteger(line) || line < 1) {
          // Not published by an API node: nothing to answer to; dropped from the stream.
          m.term();
          continue;
        }
        let input: unknown;
        try {
          input = JSON.parse(m.string());
        } catch {
          input = m.string();
        }
        lines.push({ receipt, line, input });
      }
      // A batch waiting for the store's write lock behind others must not be handed to
      // another evaluator meanwhile: tell JetStream it is being worked on.
      const keepAlive = setInterval(() => {
        for (const m of msgs) m.working();
      }, Math.max(500, Math.floor(settings.ackWaitMs / 3)));
      try {
        const results = await this.standing.ingestDelivered(lines, async (tx) => {
          if (!(await tx.fencePartition(l.partition, l.epoch))) throw new FenceLost(`partition ${l.partition} was taken over`);
        });
        clearInterval(keepAlive);
        // Only now, after the commit: a crash before this point means the batch comes again and is recognised.
        for (const m of msgs) m.ack();
        await this.cluster.nc.flush().catch(() => undefined);
        this.stats.batches += 1;
        for (const r of results) {
          if (r.applied) this.stats.applied += 1;
          else this.stats.redelivered += 1;
        }
        msgs = [];
        this.options.onApplied?.(l.partition, results);
      } catch (e) {
        clearInterval(keepAlive);
        for (const m of msgs) m.nak(e instanceof FenceLost ? 0 : 1_000);
        this.stats.failures += 1;
        this.options.onError?.(l.partition, e);
        if (e instanceof FenceLost) {
          l.stopping = true;
          this.leases.delete(l.partition);
          this.options.onLease?.({ partition: l.partition, held: false, epoch: l.epoch });
          break;
        }
        await sleep(500);
      }
    }
  }
}

function leaseKey(p: number): string {
  return `partition.${p}`;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
