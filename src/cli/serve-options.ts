// `serve`'s settings for the HTTP server's limits and logs, turned into buildServer's
// options. The demo's keys are exempt from per-key limits: a demo is never throttled.
import { keyIdOf } from "../auth/principals.js";
import type { ServerOptions } from "../api/server.js";
import type { DemoKeys } from "./welcome.js";
import { DEFAULT_SESSIONS, type SessionSettings } from "../services/sessions.js";
import { StandingError } from "../errors.js";
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
 * How long a starting server waits for its database (STANDING_START_WAIT_MS, default
 * 60 s): a server started while PostgreSQL restarts, or whose first connections are cut,
 * waits and tries again instead of ending, as a service beside its database is expected to.
 */
export function startWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.STANDING_START_WAIT_MS;
  if (v === undefined || v === "") return 60_000;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new StandingError("bad-request", "STANDING_START_WAIT_MS must be a number of milliseconds, 0 or more", { STANDING_START_WAIT_MS: v });
  return n;
}

/**
 * Runs a start-up step again while the storage is unavailable, up to `waitMs` in all,
 * saying each retry on stderr; any other error, or the last one, is thrown. The step
 * must be safe to run again after a failure (each is a transaction, or a re-read).
 */
export async function whileStorageStarts<T>(what: string, step: () => Promise<T>, waitMs: number = startWaitMs()): Promise<T> {
  const until = Date.now() + waitMs;
  for (let pause = 100; ; pause = Math.min(pause * 2, 2_000)) {
    try {
      return await step();
    } catch (e) {
      const failure = forOperator(e);
      if (!(failure instanceof StandingError) || failure.code !== "storage-unavailable" || Date.now() + pause > until) throw e;
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
