// Index-level figures: a synthetic population put straight into a DecisionIndex
// (no SQLite), then checks against it. Only restricted subjects are in the index
// (absent means allow), exactly as in production.
import { PerformanceObserver } from "node:perf_hooks";
import { DecisionIndex } from "../src/engine/decision-index.js";
import type { MeasureState } from "../src/engine/types.js";
import type { MeasureDef } from "../src/policy/types.js";
import { gc, heapUsed, now, percentile, rng } from "./util.js";

export const AT = Date.parse("2026-11-26T12:00:00Z");
const DAY = 86_400_000;

// Identifiers as a server or the store would hand them over: flat strings (as out of
// JSON.parse or SQLite). Built by concatenation they would be rope (cons) strings,
// and V8 would flatten them, allocating, on their first comparison inside a timed loop.
const flat = (s: string): string => JSON.parse(JSON.stringify(s)) as string;
export const nid = (i: number): string => flat(`demo-${String(i).padStart(9, "0")}`);
export const pass = (i: number): string => flat(`demo-P${String(i).padStart(9, "0")}`);

/** Restrict lists a synthetic restricted subject is on (deterministic in i). */
export function listsOf(i: number): string[] {
  const r = ((i * 2654435761) >>> 0) / 4294967296;
  const lists = r < 0.7 ? ["judgment-defaulters"] : r < 0.9 ? ["aviation-banned"] : ["judgment-defaulters", "aviation-banned"];
  if (r * 1000 % 10 < 0.5) lists.push("rail-banned");
  return lists;
}

const SINCE = Array.from({ length: 500 }, (_, k) => new Date(AT - (1 + k) * DAY).toISOString());
const UNTIL = Array.from({ length: 700 }, (_, k) => new Date(AT + (1 + k) * DAY).toISOString());

/** The measures the policy attaches to those lists, all active at AT. */
export function measuresOf(i: number, defs: readonly MeasureDef[]): MeasureState[] {
  const lists = listsOf(i);
  const since = SINCE[i % 500] as string;
  const until = UNTIL[i % 700] as string;
  const out: MeasureState[] = [];
  for (const d of defs) {
    if (d.effect !== "deny") continue;
    const hit = d.lists.filter((l) => lists.includes(l));
    if (hit.length === 0) continue;
    out.push({ measure: d.measure, context: d.context, effect: "deny", code: d.code, basis: d.basis ?? null, status: "active", since, until, lists: hit });
  }
  return out;
}

export function identifiersOf(i: number): { scheme: string; value: string }[] {
  return i % 5 === 0 ? [{ scheme: "national-id", value: nid(i) }, { scheme: "passport", value: pass(i) }] : [{ scheme: "national-id", value: nid(i) }];
}

export interface BuiltIndex {
  readonly index: DecisionIndex;
  readonly subjects: number;
  readonly buildSeconds: number;
  readonly bytesPerSubject: number;
}

/** Subjects 1..n are restricted and indexed. The states are made first, so the timing is index building only. */
export function buildIndex(n: number, defs: readonly MeasureDef[]): BuiltIndex {
  const CHUNK = 100_000;
  const index = new DecisionIndex();
  const before = heapUsed();
  let seconds = 0;
  for (let start = 1; start <= n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK - 1);
    const ids: { scheme: string; value: string }[][] = [];
    const ms: MeasureState[][] = [];
    for (let i = start; i <= end; i++) {
      ids.push(identifiersOf(i));
      ms.push(measuresOf(i, defs));
    }
    const t = now();
    for (let i = start; i <= end; i++) index.put(i, ids[i - start] as never, ms[i - start] as MeasureState[]);
    seconds += (now() - t) / 1000;
  }
  const after = heapUsed();
  return { index, subjects: n, buildSeconds: seconds, bytesPerSubject: (after - before) / n };
}

/** A query stream: `hitShare` of the queries name an indexed subject, the rest someone absent. */
export function queries(n: number, size: number, hitShare: number, seed: number): { schemes: string[]; values: string[]; expectDeny: number } {
  const rand = rng(seed);
  const schemes: string[] = [];
  const values: string[] = [];
  for (let k = 0; k < size; k++) {
    if (rand() < hitShare) {
      const i = 1 + Math.floor(rand() * n);
      if (i % 5 === 0 && rand() < 0.5) {
        schemes.push("passport");
        values.push(pass(i));
      } else {
        schemes.push("national-id");
        values.push(nid(i));
      }
    } else {
      schemes.push("national-id");
      values.push(nid(n + 1 + Math.floor(rand() * 1e8)));
    }
  }
  return { schemes, values, expectDeny: 0 };
}

