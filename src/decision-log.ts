// Every decision is logged (who asked, about whom, context, answer, when) without
// slowing the check path: entries are buffered in memory and written in one
// transaction per batch. A crash can lose at most the last unflushed batch of log
// entries, never a record or a state.
import type { DecisionLogRow, DecisionLogStore } from "./store/types.js";

export interface DecisionLogOptions {
  readonly flushMs?: number;
  readonly maxBuffer?: number;
}

export class DecisionLog {
  private buffer: DecisionLogRow[] = [];
  private timer: NodeJS.Timeout | undefined;
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
    if (this.buffer.length >= this.maxBuffer) this.flush();
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
    } catch (e) {
      // A busy or full disk must not take the check path down: keep the entries
      // (bounded) and try again on the next flush.
      this.buffer = [...rows, ...this.buffer].slice(0, this.maxBuffer * 10);
      console.error("standing decision log: write failed, will retry:", (e as Error).message);
      if (!this.timer) {
        this.timer = setTimeout(() => this.flush(), Math.max(this.flushMs, 1000));
        this.timer.unref();
      }
    }
  }

  get pending(): number {
    return this.buffer.length;
  }
}
