import fc from "fast-check";
import { validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import { timeOrderedId } from "./ids.js";

describe("time-ordered ids", () => {
  it("given many ids made in a row, when compared, then each is a valid UUIDv7, none repeats, and they sort in the order they were made", () => {
    const ids = Array.from({ length: 20_000 }, () => timeOrderedId());
    for (const id of ids.slice(0, 100)) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it("given any sequence of clock readings, moving on, standing still or going back, when ids are made, then they are unique and each sorts after the one before", () => {
    // Each run starts a second past the last, so every run sees new milliseconds as well as repeated and earlier ones.
    let base = Date.now() + 60_000;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 300 }), (steps) => {
        base += 1_000;
        let t = base;
        const ids = steps.map((d) => timeOrderedId((t += d)));
        expect(new Set(ids).size).toBe(ids.length);
        for (let i = 1; i < ids.length; i++) expect((ids[i] as string) > (ids[i - 1] as string)).toBe(true);
      }),
    );
  });
});
