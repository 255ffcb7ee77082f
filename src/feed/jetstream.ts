// The change feed carried on NATS JetStream, for a cluster (docs/cluster.md, "Checkpoint
// nodes and the change feed"). The store's outbox stays the source of truth:
//
// - A **relay** copies the outbox onto the stream `<NAME>_CHANGES`, subject
//   `<name>.changes`, in outbox order, each message a slice of consecutive outbox rows.
//   One relay publishes at a time (elected by the store's exclusive lease, a PostgreSQL
//   advisory lock); its publishing is correct with several at once anyway: every
//   publish expects the stream's last message on the subject to be the one this relay
//   published last (Nats-Expected-Last-Subject-Sequence), so a relay that was overtaken
//   re-reads where the stream ends and goes on from there, and the message id (the
//   slice's outbox positions) makes a retried publish a duplicate JetStream drops.
//   Every ~500 ms the relay also says, on core NATS (`<name>.heartbeat.changes`), "every
//   outbox event up to P is on the stream, as of A ms ago", so a quiet node can tell it
//   is current.
// - A **JetStreamChangeFeed** is the ChangeFeed port over that stream: an ordered
//   consumer fills a buffer that the FeedFollower reads, so Standing.follow works
//   unchanged; positions are outbox positions, as with the store's own feed.
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import type { ClusterNames } from "../cluster/nats.js";
import type { ChangeRow, ExclusiveLease, Store } from "../store/types.js";
import type { ChangeFeed } from "./feed.js";

/** What of a Cluster (src/cluster/nats.ts) the relay and the feed use. */
export interface FeedTransport {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Pick<ClusterNames, "changesStream" | "changesSubject">;
}

/** The core NATS subject of the relay's heartbeats (outside the stream's subjects: they are not kept). */
export function heartbeatSubject(names: Pick<ClusterNames, "changesSubject">): string {
  return names.changesSubject.replace(/\.changes$/, ".heartbeat.changes");
}

/** A heartbeat: every outbox event up to `position` was on the stream `ageMs` before it was sent. */
export interface Heartbeat {
  readonly position: number;
  readonly ageMs: number;
  readonly relay: string;
}

export const RELAY_DEFAULTS = { pollMs: 50, heartbeatMs: 500, electMs: 1_000, batch: 500 } as const;

export interface RelayOptions {
  /** How often the outbox is read, in ms (default 50). */
  readonly pollMs?: number;
  /** How often a heartbeat goes out, in ms (default 500). */
  readonly heartbeatMs?: number;
  /** How often a relay that does not hold the lease asks for it, in ms (default 1,000). */
  readonly electMs?: number;
  /** Outbox rows per message, at most (default 500). */
  readonly batch?: number;
  /**
   * Take part in the election by the store's exclusive lease (default: when the store
   * offers one). Without it every relay publishes; the stream still gets each event
   * once and in order, at the cost of every process reading the outbox.
   */
  readonly elect?: boolean;
  /** The lease's name (default "change-relay:" + the stream's name). */
  readonly leaseName?: string;
  readonly onError?: (e: unknown) => void;
}

/** The stream's newest message on the changes subject: the outbox position it ends with, and its stream sequence. */
async function lastOnStream(t: FeedTransport): Promise<{ position: number; streamSeq: number }> {
  const m = await t.jsm.streams.getMessage(t.names.changesStream, { last_by_subj: t.names.changesSubject }).catch((e: unknown) => {
    if (notFound(e)) return null;
    throw e;
  });
  if (!m) return { position: 0, streamSeq: 0 };
  return { position: lastSeqOf(m.json<ChangeRow[]>()), streamSeq: m.seq };
}

function notFound(e: unknown): boolean {
  const err = e as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return err.api_error?.err_code === 10037 || /no message found/i.test(err.message ?? "");
}

function wrongLastSequence(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string };
  return err.api_error?.err_code === 10071 || /wrong last sequence/i.test(err.message ?? "");
}

function lastSeqOf(rows: readonly ChangeRow[]): number {
  return rows.length === 0 ? 0 : (rows[rows.length - 1] as ChangeRow).seq;
}

/** Copies the store's outbox onto the changes stream, in order, each event once (see the head of this file). */
export class ChangeRelay {
  readonly id = randomUUID();
  private readonly pollMs: number;
  private readonly heartbeatMs: number;
  private readonly electMs: number;
  private readonly batch: number;
  private readonly lease: ExclusiveLease | undefined;
  /** Where the stream ends, as this relay knows it; undefined: ask the stream. */
  private last: { position: number; streamSeq: number } | undefined;
  /** The outbox's end when last read to it, and when (epoch ms). */
  private end: { position: number; readAt: number } | undefined;
  private leading = false;
  private lastElection = 0;
  private lastHeartbeat = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  /** Messages this relay put on the stream (duplicates JetStream dropped not counted). */
  published = 0;

