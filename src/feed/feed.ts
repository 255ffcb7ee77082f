// The change feed: every commit that changes a subject's measures, publishes or
// activates a policy, or changes a key appends an event to an outbox in the same
// transaction (StoreTx.emit). A ChangeFeed delivers those events to every process, in
// order and at least once; the projections that follow it (the decision index, the key
// cache, the policy registry) re-read what an event names from the store, so applying
// one twice, or late, is harmless. This implementation polls the store's outbox; the
// JetStream one (jetstream.ts, a cluster's) is a sibling of it.
import type { ChangeRow, Store } from "../store/types.js";

export interface ChangeFeed {
  /** The newest position: a process that loads a snapshot follows from here. */
  position(): Promise<number>;
  /** Events after `after`, in order, at most `limit`. */
  read(after: number, limit: number): Promise<ChangeRow[]>;
  /**
   * The latest instant (epoch ms, this process's clock) at which everything committed
   * was at or below position `applied`, as far as the feed knows; 0 if it cannot tell
   * yet. A feed without it (the store's own) is current whenever a read reaches its end.
   */
  currentAsOf?(applied: number): number;
  /** Lets go of what the feed holds open (subscriptions); the store it reads is not its to close. */
  close?(): Promise<void>;
}

export class StoreChangeFeed implements ChangeFeed {
  constructor(private readonly store: Pick<Store, "changesSince" | "lastChange">) {}

  position(): Promise<number> {
    return this.store.lastChange();
  }

  read(after: number, limit: number): Promise<ChangeRow[]> {
    return this.store.changesSince(after, limit);
  }
}

export interface FollowerOptions {
  /** How often to look for events (ms). Default 200: the bound on how stale another process's change can be here. */
  readonly pollMs?: number;
  /** Events this process committed itself and applied at commit: skipped. */
  readonly origin?: string;
  /** Called when reading or applying fails; the follower tries again at the next poll. */
  readonly onError?: (e: unknown) => void;
}

export const DEFAULT_FEED_POLL_MS = 200;

/**
 * Follows a feed from a position, handing each batch of events to `apply`. The
 * position moves only after `apply` returns, so a failure means the batch is applied
 * again (at least once).
 */
export class FeedFollower {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = true;
  readonly pollMs: number;
  /** When the follower last finished reading the feed to its end (epoch ms). */
  caughtUpAt = 0;

  constructor(
    private readonly feed: ChangeFeed,
    public position: number,
    private readonly apply: (events: readonly ChangeRow[]) => Promise<void>,
    private readonly options: FollowerOptions = {},
  ) {
    this.pollMs = options.pollMs ?? DEFAULT_FEED_POLL_MS;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops polling; resolves once a poll under way has finished (so its store may be closed). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.poll()
        .catch((e: unknown) => this.options.onError?.(e))
        .finally(() => this.schedule());
    }, this.pollMs);
    this.timer.unref();
  }

  /** Reads and applies everything up to the feed's end; returns how many events were applied. One poll at a time. */
  poll(): Promise<number> {
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return this.running;
  }

  private async drain(): Promise<number> {
    let n = 0;
    for (;;) {
      const events = await this.feed.read(this.position, 1000);
      if (events.length === 0) break;
      const foreign = this.options.origin === undefined ? events : events.filter((e) => e.origin !== this.options.origin);
      if (foreign.length > 0) await this.apply(foreign);
      n += foreign.length;
      this.position = (events[events.length - 1] as ChangeRow).seq;
    }
    this.caughtUpAt = Date.now();
    return n;
  }
}
