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
  /** The same duration split for the fast path; absent when a unit is fractional. */
  readonly calendar?: CalendarShift;
}

/** Whole calendar units (kept in local wall-clock time) and an exact remainder in ms. */
interface CalendarShift {
  readonly years: number;
  readonly months: number;
  readonly days: number;
  readonly millis: number;
}

export function parseDuration(text: string): IsoDuration | undefined {
  if (typeof text !== "string" || !/^P(?!$)/.test(text)) return undefined;
  const d = Duration.fromISO(text);
  if (!d.isValid) return undefined;
  const values = Object.values(d.toObject()).filter((v): v is number => typeof v === "number");
  if (values.some((v) => v < 0 || !Number.isFinite(v))) return undefined;
  return { iso: text, luxon: d, ...(values.every(Number.isSafeInteger) ? { calendar: calendarShift(d) } : {}) };
}

function calendarShift(d: Duration): CalendarShift {
  return {
    years: d.years,
    months: d.months + 3 * d.quarters,
    days: d.days + 7 * d.weeks,
    millis: d.hours * 3_600_000 + d.minutes * 60_000 + d.seconds * 1000 + d.milliseconds,
  };
}

// Asking Intl for a zone's offset is by far the most expensive step of calendar
// arithmetic, so offsets are cached. Most days have no transition at all: a day whose
// offset is a whole quarter hour and the same at 00:00, 06:00, 12:00, 18:00 and 23:45 UTC
// is cached as one entry (a zone would have to change its offset and change it back
// within six hours to defeat this; none in the time zone database does). Other days are
// cached by the quarter hour where the offset is the same at both ends of it, and asked
// of the zone otherwise. One entry per day keeps the cache small enough to stay in the
// CPU's caches.
const QUARTER_HOUR = 900_000;
const DAY_SPAN = 86_400_000;
const SAMPLES = [0, 6 * 3_600_000, 12 * 3_600_000, 18 * 3_600_000, DAY_SPAN - QUARTER_HOUR];
const MIXED = -100_000; // no real offset (in minutes) is this
// A year's worth of UTC time, the span over which a zone's name for one offset is taken as fixed.
const YEAR_SPAN = 365.25 * DAY_SPAN;

class CachedZone extends Zone {
  /** UTC day number → the day's offset, or MIXED when it changes during that day. */
  private readonly days = new Map<number, number>();
  private readonly quarters = new Map<number, number>();
  private readonly names = new Map<string, string | null>();
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
  /**
   * A zone's name for an instant ("CET", "EDT") is asked of Intl, which takes longer
   * than the rest of a notice's text together; it is the same for every instant of a
   * year at which the zone has the same offset, so it is cached by those.
   */
  override offsetName(ts: number, opts: Parameters<Zone["offsetName"]>[1]): string | null {
    const key = `${opts.format ?? ""}|${opts.locale ?? ""}|${this.offset(ts)}|${Math.floor(ts / YEAR_SPAN)}`;
    let name = this.names.get(key);
    if (name === undefined) {
      name = this.inner.offsetName(ts, opts);
      if (this.names.size > 10_000) this.names.clear();
      this.names.set(key, name);
    }
    return name;
  }
  override formatOffset(ts: number, format: Parameters<Zone["formatOffset"]>[1]): string {
    return this.inner.formatOffset(ts, format);
  }
  override offset(ts: number): number {
    const day = Math.floor(ts / DAY_SPAN);
    let o = this.days.get(day);
    if (o === undefined) {
      const start = day * DAY_SPAN;
      const first = this.inner.offset(start);
      o = first % 15 === 0 && SAMPLES.every((dt) => this.inner.offset(start + dt) === first) ? first : MIXED;
      if (this.days.size > 100_000) this.days.clear();
      this.days.set(day, o);
    }
    if (o !== MIXED) return o;
    const bucket = Math.floor(ts / QUARTER_HOUR);
    let q = this.quarters.get(bucket);
    if (q === undefined) {
      // A quarter hour is cached only if its offset is the same at both ends and a whole
      // quarter hour; the transitions from local mean time (-0:44:30 in Monrovia until
      // 1972) are neither, and are asked of the zone every time.
      const start = bucket * QUARTER_HOUR;
      const a = this.inner.offset(start);
      q = a % 15 === 0 && this.inner.offset(start + QUARTER_HOUR - 1) === a ? a : MIXED;
      if (this.quarters.size > 100_000) this.quarters.clear();
      this.quarters.set(bucket, q);
    }
    return q !== MIXED ? q : this.inner.offset(ts);
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
  const z = zoneFor(zone);
  const c = d.calendar;
  return (c && shift(t, c.years, c.months, c.days, c.millis, z)) ?? DateTime.fromMillis(t, { zone: z }).plus(d.luxon).toMillis();
}

export function subtractDuration(t: Instant, d: IsoDuration, zone: string): Instant {
  const z = zoneFor(zone);
  const c = d.calendar;
  return (c && shift(t, -c.years, -c.months, -c.days, -c.millis, z)) ?? DateTime.fromMillis(t, { zone: z }).minus(d.luxon).toMillis();
}

// Re-evaluation adds durations millions of times, and building a luxon DateTime for
// each was a fifth of its cost. This is luxon's own algorithm for `plus` with whole
// units (move the local date, clamp the day to the month, resolve the offset again,
// then add the exact part), without the objects; a property test holds it equal to
// luxon. Anything it does not cover (fractional units, years 0–99 that Date.UTC reads
// as 19xx, instants outside Date's range) returns undefined and goes to luxon.
const MINUTE = 60_000;
// The range the fast paths cover: four-digit years, where both Date and ISO text are plain.
const YEAR_1000 = -30_610_224_000_000;
const YEAR_10000 = 253_402_300_800_000;
const DAY_MS = 86_400_000;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function shift(t: Instant, years: number, months: number, days: number, millis: number, zone: Zone): Instant | undefined {
  if (!(t >= YEAR_1000 && t < YEAR_10000) || !Number.isInteger(t)) return undefined;
  const o = zone.offset(t);
  const local = t + o * MINUTE;
  const dayNumber = Math.floor(local / DAY_MS);
  const timeOfDay = local - dayNumber * DAY_MS;
  const c = civil(dayNumber);
  const year = c.year + years;
  if (!(year >= 100)) return undefined;
  const month = c.month + months;
  const day = Math.min(c.day, daysInMonth(year, month)) + days;
  // Months past December or before January carry into the year, days into the month, as Date.UTC does.
  const m0 = (((month - 1) % 12) + 12) % 12;
  const localTs = (daysFromCivil(year + (month - 1 - m0) / 12, m0 + 1, 1) + day - 1) * DAY_MS + timeOfDay;
  return resolveLocal(localTs, o, zone) + millis;
}

/** The instant of a local wall-clock time, guessing the offset `o` first (luxon's fixOffset). */
function resolveLocal(localTs: number, o: number, zone: Zone): Instant {
  const guess = localTs - o * MINUTE;
  const o2 = zone.offset(guess);
  if (o === o2) return guess;
  const second = guess - (o2 - o) * MINUTE;
  const o3 = zone.offset(second);
  if (o2 === o3) return second;
  // A wall-clock time skipped by a DST change: luxon keeps it on the earlier offset.
  return localTs - Math.min(o2, o3) * MINUTE;
}

function daysInMonth(year: number, month: number): number {
  const m = (((month - 1) % 12) + 12) % 12;
  if (m !== 1) return MONTH_DAYS[m] as number;
  const y = year + (month - 1 - m) / 12;
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
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
  const m = INSTANT.exec(text);
  if (!m) return undefined;
  return fastInstant(m) ?? luxonInstant(text);
}

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))$/;

