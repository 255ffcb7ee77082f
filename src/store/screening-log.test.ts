// Rows of the compact log keep each decision's time: a line without one is read at the
// row's time, so a row whose time a later line raised must name the others' times.
import { describe, expect, it } from "vitest";
import { screenedAbout, screeningRows } from "./screening-log.js";

describe("compact log rows", () => {
  it("a batch whose lines are later than the batch: the row takes the latest, and every line reads back at its own time", () => {
    const who = { scheme: "national-id", value: "A1" };
    const d = (id: string, at?: number) => ({ id, scheme: who.scheme, value: who.value, decision: "allow" as const, codes: [], ...(at === undefined ? {} : { at }) });
    const rows = screeningRows({ id: "b", at: 1_000, keyId: "k", askedBy: "checkpoint:Gate", context: "air-travel", decisions: [d("plain"), d("same", 1_000), d("later", 5_000), d("earlier", 500)] });
    expect(rows).toHaveLength(1);
    const [row] = rows as [(typeof rows)[0]];
    expect(row.at).toBe(5_000);
    expect(screenedAbout(row, who).map((x) => [x.id, x.at])).toEqual([
      ["plain", 1_000],
      ["same", 1_000],
      ["later", 5_000],
      ["earlier", 500],
    ]);
  });
});
