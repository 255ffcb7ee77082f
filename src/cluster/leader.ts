// One actor among all the processes of a cluster, for work that must not be done twice
// at once (the scheduler is the first such role). Leadership is a session-level lock in
// the shared store (openLeaderLock; on PostgreSQL an advisory lock on a connection of its
// own): the holder acts while its session lives, a follower tries again every `retryMs`,
// and a leader whose session fails hears it (the connection's 'error' or 'end', or a
// probe left unanswered) and stops acting before anything else happens. See
// docs/cluster.md, "One actor: the leader".
import { openLeaderLock } from "../store/open.js";
import type { LeaderLock } from "../store/types.js";

export interface LeadershipOptions {
  /** How often a follower tries to take the lock and the leader probes its session, in ms (default 1,000). */
  readonly retryMs?: number;
  /** A probe unanswered this long means the lock is lost (default: retryMs × 3, at least 1,000). */
  readonly probeTimeoutMs?: number;
  /** A failed attempt (the store unreachable) or a lost lock; the default writes one line to stderr. */
  readonly onError?: (e: Error) => void;
}

export class Leadership {
  private leader = false;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private readonly retryMs: number;
  private readonly probeTimeoutMs: number;
  private lastError = "";

  constructor(
    private readonly lock: LeaderLock,
    private readonly options: LeadershipOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 1_000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? Math.max(1_000, this.retryMs * 3);
    lock.onLost((reason) => {
      this.report(reason);
      this.set(false);
    });
  }

  /** Leadership of `role` among every process whose store is `storeUrl` (a PostgreSQL URL). */
  static of(storeUrl: string, role: string, options?: LeadershipOptions): Leadership {
    return new Leadership(openLeaderLock(storeUrl, role), options);
  }

  get role(): string {
    return this.lock.role;
  }

  /** Whether this process holds the role now. */
  get isLeader(): boolean {
    return this.leader;
  }

  /**
   * Calls `listener(true)` when this process becomes the leader and `listener(false)`
   * the moment it stops being one (synchronously, from the event that told it). A
   * listener added while leading is called with true at once. Returns a remover.
   */
  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    if (this.leader) listener(true);
    return () => this.listeners.delete(listener);
  }

  /** Starts trying (at once, then every retryMs). */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.round();
  }

  /** Stops acting, then gives the role up (the session ends, so a follower takes it within its retry interval). */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.set(false);
    await this.lock.close();
  }

  private async round(): Promise<void> {
    if (!this.running) return;
    try {
      if (this.leader) {
        await this.lock.probe(this.probeTimeoutMs);
      } else if (await this.lock.tryAcquire()) {
        if (this.running) this.set(true);
        else await this.lock.close();
      }
      this.lastError = "";
    } catch (e) {
      // The lock reports a loss itself (onLost); here only what an attempt met.
      this.report(e as Error);
    }
    if (!this.running) return;
    this.timer = setTimeout(() => void this.round(), this.retryMs);
    this.timer.unref();
  }

  private set(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    for (const l of [...this.listeners]) {
      try {
        l(leader);
      } catch (e) {
        this.report(e as Error);
      }
    }
  }

  /** The same failure every round is said once, not every second. */
  private report(e: Error): void {
    if (e.message === this.lastError) return;
    this.lastError = e.message;
    (this.options.onError ?? ((x: Error) => console.error(`standing: ${this.lock.role} leadership: ${x.message}`)))(e);
  }
}

/**
 * Runs `act` while this process leads: `act()` starts the role's work and returns what
 * stops it, which is called the moment leadership is lost or this is stopped.
 * Returns the stopper.
 */
export function whileLeader(leadership: Leadership, act: () => () => void): () => void {
  let stopActing: (() => void) | undefined;
  const remove = leadership.onChange((leader) => {
    if (leader && !stopActing) stopActing = act();
    if (!leader && stopActing) {
      const s = stopActing;
      stopActing = undefined;
      s();
    }
  });
  return () => {
    remove();
    if (stopActing) {
      const s = stopActing;
      stopActing = undefined;
      s();
    }
  };
}
