// The CLI on bad media and in the demo, as an operator meets it: real processes, real
// database files. A file-size limit is set with `ulimit -f` in a child shell; a
// read-only file with chmod on a copy (not under root, where chmod stops nothing).
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { forOperator, hoistCommonOptions } from "../src/cli/failure.js";
import { isStandingError } from "../src/errors.js";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");
const NOW = "2026-11-26T12:00:00Z";
const env = { ...process.env, STANDING_NOW: NOW };

function standing(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Publishes a policy as an operator does: one person proposes it, another approves it. */
function publishPolicy(file: string, db: string): { code: number; stdout: string; stderr: string } {
  const p = standing(["policy", "propose", file, "--by", "test author", "--db", db, "--json"]);
  if (p.code !== 0) return p;
  const id = (JSON.parse(p.stdout) as { proposal: { id: string } }).proposal.id;
  return standing(["policy", "approve", id, "--by", "test approver", "--db", db, "--json"]);
}

/** The same command in a shell whose files may grow to at most `kib` KiB. */
function limited(kib: number, args: string[]): { code: number; stdout: string; stderr: string } {
  const quoted = [process.execPath, bin, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const r = spawnSync("bash", ["-c", `ulimit -f ${kib}; exec ${quoted}`], { cwd: root, encoding: "utf8", env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}


const tmp = (): string => mkdtempSync(join(tmpdir(), "standing-failures-"));

function records(n: number, prefix: string): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(JSON.stringify({ source: "court", id: `${prefix}-${i}`, type: "court.judgment.default", subject: { scheme: "national-id", value: `${prefix}-p-${i}` }, occurredAt: "2026-10-31T09:00:00Z", fields: { case: `K-${i}`, amount: 9000 }, evidence: "file://k" }));
  }
  return out.join("\n") + "\n";
}

function expectCleanFailure(r: { code: number; stdout: string; stderr: string }, json: boolean): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toContain("SqliteError");
  if (json) {
    const body = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(body.error.code).toMatch(/^storage-/);
    expect(body.error.message).not.toBe("");
  } else {
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^standing: error \[storage-[a-z-]+\] /);
  }
}

describe("a file-size limit ends ingest with exit 1 and one line, and loses nothing", () => {
  const dir = tmp();
  const db = join(dir, "s.db");
  const file = join(dir, "big.ndjson");
  beforeAll(() => {
    expect(publishPolicy(join(root, "policies", "municipal-credit.yaml"), db).code).toBe(0);
    writeFileSync(file, records(6_000, "r"));
  }, 120_000);

  it("with --json: an error object on stdout", () => {
    const r = limited(1_500, ["ingest", file, "--db", db, "--json", "--no-progress"]);
    expectCleanFailure(r, true);
  }, 120_000);

  it("without --json: one line on stderr", () => {
    const r = limited(1_500, ["ingest", file, "--db", db, "--no-progress"]);
    expectCleanFailure(r, false);
  }, 120_000);

  it("the database still verifies afterwards: what was acknowledged is there, nothing half-written", () => {
    const r = standing(["audit", "verify", "--db", db, "--json"]);
    expect(r.code, r.stdout).toBe(0);
    expect((JSON.parse(r.stdout) as { ok: boolean }).ok).toBe(true);
  }, 120_000);

  it("statement and audit verify under the same limit end cleanly too (or succeed: they only read)", () => {
    const small = join(dir, "small.ndjson");
    writeFileSync(small, records(5, "s"));
    expect(standing(["ingest", small, "--db", db, "--json", "--no-progress"]).code).toBe(0);
    for (const args of [["statement", "national-id:s-p-1", "--db", db, "--json"], ["audit", "verify", "--db", db, "--json"]]) {
      const r = limited(1, args);
      if (r.code !== 0) expectCleanFailure(r, true);
      expect(r.code).not.toBe(70);
    }
  }, 120_000);
});

