// Advances subjects at their nextChangeAt, so measures start when notice runs out
// and end at expiry with nobody touching them. The clock is injected; `tick` is what
// the timer calls, and what tests call directly.
import type { Standing } from "../standing.js";
import type { Instant } from "../time.js";

export interface SchedulerOptions {
  /** Longest sleep between wake-ups, so a clock jump or new record is noticed. */
  readonly maxSleepMs?: number;
  readonly onTick?: (r: { at: Instant; advanced: number; policyActivated: string | null }) => void;
  /** A failed tick (a busy database) is reported here and retried at the next wake-up. */
  readonly onError?: (e: unknown) => void;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly standing: Standing,
    private readonly options: SchedulerOptions = {},
  ) {}

  /** `takeOver` for an operator's `standing tick`: finish a re-evaluation another process seems to be at. */
  async tick(takeOver = false): Promise<{ at: Instant; advanced: number; policyActivated: string | null }> {
    const at = this.standing.now();
    const r = await this.standing.advance(at, takeOver);
    const out = { at, ...r };
    this.options.onTick?.(out);
    return out;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (!this.running) return;
    const max = this.options.maxSleepMs ?? 30_000;
    const report = this.options.onError ?? ((err: unknown) => console.error("standing scheduler:", err));
    void this.standing
      .nextWake()
      .catch((e: unknown) => {
        report(e);
        return null;
      })
      .then((next) => {
        if (!this.running) return;
        const now = this.standing.now();
        const wait = next === null ? max : Math.max(0, Math.min(max, next - now));
        this.timer = setTimeout(() => {
          void this.tick()
            .catch(report)
            .finally(() => this.schedule());
        }, wait);
        this.timer.unref();
      });
  }
}
