// The CLI as an operator runs it: real processes, a real database file.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");
const NOW = "2026-11-26T12:00:00Z";

function standing(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, STANDING_NOW: NOW, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Publishes a policy as an operator does: one person proposes it, another approves it. */
function publishPolicy(file: string, db: string): { code: number; stdout: string; stderr: string } {
  const p = standing(["policy", "propose", file, "--by", "test author", "--db", db, "--json"]);
  if (p.code !== 0) return p;
  const id = (JSON.parse(p.stdout) as { proposal: { id: string } }).proposal.id;
  return standing(["policy", "approve", id, "--by", "test approver", "--db", db, "--json"]);
}


function tmp(): string {
  return mkdtempSync(join(tmpdir(), "standing-cli-"));
}

describe("standing policy lint", () => {
  it("accepts every example policy", () => {
    const r = standing(["policy", "lint", "policies/municipal-credit.yaml", "policies/driving-licence.yaml"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("ok (municipal-credit@");
  });

  it("refuses a rejected policy with file:line:col and the guardrail, exit code 1", () => {
    const dir = tmp();
    const f = join(dir, "jaywalk.yaml");
    const text = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8").replace(
      "  aviation-banned:\n    effect: restrict\n    enter: aviation.onboard-misconduct",
      "  aviation-banned:\n    effect: restrict\n    enter: [aviation.onboard-misconduct, traffic.jaywalking]",
    );
    writeFileSync(f, text);
    const r = standing(["policy", "lint", f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:\\d+:\\d+: error \\[G3 score-alone-never-restricts\\]`));
    expect(r.stderr).toContain("traffic.jaywalking");
  });

  it("--json reports errors as data", () => {
    const dir = tmp();
    const f = join(dir, "bad.yaml");
    writeFileSync(f, "standing: 1\npolicy: [\n");
    const r = standing(["policy", "lint", f, "--json"]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; errors: { line: number; code: string }[] }[];
    expect(report[0]?.ok).toBe(false);
    expect(report[0]?.errors[0]?.code).toBe("yaml");
  });

  it("a missing file is a readable error, not a stack trace", () => {
    const r = standing(["policy", "lint", "no/such/file.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("does not exist");
    expect(r.stderr).not.toContain("    at ");
  });
});

describe("demo, check and statement", () => {
  const dir = tmp();
  const db = join(dir, "s.db");
  let debtor = "";

  beforeAll(() => {
    const r = standing(["demo", "--subjects", "3000", "--seed", "7", "--db", db, "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { subjects: number; accepted: number; rejected: number };
    expect(out.subjects).toBe(3000);
    expect(out.rejected).toBe(0);
  }, 120_000);

  it("a debtor is denied air travel with reason code and basis, and allowed in an unrelated context", async () => {
    const { default: Database } = await import("better-sqlite3");
    const conn = new Database(db, { readonly: true });
    const row = conn
      .prepare("SELECT i.value FROM states s JOIN identifiers i ON i.subject_id = s.subject_id WHERE i.scheme = 'national-id' AND s.state LIKE '%\"code\":\"SPC-DEBTOR\"%\"status\":\"active\"%' LIMIT 1")
      .get() as { value: string } | undefined;
    conn.close();
    expect(row).toBeDefined();
    debtor = `national-id:${row?.value}`;
    const deny = standing(["check", debtor, "air-travel", "--db", db, "--json"]);
    expect(deny.code).toBe(0);
    const d = JSON.parse(deny.stdout) as { decision: string; reasons: { code: string; basis: string }[]; receipt: { format: string } };
    expect(d.decision).toBe("deny");
    expect(d.receipt.format).toBe("standing-receipt/1");
    expect(d.reasons[0]?.code).toBe("SPC-DEBTOR");
    expect(d.reasons[0]?.basis).toContain("Supreme People's Court");
    const allow = standing(["check", debtor, "public-services", "--db", db, "--json"]);
    expect((JSON.parse(allow.stdout) as { decision: string }).decision).toBe("allow");
    const text = standing(["check", debtor, "air-travel", "--db", db]);
    expect(text.stdout).toMatch(/^DENY/);
  });

  it("the statement shows records, their points and when they expire", () => {
    const r = standing(["statement", debtor, "--db", db]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("court.judgment.default");
    expect(r.stdout).toMatch(/-100 points \(court-default\), from \d{4}-\d\d-\d\d .* until \d{4}-\d\d-\d\d/);
    expect(r.stdout).toContain("WHAT CHANGES WHEN");
    expect(r.stdout).toContain("basis:");
  });

  it("unknown subjects, contexts and identifiers are readable errors", () => {
    expect(standing(["check", "nonsense", "air-travel", "--db", db]).stderr).toContain("SCHEME:VALUE");
    const ctx = standing(["check", "national-id:demo-000001", "moon-landing", "--db", db]);
    expect(ctx.code).toBe(1);
    expect(ctx.stderr).toContain("unknown-context");
    const st = standing(["statement", "national-id:nobody", "--db", db]);
    expect(st.code).toBe(1);
    expect(st.stderr).toContain("not-found");
  });
});

describe("standing ingest", () => {
  function records(n: number, start = 0): string {
    const lines: string[] = [];
    for (let i = start; i < start + n; i++) {
      lines.push(JSON.stringify({ source: "volunteer-registry", id: `v-${i}`, type: "volunteer.service", subject: { scheme: "national-id", value: `p-${i % 10000}` }, occurredAt: "2026-06-01T10:00:00+08:00", fields: { hours: 1 + (i % 5) } }));
    }
    return lines.join("\n") + "\n";
  }

  it("counts every line: accepted, duplicate, quarantined, rejected with reasons written out", () => {
    const dir = tmp();
    const db = join(dir, "s.db");
    expect(publishPolicy("policies/municipal-credit.yaml", db).code).toBe(0);
    const f = join(dir, "in.ndjson");
    writeFileSync(
      f,
      [
        JSON.stringify({ source: "court", id: "c1", type: "court.judgment.default", subject: { scheme: "national-id", value: "x1" }, occurredAt: "2026-06-01T10:00:00+08:00", fields: { case: "A", amount: 10 }, evidence: "file://a" }),
        JSON.stringify({ source: "court", id: "c1", type: "court.judgment.default", subject: { scheme: "national-id", value: "x1" }, occurredAt: "2026-06-01T02:00:00Z", fields: { case: "A", amount: 10 }, evidence: "file://a" }),
        "{not json",
        "",
        JSON.stringify({ source: "airline", id: "a1", type: "aviation.onboard-misconduct", subject: { scheme: "passport", value: "P1" }, occurredAt: "2026-06-01T10:00:00+08:00", fields: { flight: "X1" }, evidence: "r://1" }),
        JSON.stringify({ source: "gossip", id: "g1", type: "social.post", subject: { scheme: "national-id", value: "x1" }, occurredAt: "2026-06-01T10:00:00+08:00" }),
      ].join("\n") + "\n",
    );
    const r = standing(["ingest", f, "--db", db, "--json"]);
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout) as Record<string, number | string>;
    expect(s).toMatchObject({ lines: 5, accepted: 1, duplicate: 1, quarantined: 1, rejected: 2 });
    const rejects = readFileSync(String(s.rejects), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { line: number; error: { code: string } });
    expect(rejects.map((x) => [x.line, x.error.code])).toEqual([
      [3, "bad-request"],
      [6, "unknown-record-type"],
    ]);
  });

  it("reads CSV with typed field columns", () => {
    const dir = tmp();
    const db = join(dir, "s.db");
    publishPolicy("policies/municipal-credit.yaml", db);
    const f = join(dir, "in.csv");
    writeFileSync(f, "source,id,type,subject,occurredAt,evidence,kmh-over,hours\ntraffic-police,t1,traffic.speeding,national-id:y1,2026-10-01T10:00:00+08:00,cam://1,25,\nvolunteer-registry,v1,volunteer.service,national-id:y1,2026-10-01T10:00:00+08:00,,,3\ntraffic-police,t2,traffic.speeding,national-id:y1,2026-10-01T10:00:00+08:00,cam://2,fast,\n");
    const r = standing(["ingest", f, "--db", db, "--json"]);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    expect(s).toMatchObject({ lines: 3, accepted: 2, rejected: 1 });
    const st = JSON.parse(standing(["statement", "national-id:y1", "--db", db, "--json"]).stdout) as { score: number };
    expect(st.score).toBe(1000 - 6 + 3);
  });

  it("SIGKILL in the middle of an ingest loses no acknowledged record and duplicates none", async () => {
    const dir = tmp();
    const db = join(dir, "s.db");
    expect(publishPolicy("policies/municipal-credit.yaml", db).code).toBe(0);
    const f = join(dir, "big.ndjson");
    const total = 20_000;
    writeFileSync(f, records(total));
    // Run until at least one batch was acknowledged, then kill -9.
    const child = spawn(process.execPath, [bin, "ingest", f, "--db", db, "--batch", "200", "--no-progress"], { cwd: root, env: { ...process.env, STANDING_NOW: NOW, STANDING_INGEST_TRACE: "1" } });
    let acknowledged = 0;
    await new Promise<void>((resolveKill) => {
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        const m = [...chunk.matchAll(/acknowledged (\d+)/g)].pop();
        if (m) acknowledged = Number(m[1]);
        if (acknowledged >= 2000 && !child.killed) child.kill("SIGKILL");
      });
      child.on("exit", () => resolveKill());
    });
    expect(acknowledged).toBeGreaterThanOrEqual(2000);
    expect(acknowledged).toBeLessThan(total);
    const { default: Database } = await import("better-sqlite3");
    const count = (): number => {
      const c = new Database(db, { readonly: true });
      const n = (c.prepare("SELECT count(*) AS n FROM records").get() as { n: number }).n;
      c.close();
      return n;
    };
    const afterKill = count();
    expect(afterKill).toBeGreaterThanOrEqual(acknowledged);
    // Verifying and reading a file the kill left with its write-ahead log never writes:
    // no log folded in, nothing re-created, no pragma written (the database and its log
    // keep their bytes; the shared-memory index is SQLite's scratch space, not data).
    const wal = `${db}-wal`;
    expect(existsSync(wal) && readFileSync(wal).length > 0).toBe(true);
    const bytes = (): string[] => [readFileSync(db).toString("base64"), readFileSync(wal).toString("base64")];
    const before = bytes();
    const verified = standing(["audit", "verify", "--db", db, "--json"]);
    expect(verified.code, verified.stderr).toBe(0);
    expect((JSON.parse(verified.stdout) as { ok: boolean }).ok).toBe(true);
    expect(standing(["statement", "national-id:p-0", "--db", db, "--json"]).code).toBe(0);
    expect(bytes()).toEqual(before);
    const r = standing(["ingest", f, "--db", db, "--json", "--batch", "1000"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    expect(s.lines).toBe(total);
    expect(s.duplicate).toBe(afterKill);
    expect(s.accepted).toBe(total - afterKill);
    expect(count()).toBe(total);
  }, 120_000);

  it("refuses a missing input file and a database-less ingest readably", () => {
    const r = standing(["ingest", "nope.ndjson", "--db", join(tmp(), "s.db")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("does not exist");
    expect(existsSync("nope.ndjson.rejected.ndjson")).toBe(false);
  });
});