describe("a read-only database", () => {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  // Under root, chmod does not stop writes; the case cannot be made with a mode alone.
  it.skipIf(isRoot)("ingest ends with exit 1 and a storage error, not a stack trace", () => {
    const dir = tmp();
    const db = join(dir, "s.db");
    expect(publishPolicy(join(root, "policies", "municipal-credit.yaml"), db).code).toBe(0);
    const ro = join(tmp(), "ro.db");
    copyFileSync(db, ro);
    for (const f of readdirSync(dir)) if (f.startsWith("s.db.") && !f.endsWith("-wal") && !f.endsWith("-shm")) copyFileSync(join(dir, f), ro + f.slice("s.db".length));
    chmodSync(ro, 0o444);
    const file = join(dir, "one.ndjson");
    writeFileSync(file, records(1, "x"));
    const r = standing(["ingest", file, "--db", ro, "--json", "--no-progress"]);
    expectCleanFailure(r, true);
  });

  it("the classification: SQLite and file-system codes become storage errors; anything else stays a bug", () => {
    const cases: [unknown, string | undefined][] = [
      [new Database.SqliteError("database or disk is full", "SQLITE_FULL"), "storage-full"],
      [new Database.SqliteError("attempt to write a readonly database", "SQLITE_READONLY"), "storage-read-only"],
      [new Database.SqliteError("attempt to write a readonly database", "SQLITE_READONLY_DBMOVED"), "storage-read-only"],
      [new Database.SqliteError("disk I/O error", "SQLITE_IOERR_WRITE"), "storage-unavailable"],
      [new Database.SqliteError("unable to open database file", "SQLITE_CANTOPEN"), "storage-unavailable"],
      [Object.assign(new Error("no space left on device"), { code: "ENOSPC" }), "storage-full"],
      [Object.assign(new Error("file too large"), { code: "EFBIG" }), "storage-full"],
      [Object.assign(new Error("read-only file system"), { code: "EROFS" }), "storage-read-only"],
      [new Database.SqliteError("UNIQUE constraint failed", "SQLITE_CONSTRAINT_UNIQUE"), undefined],
      [new TypeError("x is undefined"), undefined],
    ];
    for (const [e, code] of cases) {
      const out = forOperator(e);
      if (code === undefined) expect(out).toBe(e);
      else {
        expect(isStandingError(out)).toBe(true);
        expect((out as { code: string }).code).toBe(code);
      }
    }
  });
});

describe("statement and audit verify on a store that may not be written", () => {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const dir = tmp();
  const db = join(dir, "s.db");
  beforeAll(() => {
    expect(publishPolicy(join(root, "policies", "municipal-credit.yaml"), db).code).toBe(0);
    const small = join(dir, "small.ndjson");
    writeFileSync(small, records(5, "ro"));
    expect(standing(["ingest", small, "--db", db, "--json", "--no-progress"]).code).toBe(0);
  }, 120_000);

  /** A snapshot as an auditor gets one: the database and its journal key, in a folder of its own. */
  function snapshot(): { folder: string; file: string } {
    const folder = tmp();
    const file = join(folder, "snapshot.db");
    copyFileSync(db, file);
    for (const f of readdirSync(dir)) if (f.startsWith("s.db.") && !f.endsWith("-wal") && !f.endsWith("-shm")) copyFileSync(join(dir, f), file + f.slice("s.db".length));
    return { folder, file };
  }
  const fingerprint = (file: string): { bytes: string; mtime: number } => ({ bytes: createHash("sha256").update(readFileSync(file)).digest("hex"), mtime: statSync(file).mtimeMs });

  it("statement reads a file and its folder made read-only, and writes nothing to it", () => {
    const { folder, file } = snapshot();
    const before = fingerprint(file);
    const names = readdirSync(folder).sort();
    chmodSync(file, 0o444);
    chmodSync(folder, 0o555);
    try {
      const r = standing(["statement", "national-id:ro-p-1", "--db", file, "--json"]);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ policy: "municipal-credit@2026.1.0", policyApproval: { proposedBy: "test author", approvedBy: "test approver" }, records: [{ id: "ro-1" }] });
      const text = standing(["statement", "national-id:ro-p-1", "--db", file]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain("approved by test approver");
      // Unknown subject: a clean refusal, not a write.
      const none = standing(["statement", "national-id:nobody", "--db", file, "--json"]);
      expect(none.code).toBe(1);
      expect(JSON.parse(none.stdout)).toMatchObject({ error: { code: "not-found" } });
      const audit = standing(["audit", "verify", "--db", file, "--json"]);
      expect(audit.code, audit.stdout).toBe(0);
    } finally {
      chmodSync(folder, 0o755);
      chmodSync(file, 0o644);
    }
    // Not a byte changed, and (as root, where modes stop nothing) not touched either.
    expect(fingerprint(file)).toEqual(before);
    if (!isRoot) expect(readdirSync(folder).sort()).toEqual(names);
  }, 120_000);

  // A real read-only mount, where SQLite cannot create its shared-memory file: needs root and a mount it may make.
  const canMount = isRoot && process.platform === "linux" && spawnSync("sh", ["-c", "command -v mount && command -v umount"]).status === 0;
  it.skipIf(!canMount)("statement and audit verify read a snapshot on a read-only mount", () => {
    const mnt = tmp();
    if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt]).status !== 0) return; // not permitted here
    try {
      const { file } = snapshot();
      for (const f of readdirSync(join(file, ".."))) copyFileSync(join(file, "..", f), join(mnt, f));
      expect(spawnSync("mount", ["-o", "remount,ro", mnt]).status).toBe(0);
      const ro = join(mnt, "snapshot.db");
      const before = fingerprint(ro);
      const r = standing(["statement", "national-id:ro-p-2", "--db", ro, "--json"]);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ records: [{ id: "ro-2" }] });
      const audit = standing(["audit", "verify", "--db", ro, "--json"]);
      expect(audit.code, audit.stdout).toBe(0);
      expect((JSON.parse(audit.stdout) as { ok: boolean }).ok).toBe(true);
      // A command that writes ends cleanly.
      const ingest = standing(["tick", "--db", ro, "--json"]);
      expect(ingest.code).toBe(1);
      expect(fingerprint(ro)).toEqual(before);
    } finally {
      spawnSync("umount", [mnt]);
    }
  }, 120_000);
});