  constructor(
    private readonly transport: FeedTransport,
    private readonly store: Pick<Store, "changesSince" | "exclusiveLease">,
    private readonly options: RelayOptions = {},
  ) {
    this.pollMs = options.pollMs ?? RELAY_DEFAULTS.pollMs;
    this.heartbeatMs = options.heartbeatMs ?? RELAY_DEFAULTS.heartbeatMs;
    this.electMs = options.electMs ?? RELAY_DEFAULTS.electMs;
    this.batch = options.batch ?? RELAY_DEFAULTS.batch;
    const elect = options.elect ?? store.exclusiveLease !== undefined;
    this.lease = elect && store.exclusiveLease ? store.exclusiveLease(options.leaseName ?? `change-relay:${transport.names.changesStream}`) : undefined;
  }

  /** Whether this relay publishes now (holds the lease, or takes no part in an election). */
  get leader(): boolean {
    return this.lease === undefined || this.leading;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops; resolves once a round under way has finished; gives up the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    this.leading = false;
    await this.lease?.release();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round()
        .catch((e: unknown) => {
          // A failed publish or read: ask the stream where it ends before going on.
          this.last = undefined;
          this.options.onError?.(e);
        })
        .finally(() => this.schedule(this.pollMs));
    }, ms);
    this.timer.unref();
  }

  /** One round: the election, the outbox to the stream, a heartbeat when due. One round at a time. */
  round(): Promise<void> {
    this.running ??= this.work().finally(() => (this.running = undefined));
    return this.running;
  }

  private async work(): Promise<void> {
    if (!(await this.elected())) return;
    await this.copy();
    const now = Date.now();
    if (this.end && now - this.lastHeartbeat >= this.heartbeatMs) {
      this.lastHeartbeat = now;
      const beat: Heartbeat = { position: this.end.position, ageMs: now - this.end.readAt, relay: this.id };
      this.transport.nc.publish(heartbeatSubject(this.transport.names), JSON.stringify(beat));
    }
  }

  private async elected(): Promise<boolean> {
    if (!this.lease) return true;
    const now = Date.now();
    // The leader checks its lease's connection at every heartbeat; the others ask for it every electMs.
    if (now - this.lastElection < (this.leading ? this.heartbeatMs : this.electMs)) return this.leading;
    this.lastElection = now;
    const was = this.leading;
    this.leading = await this.lease.tryTake();
    // A new leader learns where the stream ends from the stream, not from what it knew before.
    if (this.leading && !was) this.last = undefined;
    return this.leading;
  }

  /** Publishes the outbox after the stream's end, slice by slice, until a read finds nothing more. */
  private async copy(): Promise<void> {
    const { js, names } = this.transport;
    this.last ??= await lastOnStream(this.transport);
    for (;;) {
      const readAt = Date.now();
      const rows = await this.store.changesSince(this.last.position, this.batch);
      if (rows.length === 0) {
        this.end = { position: this.last.position, readAt };
        return;
      }
      const first = (rows[0] as ChangeRow).seq;
      const lastSeq = lastSeqOf(rows);
      try {
        const ack = await js.publish(names.changesSubject, JSON.stringify(rows), {
          msgID: `${first}-${lastSeq}`,
          expect: { lastSubjectSequence: this.last.streamSeq },
        });
        if (!ack.duplicate) this.published++;
        this.last = { position: lastSeq, streamSeq: ack.seq };
      } catch (e) {
        if (!wrongLastSequence(e)) throw e;
        // Another relay published meanwhile: go on from where the stream ends now.
        this.last = await lastOnStream(this.transport);
      }
    }
  }
}

export interface JetStreamFeedOptions {
  /** Rows the feed holds for its follower before it stops pulling, at most (default 20,000). */
  readonly buffer?: number;
  readonly onError?: (e: unknown) => void;
}

/**
 * The ChangeFeed port over the changes stream. `position()` is the outbox position the
 * stream ends with; `read(after)` answers from a buffer an ordered consumer fills,
 * starting at the stream's message that holds the first event after `after`.
 * `currentAsOf(applied)` turns the relay's heartbeats into "this process had applied
 * everything committed before time T" (epoch ms, on this process's clock).
 */
export class JetStreamChangeFeed implements ChangeFeed {
  private buffer: ChangeRow[] = [];
  /** Rows at or below this are not in the buffer: a read from below it restarts the consumer. */
  private floor = 0;
  /** The outbox position of the last row the consumer delivered. */
  private delivered = 0;
  private generation = 0;
  /** The stream sequence the consumer goes on from (the message after the last it delivered). */
  private next = 0;
  private messages: ConsumerMessages | undefined;
  private started = false;
  private closed = false;
  private wake: (() => void) | undefined;
  /** Where the stream ended when `position()` was last asked, so a read from there starts without a search. */
  private known: { position: number; streamSeq: number } | undefined;
  private readonly heartbeats: Subscription;
  private pending: { position: number; asOf: number }[] = [];
  private confirmed = 0;
  private readonly limit: number;

