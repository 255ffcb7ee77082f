// `serve`'s settings for the HTTP server's limits and logs, turned into buildServer's
// options. The demo's keys are exempt from per-key limits: a demo is never throttled.
import { keyIdOf } from "../auth/principals.js";
import type { ServerOptions } from "../api/server.js";
import type { DemoKeys } from "./welcome.js";
import type { Standing } from "../standing.js";
import { NO_SNAPSHOT_YET } from "../index-snapshot.js";
import { DEFAULT_SESSIONS, type SessionSettings } from "../services/sessions.js";
import { StandingError } from "../errors.js";
import { resolve } from "node:path";
import { forOperator } from "./failure.js";

export interface ServeLimitOptions {
  logLevel: string;
  keyRate?: number;
  keyInflightBytes?: number;
  requestTimeout?: number;
  trustProxy?: boolean;
  sessionIdleMinutes?: number;
  sessionHours?: number;
}

/**
 * How long a starting server tries its start-up steps again. A connection cut while it
 * loads (the database restarting, a backend ended under it) is retried for up to 60 s by
 * default: the database was there a moment ago, and ending would only hand the same
 * start to a supervisor. A database that cannot be reached at all is one line and exit 1
 * at once, unless STANDING_START_WAIT_MS asks to wait for it (a server started together
 * with its database); that setting bounds both.
 */
export function startWait(env: NodeJS.ProcessEnv = process.env): { readonly unreachableMs: number; readonly cutMs: number } {
  const v = env.STANDING_START_WAIT_MS;
  if (v === undefined || v === "") return { unreachableMs: 0, cutMs: 60_000 };
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new StandingError("bad-request", "STANDING_START_WAIT_MS must be a number of milliseconds, 0 or more", { STANDING_START_WAIT_MS: v });
  return { unreachableMs: n, cutMs: n };
}

/** Causes (store/failure.ts) that are an embedded file's, not a database server's: waiting does not bring a file back. */
const FILE_FAILURE = /^(SQLITE_|EIO$|EACCES$|EPERM$|EROFS$)/;

/**
 * Runs a start-up step again while the storage is unavailable, within `wait`, saying
 * each retry on stderr; any other error, or the last one, is thrown. The step must be
 * safe to run again after a failure (each is a transaction, or a re-read).
 */
export async function whileStorageStarts<T>(what: string, step: () => Promise<T>, wait = startWait()): Promise<T> {
  const started = Date.now();
  for (let pause = 100; ; pause = Math.min(pause * 2, 2_000)) {
    try {
      return await step();
    } catch (e) {
      const failure = forOperator(e);
      if (!(failure instanceof StandingError) || failure.code !== "storage-unavailable") throw e;
      const { stage, cause } = failure.details as { stage?: unknown; cause?: unknown };
      // Only a database server that went away is waited for: an embedded file that cannot
      // be read (SQLITE_IOERR, EACCES) stays unreadable, and ends the start at once.
      const limit = stage === "connect" ? wait.unreachableMs : typeof cause === "string" && FILE_FAILURE.test(cause) ? -1 : wait.cutMs;
      if (Date.now() + pause - started > limit) throw e;
      console.error(`standing: ${what}: ${failure.message}; trying again in ${pause} ms`);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/** STANDING_TRUST_PROXY=1 (or true/yes) as --trust-proxy. */
export function trustProxyFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes|on)$/i.test(env.STANDING_TRUST_PROXY ?? "");
}

export function serveLimits(o: ServeLimitOptions, demo: DemoKeys | undefined): Pick<ServerOptions, "log" | "keyLimits" | "limits" | "trustProxy" | "sessions"> {
  const exempt = new Set<string>();
  for (const key of Object.values(demo?.keys ?? {})) {
    const id = keyIdOf(key);
    if (id !== undefined) exempt.add(id);
  }
  return {
    log: { level: o.logLevel },
    keyLimits: { ...(o.keyRate !== undefined ? { requestsPerSecond: o.keyRate } : {}), ...(o.keyInflightBytes !== undefined ? { inFlightBytes: o.keyInflightBytes } : {}), exempt },
    limits: o.requestTimeout !== undefined ? { requestTimeout: o.requestTimeout } : {},
    trustProxy: (o.trustProxy ?? false) || trustProxyFromEnv(),
    sessions: sessionSettings(o),
  };
}

/** --session-idle-minutes and --session-hours, checked; the defaults where absent. */
export function sessionSettings(o: Pick<ServeLimitOptions, "sessionIdleMinutes" | "sessionHours">): SessionSettings {
  const positive = (v: number | undefined, name: string, max: number): number | undefined => {
    if (v === undefined) return undefined;
    if (!Number.isFinite(v) || v <= 0 || v > max) throw new StandingError("bad-request", `${name} must be a number above 0 and at most ${max}`, { [name]: v });
    return v;
  };
  const idle = positive(o.sessionIdleMinutes, "--session-idle-minutes", 7 * 24 * 60);
  const hours = positive(o.sessionHours, "--session-hours", 30 * 24);
  return { idleMs: idle === undefined ? DEFAULT_SESSIONS.idleMs : idle * 60_000, absoluteMs: hours === undefined ? DEFAULT_SESSIONS.absoluteMs : hours * 3_600_000 };
}

/**
 * Where `serve` keeps its decision index between runs (src/index-snapshot.ts):
 * --index-snapshot FILE, else STANDING_INDEX_SNAPSHOT, else beside an embedded database
 * (`<file>.index`); "off" keeps none. A PostgreSQL store has no folder of its own, so
 * there it is kept only where one is named.
 */
export function indexSnapshotFile(given: string | undefined, store: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = given ?? (env.STANDING_INDEX_SNAPSHOT === "" ? undefined : env.STANDING_INDEX_SNAPSHOT);
  if (named !== undefined) return named === "off" ? undefined : resolve(named);
  if (store === ":memory:" || store.includes("://")) return undefined;
  return `${store}.index`;
}

/** How often a server writes its decision index to the snapshot file, besides after a start from the store and when it stops. */
export const INDEX_SNAPSHOT_EVERY_MS = 10 * 60_000;

/**
 * Says how the index was loaded, and keeps the snapshot file current: right after a start
 * that read the store (so that a restart soon after is quick too), every
 * INDEX_SNAPSHOT_EVERY_MS, and at stop. A write that fails is said on stderr; serving goes on.
 */
export function keepIndexSnapshots(s: Standing, everyMs = INDEX_SNAPSHOT_EVERY_MS): { stop(): Promise<void> } {
  const load = s.indexLoadedFrom;
  if (load.from === "snapshot") console.log(`decision index: read from ${load.file}, then ${load.changesApplied} changes since it was written`);
  else if (load.snapshot !== null && load.snapshot !== NO_SNAPSHOT_YET) console.error(`standing: the decision index snapshot was not used (${load.snapshot}); the index was read from the store`);
  let writing: Promise<void> = Promise.resolve();
  const save = (): Promise<void> =>
    (writing = writing.then(() =>
      s.saveIndexSnapshot().then(
        () => undefined,
        (e: unknown) => console.error(`standing: writing the decision index snapshot failed: ${(e as Error).message}`),
      ),
    ));
  if (load.from === "store") void save();
  const timer = setInterval(() => void save(), everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await save();
    },
  };
}
