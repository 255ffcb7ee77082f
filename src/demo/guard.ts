// Demo data and demo keys (printed in plain text, kept beside the database) only ever go
// into a store made for them: a new one, which is then marked, or one marked before.
// Pointed at a store that holds real data, `serve --demo` and `demo` refuse.
import { StandingError } from "../errors.js";
import type { Standing } from "../standing.js";

const DEMO_FLAG = "demo-store";

export function isDemoStore(s: Standing): boolean {
  return s.store.getMeta(DEMO_FLAG) === "yes";
}

function isNewStore(s: Standing): boolean {
  return s.publishedPolicies().length === 0 && s.store.countSubjects() === 0 && s.store.listKeys().length === 0 && s.store.listQuarantine(1).length === 0;
}

/** Marks a new store as a demo store; refuses a store that holds anything else. */
export function claimForDemo(s: Standing, db: string): void {
  if (isDemoStore(s)) return;
  if (!isNewStore(s)) {
    throw new StandingError("forbidden", `${db} holds data that a demo did not make; the demo runs only on a new database or one it made. Give another path with --db.`, { db });
  }
  s.store.transaction(() => s.store.setMeta(DEMO_FLAG, "yes"));
}
