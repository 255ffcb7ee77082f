// Loads the demo population as if it had arrived over time: each day's records are
// ingested at the end of that day (or on the day the policy took effect, if later),
// so notices are issued when a real system would have issued them and the demo's
// restrictions are in force today, having been announced first.
import { Standing } from "../standing.js";
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

export function loadDemo(standing: Standing, subjects: number, seed: number): DemoLoad {
  const now = standing.clock.now();
  const pop = generatePopulation({ subjects, seed, now });
  const clock = new ManualClock(now);
  const history = new Standing(standing.store, clock);
  history.store.transaction(() => {
    for (const ids of pop.subjects) history.register(ids);
  });
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
    history.advance(day);
    for (const r of history.ingest(byDay.get(day) ?? [])) {
      if (r.status === "accepted" || r.status === "duplicate") accepted++;
      else if (r.status === "quarantined") quarantined++;
      else rejected++;
    }
  }
  clock.set(now);
  history.advance(now);
  return { subjects: pop.subjects.length, accepted, quarantined, rejected };
}
