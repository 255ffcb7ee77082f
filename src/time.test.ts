import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DateTime } from "luxon";
import { addDuration, humanDate, isoUtc, parseDuration, parseInstant, subtractDuration, type IsoDuration } from "./time.js";

// The fast calendar arithmetic must give exactly what luxon gives, in every zone,
// including across DST changes, skipped and repeated wall-clock hours and month ends.
const ZONES = ["UTC", "Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Sao_Paulo", "Pacific/Apia", "Europe/Dublin", "Africa/Monrovia"];

const instant = fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2100, 0, 1) });
const duration = fc
  .record({ y: fc.nat(12), mo: fc.nat(30), w: fc.nat(10), d: fc.nat(400), h: fc.nat(100), mi: fc.nat(200), s: fc.nat(5000) })
  .map(({ y, mo, w, d, h, mi, s }) => {
    const date = `${y ? `${y}Y` : ""}${mo ? `${mo}M` : ""}${w ? `${w}W` : ""}${d ? `${d}D` : ""}`;
    const time = `${h ? `${h}H` : ""}${mi ? `${mi}M` : ""}${s ? `${s}S` : ""}`;
    return `P${date}${time ? `T${time}` : ""}`;
  })
  .filter((iso) => iso !== "P");

function parsed(iso: string): IsoDuration {
  const d = parseDuration(iso);
  if (!d) throw new Error(`test generated an invalid duration ${iso}`);
  return d;
}

const viaLuxon = (t: number, d: IsoDuration, zone: string, sign: 1 | -1): number => {
  const dt = DateTime.fromMillis(t, { zone });
  return (sign === 1 ? dt.plus(d.luxon) : dt.minus(d.luxon)).toMillis();
};

describe("calendar arithmetic", () => {
  it("adds and subtracts exactly as luxon does, in any zone, for any whole-unit duration", () => {
    fc.assert(
      fc.property(instant, duration, fc.constantFrom(...ZONES), (t, iso, zone) => {
        const d = parsed(iso);
        expect(d.calendar).toBeDefined();
        expect(addDuration(t, d, zone)).toBe(viaLuxon(t, d, zone, 1));
        expect(subtractDuration(t, d, zone)).toBe(viaLuxon(t, d, zone, -1));
      }),
      { numRuns: 5000 },
    );
  });

  it("keeps the wall-clock time across a DST change and clamps month ends", () => {
    // Given 2026-03-07 12:00 in New York (EST, UTC-5), one day later is 12:00 EDT (UTC-4): 23 hours.
    const t = Date.UTC(2026, 2, 7, 17);
    expect(addDuration(t, parsed("P1D"), "America/New_York")).toBe(Date.UTC(2026, 2, 8, 16));
    // P1M from 31 January ends on the last day of February (a leap year).
    expect(addDuration(Date.UTC(2024, 0, 31), parsed("P1M"), "UTC")).toBe(Date.UTC(2024, 1, 29));
    // P1Y from 29 February 2024 is 28 February 2025.
    expect(addDuration(Date.UTC(2024, 1, 29, 8), parsed("P1Y"), "Asia/Shanghai")).toBe(Date.UTC(2025, 1, 28, 8));
  });

  it("lands a skipped wall-clock time where luxon does", () => {
    // 2026-03-08 02:30 does not exist in New York; start a day earlier at 02:30 EST.
    const t = Date.UTC(2026, 2, 7, 7, 30);
    const d = parsed("P1D");
    expect(addDuration(t, d, "America/New_York")).toBe(viaLuxon(t, d, "America/New_York", 1));
  });

  it("agrees with luxon around a transition that is not on a quarter hour, whatever was asked before", () => {
    // Monrovia left local mean time (-0:44:30) at 1972-01-07T00:44:30Z.
    const d = parsed("P1D");
    for (const t of [Date.UTC(1972, 0, 7, 0, 40), Date.UTC(1972, 0, 7, 0, 44, 40), Date.UTC(1972, 0, 7, 0, 44, 20), Date.UTC(1972, 0, 6, 12)]) {
      expect(addDuration(t, d, "Africa/Monrovia")).toBe(viaLuxon(t, d, "Africa/Monrovia", 1));
      expect(subtractDuration(t, d, "Africa/Monrovia")).toBe(viaLuxon(t, d, "Africa/Monrovia", -1));
    }
  });

  it("hands fractional units to luxon and still agrees with it", () => {
    const d = parsed("P1.5D");
    expect(d.calendar).toBeUndefined();
    const t = Date.UTC(2026, 5, 1);
    expect(addDuration(t, d, "Europe/London")).toBe(viaLuxon(t, d, "Europe/London", 1));
  });
});