function luxonInstant(text: string): Instant | undefined {
  const dt = DateTime.fromISO(text, { setZone: true });
  return dt.isValid ? dt.toMillis() : undefined;
}

// Every record's occurredAt is parsed on ingest, and luxon's parser was a twentieth of
// it. Fields in their ordinary ranges are read here the way luxon reads them (the
// fraction truncated to milliseconds); anything else (hour 24, leap seconds, odd
// offsets, years before 1000) goes to luxon, and a test holds the two equal.
function fastInstant(m: RegExpExecArray): Instant | undefined {
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const offHours = m[10] === undefined ? 0 : Number(m[10]);
  const offMinutes = m[11] === undefined ? 0 : Number(m[11]);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || offHours > 23 || offMinutes > 59) return undefined;
  const ms = m[7] === undefined ? 0 : Math.floor(parseFloat(`0.${m[7]}`) * 1000);
  const offset = (m[9] === "-" ? -1 : 1) * (offHours * 60 + offMinutes);
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset * MINUTE;
}

// Every state carries a dozen instants as text, and Date#toISOString was a fifth of
// evaluation time. The civil date comes from the day number by the usual era
// arithmetic (days since 0000-03-01 in 400-year eras); a test holds it equal to
// toISOString, which still formats anything outside years 1000–9999.
const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const three = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

export function isoUtc(t: Instant): string {
  if (!(t >= YEAR_1000 && t < YEAR_10000) || !Number.isInteger(t)) return new Date(t).toISOString();
  const dayNumber = Math.floor(t / DAY_MS);
  const ms = t - dayNumber * DAY_MS;
  const { year, month, day } = civil(dayNumber);
  return `${year}-${two(month)}-${two(day)}T${two(Math.floor(ms / 3_600_000))}:${two(Math.floor(ms / 60_000) % 60)}:${two(Math.floor(ms / 1000) % 60)}.${three(ms % 1000)}Z`;
}

/** The proleptic Gregorian date of a day number (days since 1970-01-01). */
function civil(dayNumber: number): { year: number; month: number; day: number } {
  const z = dayNumber + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day: doy - Math.floor((153 * mp + 2) / 5) + 1 };
}

/** The day number of a date; `month` in 1–12. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

export function isoInZone(t: Instant, zone: string): string {
  return DateTime.fromMillis(t, { zone }).toISO({ suppressMilliseconds: true }) ?? isoUtc(t);
}

/** "2026-11-26 13:00 CET": how notices and statements write an instant for people. */
export function humanDate(t: Instant, zone: string): string {
  return DateTime.fromMillis(t, { zone: zoneFor(zone) }).toFormat("yyyy-LL-dd HH:mm ZZZZ");
}
