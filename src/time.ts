// Time handling in one place: instants are epoch milliseconds (numbers) inside the
// core; durations are ISO 8601 and are added with calendar arithmetic in the
// policy's time zone, so "P1M" from 31 January ends on the last day of February and
// "P1D" across a DST change keeps the wall-clock time.
import { DateTime, Duration, IANAZone, Zone } from "luxon";

export type Instant = number;

export interface Clock {
  now(): Instant;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests can move by hand. */
export class ManualClock implements Clock {
  constructor(private t: Instant) {}
  now(): Instant {
    return this.t;
  }
  set(t: Instant): void {
    this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface IsoDuration {
  readonly iso: string;
  readonly luxon: Duration;
}

export function parseDuration(text: string): IsoDuration | undefined {
  if (typeof text !== "string" || !/^P(?!$)/.test(text)) return undefined;
  const d = Duration.fromISO(text);
  if (!d.isValid) return undefined;
  const values = Object.values(d.toObject()).filter((v): v is number => typeof v === "number");
  if (values.some((v) => v < 0 || !Number.isFinite(v))) return undefined;
  return { iso: text, luxon: d };
}

// Asking Intl for a zone's offset is by far the most expensive step of calendar
// arithmetic. Offsets are multiples of 15 minutes and every modern transition falls
// on a quarter hour, so the offset is constant within each UTC quarter hour and can
// be cached per quarter hour without changing any result.
const QUARTER_HOUR = 900_000;

class CachedZone extends Zone {
  private readonly cache = new Map<number, number>();
  constructor(private readonly inner: IANAZone) {
    super();
  }
  override get type(): string {
    return "iana";
  }
  override get name(): string {
    return this.inner.name;
  }
  override get isUniversal(): boolean {
    return false;
  }
  override get isValid(): boolean {
    return this.inner.isValid;
  }
  override offsetName(ts: number, opts: Parameters<Zone["offsetName"]>[1]): string | null {
    return this.inner.offsetName(ts, opts);
  }
  override formatOffset(ts: number, format: Parameters<Zone["formatOffset"]>[1]): string {
    return this.inner.formatOffset(ts, format);
  }
  override offset(ts: number): number {
    const bucket = Math.floor(ts / QUARTER_HOUR);
    let o = this.cache.get(bucket);
    if (o === undefined) {
      o = this.inner.offset(ts);
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(bucket, o);
    }
    return o;
  }
  override equals(other: Zone): boolean {
    return other.type === "iana" && other.name === this.name;
  }
}

const zones = new Map<string, Zone>();
function zoneFor(name: string): Zone {
  let z = zones.get(name);
  if (!z) {
    z = new CachedZone(IANAZone.create(name));
    zones.set(name, z);
  }
  return z;
}

export function addDuration(t: Instant, d: IsoDuration, zone: string): Instant {
  return DateTime.fromMillis(t, { zone: zoneFor(zone) }).plus(d.luxon).toMillis();
}

export function subtractDuration(t: Instant, d: IsoDuration, zone: string): Instant {
  return DateTime.fromMillis(t, { zone: zoneFor(zone) }).minus(d.luxon).toMillis();
}

/** Compares two durations by adding both to the same anchor (calendar-aware). */
export function durationExceeds(a: IsoDuration, b: IsoDuration, zone = "UTC"): boolean {
  // A month is longest from 31 Jan in a leap year; checking from several anchors keeps
  // "P12M" vs "P1Y" and "P366D" vs "P1Y" comparisons honest.
  const anchors = [Date.UTC(2024, 0, 31), Date.UTC(2023, 2, 1), Date.UTC(2025, 6, 15)];
  return anchors.some((t0) => addDuration(t0, a, zone) > addDuration(t0, b, zone));
}

export function isValidZone(zone: string): boolean {
  return DateTime.local().setZone(zone).isValid;
}

/** Parses an ISO 8601 instant; a value without an offset is refused, not guessed. */
export function parseInstant(text: unknown): Instant | undefined {
  if (typeof text !== "string") return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/.test(text)) return undefined;
  const dt = DateTime.fromISO(text, { setZone: true });
  return dt.isValid ? dt.toMillis() : undefined;
}

export function isoUtc(t: Instant): string {
  return new Date(t).toISOString();
}

export function isoInZone(t: Instant, zone: string): string {
  return DateTime.fromMillis(t, { zone }).toISO({ suppressMilliseconds: true }) ?? isoUtc(t);
}

export function humanDate(t: Instant, zone: string): string {
  return DateTime.fromMillis(t, { zone }).toFormat("yyyy-LL-dd HH:mm ZZZZ");
}
