// Every decision is logged (who asked, about whom, context, answer, when) without
// slowing the check path: entries are buffered in memory and written in one
// transaction per batch. A crash can lose at most the last unflushed batch of log
// entries, never a record or a state. If writes keep failing (a full disk), entries
// beyond ten buffers' worth are dropped, counted and reported (stderr, /metrics).
import type { DecisionLogRow } from "./store/types.js";

/** Where batches go: Standing.logDecisions. */
export interface DecisionLogSink {
  logDecisions(rows: readonly DecisionLogRow[]): Promise<void>;
}

export interface DecisionLogOptions {
  readonly flushMs?: number;
  readonly maxBuffer?: number;
}

export class DecisionLog {
  private buffer: DecisionLogRow[] = [];
  /** The writes under way, chained: a flush waits for the ones before it. */
  private inflight: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private retrying = false;
  private dropped = 0;
  private readonly flushMs: number;
  private readonly maxBuffer: number;

  constructor(
    private readonly sink: DecisionLogSink,
    options: DecisionLogOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 50;
    this.maxBuffer = options.maxBuffer ?? 10_000;
  }

  add(row: DecisionLogRow): void {
    this.buffer.push(row);
    // While a failed write waits for its retry, a full buffer does not try again on every check.
    if (this.buffer.length >= this.maxBuffer && !this.retrying) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /**
   * Writes what is buffered, after every write already under way; resolves when all of
   * them have finished. Never rejects (a failure keeps the entries for a retry).
   */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return this.inflight;
    const rows = this.buffer;
    this.buffer = [];
    this.inflight = this.inflight.then(() => this.write(rows));
    return this.inflight;
  }

  private async write(rows: DecisionLogRow[]): Promise<void> {
    try {
      await this.sink.logDecisions(rows);
      this.retrying = false;
    } catch (e) {
      // A busy or full disk must not take the check path down: keep the entries, up to
      // ten buffers' worth, and try again later. What does not fit is counted (`dropped`,
      // on /metrics) and said on stderr, never lost without a trace.
      const cap = this.maxBuffer * 10;
      const kept = [...rows, ...this.buffer]; // what checks logged while the write was under way
      const lost = Math.max(0, kept.length - cap);
      this.buffer = kept.slice(0, cap);
      this.dropped += lost;
      this.retrying = true;
      console.error(`standing decision log: write failed, will retry${lost > 0 ? `; ${lost} entries dropped (${this.dropped} in all)` : ""}:`, (e as Error).message);
      if (!this.timer) {
        this.timer = setTimeout(() => void this.flush(), Math.max(this.flushMs, 1000));
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
