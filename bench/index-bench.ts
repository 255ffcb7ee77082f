// Index-level figures: a synthetic population put straight into a DecisionIndex
// (no SQLite), then checks against it. Only restricted subjects are in the index
// (absent means allow), exactly as in production.
import { PerformanceObserver } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
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
  /** V8 heap plus ArrayBuffers (the index keeps its tables in typed arrays, off the V8 heap). */
  readonly bytesPerSubject: number;
  readonly heapBytesPerSubject: number;
  readonly arrayBufferBytesPerSubject: number;
}

/** Heap and ArrayBuffer bytes in use after a full collection. */
function memoryInUse(): { heap: number; arrayBuffers: number } {
  const heap = heapUsed();
  return { heap, arrayBuffers: process.memoryUsage().arrayBuffers };
}

/** Subjects 1..n are restricted and indexed. The states are made first, so the timing is index building only. */
export function buildIndex(n: number, defs: readonly MeasureDef[]): BuiltIndex {
  const CHUNK = 100_000;
  const index = new DecisionIndex();
  const before = memoryInUse();
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
  const after = memoryInUse();
  const heap = (after.heap - before.heap) / n;
  const arrayBuffers = (after.arrayBuffers - before.arrayBuffers) / n;
  return { index, subjects: n, buildSeconds: seconds, bytesPerSubject: heap + arrayBuffers, heapBytesPerSubject: heap, arrayBufferBytesPerSubject: arrayBuffers };
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

// ------------------------------------------------------------------ extra lines (not in run.ts's table yet)

/**
 * The same queries as fresh strings, as a server gets them from each request it parses.
 * V8 caches a string's hash on the string the first time a Map hashes it, so pre-built
 * query strings that are used again and again let a Map-based index skip hashing; an
 * index that hashes in JavaScript pays per character either way. Each identifier is
 * cut out of one Latin-1 buffer per call (roughly what a request parser does).
 */
export function freshQueries(q: { schemes: string[]; values: string[] }): { schemes: string[]; buf: Buffer; starts: Int32Array } {
  const starts = new Int32Array(q.values.length + 1);
  let total = 0;
  for (let k = 0; k < q.values.length; k++) {
    starts[k] = total;
    total += (q.values[k] as string).length;
  }
  starts[q.values.length] = total;
  const buf = Buffer.from(q.values.join(""), "latin1");
  return { schemes: q.schemes, buf, starts };
}

/**
 * Calls per CPU-second on fresh strings. `perSecond` includes cutting the string out of
 * the buffer; `netPerSecond` subtracts the CPU time of a loop that only cuts strings.
 */
export function measureFreshCalls(call: Call, f: { schemes: string[]; buf: Buffer; starts: Int32Array }, seconds: number): { perSecond: number; netPerSecond: number } {
  const { schemes, buf, starts } = f;
  const mask = schemes.length - 1;
  let sink = 0;
  const loop = (withCall: boolean): { calls: number; cpuSeconds: number } => {
    let calls = 0;
    const cpu0 = process.cpuUsage();
    const deadline = now() + seconds * 1000;
    const STEP = 1 << 16;
    for (;;) {
      for (let i = 0; i < STEP; i++) {
        const k = (calls + i) & mask;
        const v = buf.toString("latin1", starts[k] as number, starts[k + 1] as number);
        if (withCall ? call(schemes[k] as string, v) : v.length === 0) sink++;
      }
      calls += STEP;
      if (now() >= deadline) break;
    }
    const cpu = process.cpuUsage(cpu0);
    return { calls, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  };
  loop(true); // warm up
  loop(false);
  gc();
  const base = loop(false);
  const full = loop(true);
  if (sink === -1) console.log(sink);
  const perCallCut = base.cpuSeconds / base.calls;
  return { perSecond: full.calls / full.cpuSeconds, netPerSecond: full.calls / Math.max(1e-9, full.cpuSeconds - perCallCut * full.calls) };
}

/**
 * Extra figures for one built index: the realistic mix (1 % of checks name a restricted
 * subject: 15 M restricted among 1.4 bn) beside the 50/50 stream of the main table, and
 * both on fresh strings.
 */
export function measureExtra(b: BuiltIndex, seconds: number): Record<string, unknown> {
  const n = b.subjects;
  const call: Call = (s, v) => b.index.denies(s, v, "air-travel", AT);
  const out: Record<string, unknown> = {};
  for (const [label, share] of [["50/50", 0.5], ["1% restricted", 0.01]] as const) {
    const q = queries(n, 1 << 20, share, 7);
    const pre = measureCalls(call, q, seconds);
    const fresh = measureFreshCalls(call, freshQueries(q), seconds);
    out[label] = { preBuilt: { perSecond: pre.perSecond, p50ns: pre.p50ns, p99ns: pre.p99ns }, fresh };
  }
  return out;
}

// `node --expose-gc --import tsx bench/index-bench.ts [subjects] [seconds]` prints the
// extra figures (and the memory split) without running the whole bench.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { compilePolicy } = await import("../src/policy/compile.js");
  const { readFileSync } = await import("node:fs");
  const compiled = compilePolicy(readFileSync(new URL("../policies/municipal-credit.yaml", import.meta.url), "utf8"), "policies/municipal-credit.yaml");
  if (!compiled.ok) throw new Error("policy does not compile");
  const n = Number(process.argv[2] ?? 1_000_000);
  const b = buildIndex(n, compiled.policy.measures);
  console.log(`${n.toLocaleString("en")} indexed: build ${b.buildSeconds.toFixed(2)} s; ${b.bytesPerSubject.toFixed(0)} B/subject (V8 heap ${b.heapBytesPerSubject.toFixed(0)} + ArrayBuffers ${b.arrayBufferBytesPerSubject.toFixed(0)})`);
  console.log(JSON.stringify(measureExtra(b, Number(process.argv[3] ?? 1.5)), null, 2));
}