describe("--db before the subcommand", () => {
  it("is moved after it, before any --", () => {
    expect(hoistCommonOptions(["node", "standing", "--db", "x.db", "statement", "a:b"])).toEqual(["node", "standing", "statement", "a:b", "--db", "x.db"]);
    expect(hoistCommonOptions(["node", "standing", "--json", "--db=x.db", "check", "a:b", "air"])).toEqual(["node", "standing", "check", "a:b", "air", "--json", "--db=x.db"]);
    expect(hoistCommonOptions(["node", "standing", "--db", "x.db", "policy", "lint", "--", "--odd.yaml"])).toEqual(["node", "standing", "policy", "lint", "--db", "x.db", "--", "--odd.yaml"]);
    expect(hoistCommonOptions(["node", "standing", "statement", "a:b", "--db", "x.db"])).toEqual(["node", "standing", "statement", "a:b", "--db", "x.db"]);
  });

  it("works as an operator types it", () => {
    const dir = tmp();
    const db = join(dir, "s.db");
    expect(standing(["--db", db, "policy", "propose", join(root, "policies", "municipal-credit.yaml"), "--by", "test author", "--json"]).code).toBe(0);
    expect(existsSync(db)).toBe(true);
    const r = standing(["--db", db, "--json", "quarantine"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  }, 60_000);
});

describe("serve --demo and demo never touch a real database", () => {
  it("refuse a database with data a demo did not make, and write no keys beside it", () => {
    const dir = tmp();
    const db = join(dir, "real.db");
    expect(publishPolicy(join(root, "policies", "municipal-credit.yaml"), db).code).toBe(0);
    for (const args of [["serve", "--demo", "--db", db, "--port", "0", "--json"], ["demo", "--subjects", "50", "--db", db, "--json"]]) {
      const r = standing(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect((JSON.parse(r.stdout) as { error: { code: string; message: string } }).error).toMatchObject({ code: "forbidden" });
    }
    expect(existsSync(join(dir, "demo-keys.json"))).toBe(false);
    const keys = standing(["keys", "list", "--db", db, "--json"]);
    expect(JSON.parse(keys.stdout)).toEqual([]);
  }, 60_000);

  it("a new database becomes a demo store, and a demo store can be loaded again", () => {
    const dir = tmp();
    const db = join(dir, "demo.db");
    expect(standing(["demo", "--subjects", "50", "--seed", "1", "--db", db, "--json"]).code).toBe(0);
    const again = standing(["demo", "--subjects", "50", "--seed", "2", "--db", db, "--json"]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 120_000);
});
