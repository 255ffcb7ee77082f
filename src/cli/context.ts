// Shared plumbing for CLI commands: where the database is, which clock, how errors
// and results are printed.
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { openStanding as compose, type Standing, type StandingOptions } from "../standing.js";
import { StandingError, isStandingError } from "../errors.js";
import { parseStoreUrl } from "../store/open.js";
import { parseInstant, systemClock, type Clock } from "../time.js";

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const seedPolicyPath = join(packageRoot, "policies", "municipal-credit.yaml");

export interface CommonOptions {
  db?: string;
  store?: string;
  json?: boolean;
}

/**
 * The store a command works on: --store URL, else --db PATH, else $STANDING_STORE, else
 * $STANDING_DB, else ./data/standing.db. A SQLite location comes back as an absolute
 * path (what messages and the files kept beside it use); a PostgreSQL one as its URL.
 */
export function storeUrl(o: CommonOptions): string {
  const given = o.store ?? (o.db !== undefined ? o.db : undefined) ?? process.env.STANDING_STORE ?? process.env.STANDING_DB ?? join(process.cwd(), "data", "standing.db");
  const loc = parseStoreUrl(given);
  return loc.kind === "sqlite" ? (loc.path === ":memory:" ? loc.path : resolve(loc.path)) : loc.url;
}

/** The store's URL without a password, for messages. */
export function storeLabel(o: CommonOptions): string {
  const url = storeUrl(o);
  return parseStoreUrl(url).kind === "postgres" ? redactUrl(url) : url;
}

/**
 * Where files kept beside the store go (the notices log, demo keys): for SQLite a path
 * whose folder is the database's; for PostgreSQL a path in a folder of its own under
 * ./data (data/postgres-DATABASE/), so two stores never share those files.
 */
export function dbPath(o: CommonOptions): string {
  const url = storeUrl(o);
  if (parseStoreUrl(url).kind === "sqlite") return url;
  let name = "postgres";
  try {
    name = `postgres-${decodeURIComponent(new URL(url).pathname.replace(/^\//, "")) || "postgres"}`.replace(/[^\w.-]/g, "_");
  } catch {
    // the plain name
  }
  const folder = join(process.cwd(), "data", name);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  return join(folder, "store");
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

/** STANDING_NOW pins the clock (an ISO instant): for tests and for replaying a day. */
export function clockFromEnv(): Clock {
  const pinned = process.env.STANDING_NOW;
  if (!pinned) return systemClock;
  const t = parseInstant(pinned);
  if (t === undefined) throw new StandingError("bad-request", `STANDING_NOW "${pinned}" is not an ISO 8601 instant with an offset`);
  return { now: () => t };
}

/** `readOnly`: the command only reads (statement): a snapshot on a read-only mount will do. */
export function openStanding(o: CommonOptions, mode: { readOnly?: boolean; shareReevaluation?: StandingOptions["shareReevaluation"] } & Pick<StandingOptions, "feed" | "feedPollMs" | "staleness" | "indexSnapshot"> = {}): Standing {
  const { readOnly, shareReevaluation, ...feed } = mode;
  return compose({ store: storeUrl(o), clock: clockFromEnv(), ...(readOnly ? { readOnly: true } : {}), ...(shareReevaluation ? { shareReevaluation } : {}), ...feed });
}

export function parseAt(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = parseInstant(text);
  if (t === undefined) throw new StandingError("bad-request", `--at "${text}" is not an ISO 8601 instant with an offset, e.g. 2027-01-01T00:00:00Z`);
  return t;
}

export class Output {
  constructor(readonly json: boolean) {}

  result(value: unknown, text: string): void {
    process.stdout.write(this.json ? JSON.stringify(value, null, 2) + "\n" : text.endsWith("\n") ? text : text + "\n");
  }

  error(e: unknown): number {
    if (isStandingError(e)) {
      if (this.json) process.stdout.write(JSON.stringify({ error: e.toJSON() }, null, 2) + "\n");
      else {
        process.stderr.write(`standing: error [${e.code}] ${e.message}\n`);
        const problems = (e.details as { problems?: unknown }).problems;
        if (Array.isArray(problems)) for (const p of problems) process.stderr.write(`  - ${String(p)}\n`);
      }
      return 1;
    }
    throw e;
  }
}