describe("isoUtc", () => {
  it("writes every instant exactly as Date#toISOString does", () => {
    fc.assert(
      fc.property(fc.integer({ min: -62_198_755_200_000, max: 8_640_000_000_000_000 }), (t) => {
        expect(isoUtc(t)).toBe(new Date(t).toISOString());
      }),
      { numRuns: 20_000 },
    );
    for (const t of [0, -1, Date.UTC(1000, 0, 1), Date.UTC(1000, 0, 1) - 1, Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(2000, 1, 29), Date.UTC(1900, 1, 28, 23), Date.UTC(2100, 2, 1)]) {
      expect(isoUtc(t)).toBe(new Date(t).toISOString());
    }
  });
});

describe("parseInstant", () => {
  const pad = (n: number, w: number): string => String(n).padStart(w, "0");
  // luxon's reading, which the fast path must reproduce exactly (invalid → undefined).
  const viaLuxonText = (text: string): number | undefined => {
    const dt = DateTime.fromISO(text, { setZone: true });
    return dt.isValid ? dt.toMillis() : undefined;
  };
  const text = fc
    .record({
      y: fc.integer({ min: 0, max: 9999 }), mo: fc.integer({ min: 0, max: 13 }), d: fc.integer({ min: 0, max: 32 }),
      h: fc.integer({ min: 0, max: 25 }), mi: fc.integer({ min: 0, max: 61 }), s: fc.option(fc.integer({ min: 0, max: 61 })),
      frac: fc.option(fc.stringMatching(/^\d{1,9}$/)), zone: fc.oneof(fc.constant("Z"), fc.record({ sign: fc.constantFrom("+", "-"), oh: fc.integer({ min: 0, max: 25 }), om: fc.integer({ min: 0, max: 61 }), colon: fc.boolean() })),
    })
    .map(({ y, mo, d, h, mi, s, frac, zone }) => {
      const secs = s === null ? "" : `:${pad(s, 2)}${frac === null ? "" : `.${frac}`}`;
      const z = zone === "Z" ? "Z" : `${zone.sign}${pad(zone.oh, 2)}${zone.colon ? ":" : ""}${pad(zone.om, 2)}`;
      return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}${secs}${z}`;
    });

  it("reads every instant text exactly as luxon does, valid or not", () => {
    fc.assert(
      fc.property(text, (t) => {
        expect(parseInstant(t)).toBe(viaLuxonText(t));
      }),
      { numRuns: 20_000 },
    );
  });

  it("refuses text without an offset, and reads the common forms", () => {
    expect(parseInstant("2026-11-26T10:00:00")).toBeUndefined();
    expect(parseInstant("2026-02-30T10:00:00Z")).toBeUndefined();
    expect(parseInstant("2026-11-26T10:00:00.123456789+08:00")).toBe(Date.UTC(2026, 10, 26, 2, 0, 0, 123));
    expect(parseInstant("2026-11-26T10:00-0530")).toBe(Date.UTC(2026, 10, 26, 15, 30));
  });
});

describe("instants written for people", () => {
  it("writes an instant in a zone, with the zone's name for it, exactly as luxon does uncached, in any zone and across transitions", () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...ZONES), (t, zone) => {
        expect(humanDate(t, zone)).toBe(DateTime.fromMillis(t, { zone }).toFormat("yyyy-LL-dd HH:mm ZZZZ"));
      }),
      { numRuns: 20_000 },
    );
  });

  it("names a zone's summer and winter time apart in one year", () => {
    expect(humanDate(Date.UTC(2026, 0, 15, 12), "Europe/London")).toBe("2026-01-15 12:00 GMT");
    expect(humanDate(Date.UTC(2026, 6, 15, 12), "Europe/London")).toBe("2026-07-15 13:00 GMT+1");
    expect(humanDate(Date.UTC(2026, 0, 15, 12), "America/New_York")).toBe("2026-01-15 07:00 EST");
    expect(humanDate(Date.UTC(2026, 6, 15, 12), "America/New_York")).toBe("2026-07-15 08:00 EDT");
  });
});
