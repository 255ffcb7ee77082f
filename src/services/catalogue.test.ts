// The catalogue of permitted record categories as the shell keeps it: adopted by a
// separate, journaled act, held to the same checks as a policy's names, and never able
// to strand a version in force.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { auditSqliteFile } from "../store/sqlite/audit.js";
import { replayerOf } from "../standing.js";
import { ManualClock } from "../time.js";
import { buildServer } from "../api/server.js";

const root = resolve(import.meta.dirname, "../..");
const SHIPPED = readFileSync(join(root, "catalogue", "categories.yaml"), "utf8");
const POLICY = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
const NOW = Date.UTC(2026, 2, 1);
const HOUR = 3_600_000;

/** The shipped catalogue under another version, with one more category. */
const WITH_PARKS = SHIPPED.replace("version: 2026.1.0", "version: 2026.2.0").replace(
  "categories:\n",
  "categories:\n  park-rules:\n    subjects: [person]\n    description: A park warden's record of a breach of the rules posted in a public park.\n    basis: Municipal park bylaws.\n",
);
/** A policy version with a record type of the new category. */
const V2 = POLICY.replace(/^version: .*$/m, "version: 2026.2.0").replace(
  "records:\n",
  "records:\n  park.litter:\n    category: park-rules\n    severity: minor\n    sources: [park-warden]\n    evidence: required\n",
);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(): Promise<{ standing: Standing; clock: ManualClock; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), "standing-catalogue-"));
  dirs.push(dir);
  const file = join(dir, "standing.db");
  const clock = new ManualClock(NOW);
  const standing = new Standing(new SqliteStore(file), clock);
  await standing.publish(POLICY, "municipal-credit.yaml");
  return { standing, clock, file };
}

describe("the catalogue of permitted categories", () => {
  it("given the shipped catalogue, when a policy names a category it lacks, then publishing is refused; once a catalogue with it is adopted, the version publishes, and the store verifies", async () => {
    const { standing, clock, file } = await setup();
    expect(standing.catalogue()).toMatchObject({ adoptedAt: null, catalogue: { version: "2026.1.0" } });
    await expect(standing.publish(V2, "v2.yaml")).rejects.toThrow(expect.objectContaining({ code: "invalid-policy" }));
    clock.set(NOW + HOUR);
    const r = await standing.adoptCatalogue(WITH_PARKS, "categories.yaml", "the registry office");
    expect(r).toMatchObject({ status: "adopted", change: { from: { version: "2026.1.0" }, to: { version: "2026.2.0" }, added: ["park-rules"], removed: [], changed: [] } });
    expect(standing.catalogue()).toMatchObject({ adoptedAt: NOW + HOUR, adoptedBy: "the registry office", catalogue: { version: "2026.2.0" } });
    clock.set(NOW + 2 * HOUR);
    expect(await standing.publish(V2, "v2.yaml")).toMatchObject({ status: "published" });
    const [res] = await standing.ingest([{ source: "park-warden", id: "p1", type: "park.litter", subject: { scheme: "national-id", value: "X1" }, occurredAt: new Date(NOW + HOUR).toISOString(), evidence: "photo://1" }]);
    expect(res?.status).toBe("accepted");
    // The same file again is nothing new; another text under the same version is refused.
    expect((await standing.adoptCatalogue(WITH_PARKS, "categories.yaml", "the registry office")).status).toBe("unchanged");
    await expect(standing.adoptCatalogue(WITH_PARKS.replace("Municipal park bylaws.", "Park bylaws."), "c.yaml", "x")).rejects.toThrow(expect.objectContaining({ code: "invalid-catalogue" }));
    await standing.close();
    // Verified from the file alone: the adoption is a journaled row, and the version is replayed under the catalogue it was published under.
    const report = auditSqliteFile(file, { replay: replayerOf() });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("given a catalogue that names a prohibited ground or another person, when adopted, then it is refused naming the guardrail, and nothing is stored", async () => {
    const { standing } = await setup();
    const worship = SHIPPED.replace("version: 2026.1.0", "version: 2026.3.0").replace("categories:\n", "categories:\n  religious-observance:\n    subjects: [person]\n    description: Attendance at services.\n    basis: None.\n");
    await expect(standing.adoptCatalogue(worship, "bad.yaml", "x")).rejects.toThrow(expect.objectContaining({ code: "invalid-catalogue", details: { errors: expect.arrayContaining([expect.objectContaining({ code: "G1" })]) as unknown } }));
    expect(standing.catalogue().history).toEqual([]);
  });

  it("given a category the policy in force uses, when a catalogue without it is adopted, then it is refused naming the version it would strand", async () => {
    const { standing } = await setup();
    const noRail = SHIPPED.replace("version: 2026.1.0", "version: 2026.4.0").replace(/\n {2}rail-conduct:\n(?: {4}.*\n)+/, "\n");
    expect(noRail).not.toContain("rail-conduct:");
    await expect(standing.adoptCatalogue(noRail, "c.yaml", "x")).rejects.toThrow(expect.objectContaining({ code: "invalid-catalogue", details: expect.objectContaining({ policy: "municipal-credit@2026.1.0" }) as unknown }));
  });

  it("given an adopted catalogue, when anyone asks the API or the transparency portal, then they see its categories, version and fingerprint without a key", async () => {
    const { standing, clock } = await setup();
    clock.set(NOW + HOUR);
    await standing.adoptCatalogue(WITH_PARKS, "categories.yaml", "the registry office");
    const app = buildServer(standing);
    try {
      const api = await app.inject({ method: "GET", url: "/v1/catalogue" });
      expect(api.statusCode).toBe(200);
      const body = api.json<{ version: string; hash: string; adoptedBy: string; categories: { category: string }[]; history: unknown[] }>();
      expect(body).toMatchObject({ version: "2026.2.0", adoptedBy: "the registry office", history: [expect.objectContaining({ version: "2026.2.0" })] });
      expect(body.categories.map((c) => c.category)).toContain("park-rules");
      const page = await app.inject({ method: "GET", url: "/catalogue" });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('data-category="park-rules"');
      expect(page.body).toContain(body.hash);
    } finally {
      await app.close();
      await standing.close();
    }
  });

  it("given a server following the feed, when another process adopts a catalogue, then the server holds new versions to it", async () => {
    const { standing: server, clock, file } = await setup();
    await server.follow();
    const cli = new Standing(new SqliteStore(file), clock);
    try {
      clock.set(NOW + HOUR);
      await cli.adoptCatalogue(WITH_PARKS, "categories.yaml", "the registry office");
      await server.catchUp();
      expect(server.catalogue().catalogue.version).toBe("2026.2.0");
    } finally {
      await cli.close();
      await server.close();
    }
  });
});
