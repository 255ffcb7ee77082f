// Delivery of notices through an outbox: a notice is stored with its outbox entry in
// the transaction that made it, then delivered by whichever channels are configured.
// A failed delivery is retried with backoff; nothing is dropped.
import type { Receipt } from "../journal/receipt.js";
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { NoticeRow, OutboxRow } from "../store/types.js";

/** What delivery needs of the store: due entries, their notices, and recording each attempt. */
export interface OutboxPort {
  due(now: number, limit: number): Promise<OutboxRow[]>;
  notice(id: string): Promise<NoticeRow | undefined>;
  delivered(noticeId: string, at: number): Promise<void>;
  /** Channels that already delivered this notice, and recording one more. */
  channelsDone(noticeId: string): Promise<string[]>;
  channelDone(noticeId: string, channel: string, at: number): Promise<void>;
  failed(noticeId: string, error: string, nextAttemptAt: number): Promise<void>;
  /** A signed receipt for the notice (journal/receipt.ts), delivered with it; undefined without a signing key. */
  receipt?(notice: NoticeRow): Receipt | undefined;
}

export interface NoticeChannel {
  readonly name: string;
  /** Delivers the notice, with its receipt when there is one. */
  deliver(notice: NoticeRow, receipt?: Receipt): Promise<void>;
}

/** Appends each notice as one JSON line to a file, flushed to disk. */
export class LogChannel implements NoticeChannel {
  readonly name = "log";
  constructor(private readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }
  async deliver(notice: NoticeRow, receipt?: Receipt): Promise<void> {
    // Owner and group only: notices name people and what restricts them.
    const fd = openSync(this.file, "a", 0o640);
    try {
      appendFileSync(fd, JSON.stringify({ id: notice.id, subject: notice.subjectId, createdAt: new Date(notice.createdAt).toISOString(), notice: JSON.parse(notice.body) as unknown, ...(receipt ? { receipt } : {}) }) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** POSTs each notice as JSON; any non-2xx answer is a failure to retry. Receivers dedupe by id. */
export class WebhookChannel implements NoticeChannel {
  readonly name = "webhook";
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 10_000,
  ) {}
  async deliver(notice: NoticeRow, receipt?: Receipt): Promise<void> {
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": notice.id },
      body: JSON.stringify({ id: notice.id, subject: notice.subjectId, notice: JSON.parse(notice.body) as unknown, ...(receipt ? { receipt } : {}) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.status < 200 || res.status >= 300) throw new Error(`webhook answered ${res.status}`);
  }
}

const MAX_BACKOFF = 6 * 3_600_000;

export function backoff(attempts: number): number {
  return Math.min(MAX_BACKOFF, 30_000 * 2 ** Math.min(attempts, 20));
}

export class Outbox {
  constructor(
    private readonly port: OutboxPort,
    private readonly channels: readonly NoticeChannel[],
  ) {}

  /**
   * Delivers every due notice once; returns how many were delivered and how many failed.
   * With `signal`, stops before the next notice once it is aborted (a leader that lost its role).
   */
  async deliverDue(now: number, limit = 500, signal?: AbortSignal): Promise<{ delivered: number; failed: number }> {
    let delivered = 0;
    let failed = 0;
    for (const row of await this.port.due(now, limit)) {
      if (signal?.aborted) break;
      const notice = await this.port.notice(row.noticeId);
      if (!notice) continue;
      try {
        // Each channel is recorded as it delivers: when the webhook fails, the log is not written twice.
        const done = new Set(await this.port.channelsDone(row.noticeId));
        const receipt = this.port.receipt?.(notice);
        for (const c of this.channels) {
          if (done.has(c.name)) continue;
          await c.deliver(notice, receipt);
          await this.port.channelDone(row.noticeId, c.name, now);
        }
        await this.port.delivered(row.noticeId, now);
        delivered++;
      } catch (e) {
        await this.port.failed(row.noticeId, (e as Error).message ?? String(e), now + backoff(row.attempts));
        failed++;
      }
    }
    return { delivered, failed };
  }
}
