import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { ManualClock } from "../time.js";

describe("records with text that cannot be stored as UTF-8", () => {
  it("given an id or source with a lone surrogate (a JSON escape or a cut pair), when ingested, then it is rejected with a clear error, never a crash", async () => {
    const standing = new Standing(new SqliteStore(":memory:"), new ManualClock(Date.parse("2026-11-01T00:00:00Z")));
    try {
      await standing.publish(readFileSync(join(import.meta.dirname, "..", "..", "policies", "municipal-credit.yaml"), "utf8"), "p.yaml");
      const base = { type: "volunteer.service", subject: { scheme: "national-id", value: "x" }, occurredAt: "2026-10-01T00:00:00Z", fields: { hours: 1 } };
      const lone = JSON.parse('"a\\ud809"') as string;
      const results = await standing.ingest([
        { ...base, source: "volunteer-registry", id: lone },
        { ...base, source: lone, id: "v1" },
        { ...base, source: "volunteer-registry", id: "a" + "𒒝".repeat(201) }, // too long, and cut at 200 code units mid-pair
      ]);
      expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
      for (const r of results) if (r.status === "rejected") expect(r.error.code).toBe("invalid-record");
      expect(await standing.reads.countRecords()).toBe(0);
    } finally {
      await standing.close();
    }
  });
});
