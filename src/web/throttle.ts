// Failed sign-ins, counted per client address and per key id: after too many within a
// window, the form answers 429 with Retry-After until the oldest failure leaves the
// window, whether or not the next key would be right. In memory, per process, bounded.

export interface SignInLimits {
  /** Failed sign-ins one client address may make within the window (default 20). */
  readonly perAddress: number;
  /** Failed sign-ins naming one key id (the 12 hex digits after stk_) within the window (default 5). */
  readonly perKey: number;
  /** The window, ms (default 15 minutes). */
  readonly windowMs: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { perAddress: 20, perKey: 5, windowMs: 15 * 60_000 };

/** Most addresses and key ids remembered: past it, the entries least recently failed are dropped first. */
const MAX_ENTRIES = 50_000;

export class FailureCounter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Seconds until `key` may try again (0: now). */
  retryAfter(key: string, now: number): number {
    const list = this.recent(key, now);
    if (list.length < this.max) return 0;
    const oldest = list[list.length - this.max] as number;
    return Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000));
  }

  fail(key: string, now: number): void {
    const list = this.recent(key, now);
    list.push(now);
    // Re-inserted, so that the map's order is the order of last failure.
    this.failures.delete(key);
    this.failures.set(key, list.slice(-this.max));
    if (this.failures.size > MAX_ENTRIES) {
      const first = this.failures.keys().next().value;
      if (first !== undefined) this.failures.delete(first);
    }
  }

  clear(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string, now: number): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    const kept = list.filter((t) => now - t < this.windowMs);
    if (kept.length === 0) this.failures.delete(key);
    return kept;
  }
}

/** Both counters: by address, and by the key id a presented key names. */
export class SignInThrottle {
  private readonly byAddress: FailureCounter;
  private readonly byKey: FailureCounter;

  constructor(readonly limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS) {
    this.byAddress = new FailureCounter(limits.perAddress, limits.windowMs);
    this.byKey = new FailureCounter(limits.perKey, limits.windowMs);
  }

  /** The key id prefix a presented key names (what is counted), or a bucket for text that is not a key. */
  static keyBucket(key: string): string {
    const m = /^stk_([0-9a-f]{12})_/.exec(key);
    return m ? `key:${m[1] as string}` : "key:malformed";
  }

  retryAfter(address: string, key: string, now: number): number {
    return Math.max(this.byAddress.retryAfter(`ip:${address}`, now), this.byKey.retryAfter(SignInThrottle.keyBucket(key), now));
  }

  failed(address: string, key: string, now: number): void {
    this.byAddress.fail(`ip:${address}`, now);
    this.byKey.fail(SignInThrottle.keyBucket(key), now);
  }

  succeeded(key: string): void {
    this.byKey.clear(SignInThrottle.keyBucket(key));
  }
}
