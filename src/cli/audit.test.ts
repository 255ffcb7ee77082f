// `standing audit verify` as an auditor runs it: a real process on a real file.
import { spawnSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { behindTheBack, copyDb, flipChar, populate, root, tempDir, type Populated } from "../store/sqlite/test-helpers.js";

const bin = join(root, "bin", "standing.js");
const dir = tempDir("standing-audit-cli-");
let base: Populated;
let n = 0;

function standing(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, STANDING_NOW: "2026-03-10T00:00:00Z" } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  // The CLI runs compiled code; build once so it is the current source.
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
  base = await populate(join(dir, "base.db"));
}, 120_000);

describe("standing audit verify", () => {
  it("exits 0 on an untouched database and says what it checked", () => {
    const r = standing(["audit", "verify", "--db", base.path]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("OK: the journal chain is intact and signed up to #");
    expect(r.stdout).toContain("3 stored states replayed");
  });

  it("--json gives the report as data", () => {
    const r = standing(["audit", "verify", "--db", base.path, "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; problems: unknown[]; unsignedTail: number };
    expect(report).toMatchObject({ ok: true, problems: [], unsignedTail: 0 });
  });

  it("exits 1 when one byte of a record changed, naming the record first", () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    const seq = base.recordSeq["c-1"] as number;
    behindTheBack(path, (db) => {
      const body = db.prepare("SELECT body FROM records WHERE seq = ?").pluck().get(seq) as string;
      db.prepare("UPDATE records SET body = ? WHERE seq = ?").run(flipChar(body, body.indexOf("5000")), seq);
    });
    const r = standing(["audit", "verify", "--db", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`audit verify failed: records seq=${seq} (court/c-1): the row differs from what journal entry #`);
    expect(r.stdout).toContain("FAILED:");
    const j = standing(["audit", "verify", "--db", path, "--json"]);
    expect(j.code).toBe(1);
    expect((JSON.parse(j.stdout) as { problems: { where: string }[] }).problems[0]?.where).toBe(`records seq=${seq} (court/c-1)`);
  });

  it("exits 1 naming the journal entry when the journal was edited", () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    behindTheBack(path, (db) => db.prepare("UPDATE journal SET kind = 'record.retracted' WHERE seq = 9").run());
    const r = standing(["audit", "verify", "--db", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("audit verify failed: journal seq=9: entry #9");
  });

  it("--public-key pins the published key: the JSON of GET /v1/journal/key, or a PEM", () => {
    const pem = createPublicKey(readFileSync(`${base.path}.journal-key.pem`, "utf8")).export({ type: "spki", format: "pem" }) as string;
    const json = join(dir, "key.json");
    writeFileSync(json, JSON.stringify({ algorithm: "Ed25519", publicKey: pem }));
    expect(standing(["audit", "verify", "--db", base.path, "--public-key", json]).code).toBe(0);
    const other = join(dir, "other.pem");
    writeFileSync(other, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }));
    const r = standing(["audit", "verify", "--db", base.path, "--public-key", other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the journal is signed by key [0-9a-f]{16}…, not by the pinned public key \([0-9a-f]{16}…\)/);
  });

  it("a missing database is a readable error, exit 1", () => {
    const r = standing(["audit", "verify", "--db", join(dir, "nothing-here.db")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no database at");
  });

  it("a database built by other commands verifies, with every command's writes signed when it exits", () => {
    const db = join(dir, "demo.db");
    expect(standing(["demo", "--subjects", "200", "--seed", "3", "--db", db, "--json"]).code).toBe(0);
    expect(standing(["keys", "create", "--role", "auditor", "--db", db, "--json"]).code).toBe(0);
    expect(standing(["tick", "--db", db, "--json"]).code).toBe(0);
    const r = standing(["audit", "verify", "--db", db, "--json"]);
    const report = JSON.parse(r.stdout) as { ok: boolean; problems: unknown[]; unsignedTail: number; states: { checked: number } };
    expect(report.problems).toEqual([]);
    expect(r.code).toBe(0);
    expect(report.unsignedTail).toBe(0);
    expect(report.states.checked).toBeGreaterThan(0);
  }, 120_000);
});
