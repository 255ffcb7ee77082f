// Loads the demo population as if it had arrived over time: each day's records are
// ingested at the end of that day (or on the day the policy took effect, if later),
// so notices are issued when a real system would have issued them and the demo's
// restrictions are in force today, having been announced first.
import type { Standing } from "../standing.js";
import { ManualClock } from "../time.js";
import { generatePopulation } from "./population.js";
import type { RecordInput } from "../ingest/input.js";

const DAY = 86_400_000;

export interface DemoLoad {
  readonly subjects: number;
  readonly accepted: number;
  readonly quarantined: number;
  readonly rejected: number;
}

export async function loadDemo(standing: Standing, subjects: number, seed: number): Promise<DemoLoad> {
  const now = standing.now();
  const pop = generatePopulation({ subjects, seed, now });
  const clock = new ManualClock(now);
  const history = standing.withClock(clock);
  await history.registerAll(pop.subjects);
  const effective = history.activePolicy(now)?.effective ?? now;
  const byDay = new Map<number, RecordInput[]>();
  for (const r of pop.records) {
    const arrives = Math.min(now, Math.max(effective, (Math.floor(Date.parse(r.occurredAt) / DAY) + 1) * DAY));
    const group = byDay.get(arrives) ?? [];
    group.push(r);
    byDay.set(arrives, group);
  }
  let accepted = 0;
  let quarantined = 0;
  let rejected = 0;
  for (const day of [...byDay.keys()].sort((a, b) => a - b)) {
    clock.set(day);
    await history.advance(day);
    for (const r of await history.ingest(byDay.get(day) ?? [])) {
      if (r.status === "accepted" || r.status === "duplicate") accepted++;
      else if (r.status === "quarantined") quarantined++;
      else rejected++;
    }
  }
  clock.set(now);
  await history.advance(now);
  // The caller's index learns what the history wrote through the feed, at once.
  await standing.catchUp();
  return { subjects: pop.subjects.length, accepted, quarantined, rejected };
}
