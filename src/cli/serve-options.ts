// `serve`'s settings for the HTTP server's limits and logs, turned into buildServer's
// options. The demo's keys are exempt from per-key limits: a demo is never throttled.
import { keyIdOf } from "../auth/principals.js";
import type { ServerOptions } from "../api/server.js";
import type { DemoKeys } from "./welcome.js";

export interface ServeLimitOptions {
  logLevel: string;
  keyRate?: number;
  keyInflightBytes?: number;
  requestTimeout?: number;
}

export function serveLimits(o: ServeLimitOptions, demo: DemoKeys | undefined): Pick<ServerOptions, "log" | "keyLimits" | "limits"> {
  const exempt = new Set<string>();
  for (const key of Object.values(demo?.keys ?? {})) {
    const id = keyIdOf(key);
    if (id !== undefined) exempt.add(id);
  }
  return {
    log: { level: o.logLevel },
    keyLimits: { ...(o.keyRate !== undefined ? { requestsPerSecond: o.keyRate } : {}), ...(o.keyInflightBytes !== undefined ? { inFlightBytes: o.keyInflightBytes } : {}), exempt },
    limits: o.requestTimeout !== undefined ? { requestTimeout: o.requestTimeout } : {},
  };
}
