// Demo data and demo keys (printed in plain text, kept beside the database) only ever go
// into a store made for them: a new one, which is then marked, or one marked before.
// Pointed at a store that holds real data, `serve --demo` and `demo` refuse.
import { StandingError } from "../errors.js";
import type { Standing } from "../standing.js";

const DEMO_FLAG = "demo-store";

export async function isDemoStore(s: Standing): Promise<boolean> {
  return (await s.reads.getMeta(DEMO_FLAG)) === "yes";
}

async function isNewStore(s: Standing): Promise<boolean> {
  return s.publishedPolicies().length === 0 && (await s.reads.countSubjects()) === 0 && (await s.listKeys()).length === 0 && (await s.reads.listQuarantine(1)).length === 0;
}

/** Marks a new store as a demo store; refuses a store that holds anything else. */
export async function claimForDemo(s: Standing, db: string): Promise<void> {
  await s.start();
  if (await isDemoStore(s)) return;
  if (!(await isNewStore(s))) {
    throw new StandingError("forbidden", `${db} holds data that a demo did not make; the demo runs only on a new database or one it made. Give another path with --db.`, { db });
  }
  await s.setSetting(DEMO_FLAG, "yes");
}
