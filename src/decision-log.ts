// Every decision is logged (who asked, about whom, context, answer, when) without
// slowing the check path: entries are buffered in memory and written in one
// transaction per batch. A crash can lose at most the last unflushed batch of log
// entries, never a record or a state. If writes keep failing (a full disk), entries
// beyond ten buffers' worth are dropped, counted and reported (stderr, /metrics).
import type { DecisionLogRow, DecisionLogStore } from "./store/types.js";

export interface DecisionLogOptions {
  readonly flushMs?: number;
  readonly maxBuffer?: number;
}

export class DecisionLog {
  private buffer: DecisionLogRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private retrying = false;
  private dropped = 0;
  private readonly flushMs: number;
  private readonly maxBuffer: number;

  constructor(
    private readonly store: DecisionLogStore,
    options: DecisionLogOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 50;
    this.maxBuffer = options.maxBuffer ?? 10_000;
  }

  add(row: DecisionLogRow): void {
    this.buffer.push(row);
    // While a failed write waits for its retry, a full buffer does not try again on every check.
    if (this.buffer.length >= this.maxBuffer && !this.retrying) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const rows = this.buffer;
    this.buffer = [];
    try {
      this.store.appendDecisions(rows);
      this.retrying = false;
    } catch (e) {
      // A busy or full disk must not take the check path down: keep the entries, up to
      // ten buffers' worth, and try again later. What does not fit is counted (`dropped`,
      // on /metrics) and said on stderr, never lost without a trace.
      const cap = this.maxBuffer * 10;
      const lost = Math.max(0, rows.length - cap);
      this.buffer = rows.slice(0, cap);
      this.dropped += lost;
      this.retrying = true;
      console.error(`standing decision log: write failed, will retry${lost > 0 ? `; ${lost} entries dropped (${this.dropped} in all)` : ""}:`, (e as Error).message);
      if (!this.timer) {
        this.timer = setTimeout(() => this.flush(), Math.max(this.flushMs, 1000));
        this.timer.unref();
      }
    }
  }

  /** Entries that did not fit while writes were failing. */
  get droppedEntries(): number {
    return this.dropped;
  }

  get pending(): number {
    return this.buffer.length;
  }
}
