// Where notices go from the CLI's processes: a log file beside the store, and a webhook
// when one is configured (STANDING_NOTICE_WEBHOOK).
import { dirname, join } from "node:path";
import { LogChannel, WebhookChannel, type NoticeChannel } from "../notices/outbox.js";
import { dbPath, type CommonOptions } from "./context.js";

export function noticeChannels(db: string, log: string | undefined, webhook: string | undefined): NoticeChannel[] {
  const channels: NoticeChannel[] = [new LogChannel(log ?? join(dirname(db), "notices.ndjson"))];
  if (webhook) channels.push(new WebhookChannel(webhook));
  return channels;
}

/** A server's channels: the log beside the store and the configured webhook. */
export function noticeChannelsFor(o: CommonOptions): NoticeChannel[] {
  return noticeChannels(dbPath(o), undefined, process.env.STANDING_NOTICE_WEBHOOK);
}