export interface CheckFigures {
  /** Calls per CPU-second of this process (the machine is shared; wall time would count others' work). */
  readonly perSecond: number;
  readonly wallPerSecond: number;
  readonly p50ns: number;
  readonly p99ns: number;
  readonly p999ns: number;
  readonly bytesPerCall: number;
  readonly gcs: number;
}

function gcCounter(): { stop(): number } {
  let count = 0;
  const obs = new PerformanceObserver((list) => {
    count += list.getEntries().length;
  });
  obs.observe({ entryTypes: ["gc"] });
  return {
    stop() {
      obs.disconnect();
      return count;
    },
  };
}

type Call = (scheme: string, value: string) => unknown;

/** Throughput over `seconds`, then per-call latency on a sample (timer overhead subtracted). */
export function measureCalls(call: Call, q: { schemes: string[]; values: string[] }, seconds: number): CheckFigures {
  const { schemes, values } = q;
  const mask = schemes.length - 1; // size is a power of two
  let sink = 0;
  // warm up
  for (let i = 0; i < 300_000; i++) if (call(schemes[i & mask] as string, values[i & mask] as string)) sink++;
  gc();
  const gcs = gcCounter();
  const heap0 = process.memoryUsage().heapUsed;
  let calls = 0;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const deadline = t0 + seconds * 1000;
  const STEP = 1 << 18;
  for (;;) {
    const base = calls;
    for (let i = 0; i < STEP; i++) {
      const k = (base + i) & mask;
      if (call(schemes[k] as string, values[k] as string)) sink++;
    }
    calls += STEP;
    if (now() >= deadline) break;
  }
  const elapsed = (now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const heap1 = process.memoryUsage().heapUsed;
  const gcCount = gcs.stop();
  // Per-call latency. hrtime.bigint itself costs tens of ns: measure that and subtract.
  const SAMPLES = 200_000;
  const lat = new Float64Array(SAMPLES);
  const empty = new Float64Array(SAMPLES);
  for (let s = 0; s < SAMPLES; s++) {
    const a = process.hrtime.bigint();
    const b = process.hrtime.bigint();
    empty[s] = Number(b - a);
  }
  empty.sort();
  const overhead = percentile(empty, 50);
  for (let s = 0; s < SAMPLES; s++) {
    const k = (s * 7919) & mask;
    const sc = schemes[k] as string;
    const v = values[k] as string;
    const a = process.hrtime.bigint();
    if (call(sc, v)) sink++;
    const b = process.hrtime.bigint();
    lat[s] = Math.max(0, Number(b - a) - overhead);
  }
  lat.sort();
  if (sink === -1) console.log(sink);
  return {
    perSecond: calls / cpuSeconds,
    wallPerSecond: calls / elapsed,
    p50ns: percentile(lat, 50),
    p99ns: percentile(lat, 99),
    p999ns: percentile(lat, 99.9),
    // Without a collection in between, the heap grows by what the loop allocated.
    bytesPerCall: gcCount === 0 ? Math.max(0, heap1 - heap0) / calls : NaN,
    gcs: gcCount,
  };
}

/** In-process batch screening: answers for a whole batch of identifiers into a byte array. */
export function screenBatch(index: DecisionIndex, schemes: string[], values: string[], context: string, at: number, out: Uint8Array): number {
  let denied = 0;
  for (let i = 0; i < schemes.length; i++) {
    const d = index.denies(schemes[i] as string, values[i] as string, context, at);
    out[i] = d ? 1 : 0;
    if (d) denied++;
  }
  return denied;
}

export function measureScreening(index: DecisionIndex, q: { schemes: string[]; values: string[] }, seconds: number): { perSecond: number } {
  const out = new Uint8Array(q.schemes.length);
  screenBatch(index, q.schemes, q.values, "air-travel", AT, out);
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  while (now() - t0 < seconds * 1000) {
    screenBatch(index, q.schemes, q.values, "air-travel", AT, out);
    n += q.schemes.length;
  }
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: n / ((cpu.user + cpu.system) / 1e6) };
}