  constructor(
    private readonly transport: FeedTransport,
    private readonly options: JetStreamFeedOptions = {},
  ) {
    this.limit = options.buffer ?? 20_000;
    this.heartbeats = transport.nc.subscribe(heartbeatSubject(transport.names), {
      callback: (err, msg) => {
        if (err) return;
        try {
          const h = msg.json<Heartbeat>();
          if (typeof h.position !== "number" || typeof h.ageMs !== "number") return;
          // Measured on this process's clock: when it arrived, less how old the relay said its reading was.
          this.pending.push({ position: h.position, asOf: Date.now() - Math.max(0, h.ageMs) });
          if (this.pending.length > 256) this.pending.splice(1, 1);
        } catch {
          // not a heartbeat
        }
      },
    });
    // After NATS comes back, the consumer starts again from where it was at once, rather
    // than when its own missed heartbeats notice that the server forgot it.
    void (async () => {
      for await (const s of transport.nc.status()) {
        if (this.closed) return;
        if (s.type === "reconnect" && this.started) void this.resume();
      }
    })().catch(() => undefined);
  }

  async position(): Promise<number> {
    this.known = await lastOnStream(this.transport);
    return this.known.position;
  }

  async read(after: number, limit: number): Promise<ChangeRow[]> {
    if (this.closed) return [];
    if (!this.started || after < this.floor) await this.restart(after);
    let i = 0;
    while (i < this.buffer.length && (this.buffer[i] as ChangeRow).seq <= after) i++;
    if (i > 0) {
      this.buffer.splice(0, i);
      this.floor = Math.max(this.floor, after);
    }
    const out = this.buffer.slice(0, limit);
    if (this.buffer.length < this.limit) this.release();
    return out;
  }

  /** The latest instant (epoch ms, this process's clock) at which the outbox ended at or before `applied`, per the relay's heartbeats; 0 if none has said so yet. */
  currentAsOf(applied: number): number {
    while (this.pending.length > 0 && (this.pending[0] as { position: number }).position <= applied) {
      this.confirmed = Math.max(this.confirmed, (this.pending.shift() as { asOf: number }).asOf);
    }
    return this.confirmed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    this.release();
    this.heartbeats.unsubscribe();
    await this.messages?.close().catch(() => undefined);
  }

  private release(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Starts the consumer again at the first message holding an event after `after`. */
  private async restart(after: number): Promise<void> {
    const generation = ++this.generation;
    this.release();
    await this.messages?.close().catch(() => undefined);
    this.messages = undefined;
    this.buffer = [];
    this.floor = after;
    this.delivered = after;
    this.started = true;
    this.next = await this.locate(after);
    if (generation === this.generation) void this.consume(generation);
  }

  /** Starts the consumer again where it was (after a reconnection), keeping the buffer. */
  private async resume(): Promise<void> {
    const generation = ++this.generation;
    this.release();
    const old = this.messages;
    this.messages = undefined;
    await old?.close().catch(() => undefined);
    if (generation === this.generation && !this.closed) void this.consume(generation);
  }

  /** The stream sequence of the first message whose last event is after `after` (a binary search over the stream). */
  private async locate(after: number): Promise<number> {
    const { jsm, names } = this.transport;
    if (this.known && this.known.position === after) return this.known.streamSeq + 1;
    const info = await jsm.streams.info(names.changesStream);
    let lo = info.state.first_seq;
    let hi = info.state.last_seq + 1;
    if (info.state.messages === 0) return hi;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const m = await jsm.streams.getMessage(names.changesStream, { seq: mid }).catch(() => null);
      // A message gone (aged out meanwhile) or not a slice of changes: read from the first and skip what is old.
      if (!m || m.subject !== names.changesSubject) return info.state.first_seq;
      if (lastSeqOf(m.json<ChangeRow[]>()) > after) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private async consume(generation: number): Promise<void> {
    const { js, names } = this.transport;
    while (!this.closed && generation === this.generation) {
      try {
        const consumer = await js.consumers.get(names.changesStream, { filter_subjects: names.changesSubject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.next });
        // Short pulls with idle heartbeats: a consumer the server lost is noticed within seconds.
        const messages = await consumer.consume({ max_messages: 64, expires: 5_000, idle_heartbeat: 2_000 });
        if (generation !== this.generation) {
          await messages.close().catch(() => undefined);
          return;
        }
        this.messages = messages;
        for await (const m of messages) {
          if (generation !== this.generation) break;
          for (const row of m.json<ChangeRow[]>()) {
            if (row.seq > this.delivered) {
              this.buffer.push(row);
              this.delivered = row.seq;
            }
          }
          this.next = m.seq + 1;
          // The follower reads at its pace; the consumer waits while the buffer is full.
          while (this.buffer.length >= this.limit && generation === this.generation && !this.closed) {
            await new Promise<void>((resolve) => (this.wake = resolve));
          }
        }
        await messages.close().catch(() => undefined);
      } catch (e) {
        if (this.closed || generation !== this.generation) return;
        this.options.onError?.(e);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
