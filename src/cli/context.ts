// Shared plumbing for CLI commands: where the database is, which clock, how errors
// and results are printed.
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { openStanding as compose, type Standing } from "../standing.js";
import { StandingError, isStandingError } from "../errors.js";
import { parseInstant, systemClock, type Clock } from "../time.js";

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const seedPolicyPath = join(packageRoot, "policies", "municipal-credit.yaml");

export interface CommonOptions {
  db?: string;
  json?: boolean;
}

export function dbPath(o: CommonOptions): string {
  return resolve(o.db ?? process.env.STANDING_DB ?? join(process.cwd(), "data", "standing.db"));
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
export function openStanding(o: CommonOptions, mode: { readOnly?: boolean } = {}): Standing {
  return compose({ store: dbPath(o), clock: clockFromEnv(), ...(mode.readOnly ? { readOnly: true } : {}) });
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
