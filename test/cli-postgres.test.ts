// The CLI on PostgreSQL, as an operator runs it: real processes, `--store postgres://…`
// (or STANDING_STORE), a database of its own per suite. The same commands as on the
// embedded store; a database that is down is one line and exit 1.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { behindTheBack, dropCreated, freshDatabase } from "../src/store/postgres/test-helpers.js";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");
const NOW = "2026-11-26T12:00:00Z";

function standing(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, STANDING_NOW: NOW, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Publishes a policy as an operator does: one person proposes it, another approves it. */
function publish(url: string, env: Record<string, string>): number {
  const p = standing(["policy", "propose", "policies/municipal-credit.yaml", "--by", "test author", "--store", url, "--json"], env);
  if (p.code !== 0) return p.code;
  const id = (JSON.parse(p.stdout) as { proposal: { id: string } }).proposal.id;
  return standing(["policy", "approve", id, "--by", "test approver", "--store", url, "--json"], env).code;
}


afterAll(async () => {
  await dropCreated();
}, 300_000);

const tmp = (): string => mkdtempSync(join(tmpdir(), "standing-cli-pg-"));

describe("every command on a PostgreSQL store", () => {
  let url = "";
  let env: Record<string, string> = {};

  beforeAll(async () => {
    const db = await freshDatabase("cli");
    url = db.url;
    env = { STANDING_JOURNAL_KEY_FILE: db.keyFile };
    const r = standing(["demo", "--subjects", "400", "--seed", "7", "--store", url, "--json"], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { subjects: number }).subjects).toBe(400);
  }, 120_000);

  it("given the demo, when a debtor is checked and their statement printed, then the answers are the embedded store's", async () => {
    const found = await behindTheBack(
      url,
      "SELECT i.value FROM states s JOIN identifiers i ON i.subject_id = s.subject_id WHERE i.scheme = 'national-id' AND s.state LIKE '%\"code\":\"SPC-DEBTOR\"%\"status\":\"active\"%' ORDER BY s.subject_id LIMIT 1",
    );
    const who = `national-id:${String(found.rows[0]?.value)}`;
    const deny = standing(["check", who, "air-travel", "--store", url, "--json"], env);
    expect(deny.code, deny.stderr).toBe(0);
    expect((JSON.parse(deny.stdout) as { decision: string; reasons: { code: string }[] }).reasons[0]?.code).toBe("SPC-DEBTOR");
    const st = standing(["statement", who], { ...env, STANDING_STORE: url });
    expect(st.code).toBe(0);
    expect(st.stdout).toContain("court.judgment.default");
  });

  it("given records in a file, when ingested, a key created, time advanced and the journal verified, then each command succeeds and verify passes", () => {
    const dir = tmp();
    const f = join(dir, "in.ndjson");
    writeFileSync(
      f,
      [
        { source: "court", id: "pg-1", type: "court.judgment.default", subject: { scheme: "national-id", value: "pg-person-1" }, occurredAt: "2026-10-31T09:00:00Z", fields: { case: "K-1", amount: 9000 }, evidence: "file://k" },
        { source: "court", id: "pg-2", type: "no.such.type", subject: { scheme: "national-id", value: "pg-person-2" }, occurredAt: "2026-10-31T09:00:00Z" },
      ]
        .map((x) => JSON.stringify(x))
        .join("\n") + "\n",
    );
    const ing = standing(["ingest", f, "--store", url, "--json"], env);
    expect(ing.code, ing.stderr).toBe(1); // one line was refused
    expect(JSON.parse(ing.stdout)).toMatchObject({ accepted: 1, rejected: 1 });
    expect(standing(["keys", "create", "--role", "auditor", "--store", url, "--json"], env).code).toBe(0);
    expect(standing(["tick", "--store", url, "--json"], env).code).toBe(0);
    const v = standing(["audit", "verify", "--store", url], env);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("OK: the journal chain is intact");
  });

  it("given a row changed behind the store's back, when verified, then audit verify names it and exits 1", async () => {
    const db = await freshDatabase("cli-tamper");
    const e = { STANDING_JOURNAL_KEY_FILE: db.keyFile };
    expect(standing(["demo", "--subjects", "50", "--seed", "3", "--store", db.url, "--json"], e).code).toBe(0);
    await behindTheBack(db.url, "UPDATE records SET type = 'volunteer.service' WHERE seq = 2");
    const v = standing(["audit", "verify", "--store", db.url], e);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^standing: audit verify failed: records seq=2 /);
  }, 60_000);

  it("given an ingest killed with SIGKILL and run again, then no acknowledged record is lost and none is stored twice", async () => {
    const db = await freshDatabase("cli-kill");
    const e = { STANDING_JOURNAL_KEY_FILE: db.keyFile };
    expect(publish(db.url, e)).toBe(0);
    const dir = tmp();
    const f = join(dir, "big.ndjson");
    const total = 3000;
    const lines: string[] = [];
    for (let i = 0; i < total; i++) {
      lines.push(JSON.stringify({ source: "court", id: `k-${i}`, type: "court.judgment.default", subject: { scheme: "national-id", value: `p-${i % 1500}` }, occurredAt: "2026-10-31T09:00:00Z", fields: { case: `K-${i}`, amount: 9000 }, evidence: "file://k" }));
    }
    writeFileSync(f, lines.join("\n") + "\n");
    const child = spawn(process.execPath, [bin, "ingest", f, "--store", db.url, "--batch", "200", "--no-progress"], { cwd: root, env: { ...process.env, ...e, STANDING_NOW: NOW, STANDING_INGEST_TRACE: "1" } });
    let acknowledged = 0;
    await new Promise<void>((done) => {
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        const m = [...chunk.matchAll(/acknowledged (\d+)/g)].pop();
        if (m) acknowledged = Number(m[1]);
        if (acknowledged >= 600 && !child.killed) child.kill("SIGKILL");
      });
      child.on("exit", () => done());
    });
    expect(acknowledged).toBeGreaterThanOrEqual(600);
    expect(acknowledged).toBeLessThan(total);
    const count = async (): Promise<number> => Number((await behindTheBack(db.url, "SELECT count(*) AS n FROM records")).rows[0]?.n);
    const afterKill = await count();
    expect(afterKill).toBeGreaterThanOrEqual(acknowledged);
    const r = standing(["ingest", f, "--store", db.url, "--json", "--batch", "1000"], e);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    expect(s.duplicate).toBe(afterKill);
    expect(s.accepted).toBe(total - afterKill);
    expect(await count()).toBe(total);
    expect(standing(["audit", "verify", "--store", db.url, "--json"], e).code).toBe(0);
  }, 120_000);
});

describe("a PostgreSQL database that is down", () => {
  const down = "postgres://postgres@127.0.0.1:1/standing";

  it("given a command or serve pointed at it, when started, then one line names it and the exit code is 1", () => {
    for (const args of [["check", "national-id:x", "air-travel", "--store", down], ["serve", "--port", "0", "--store", down], ["audit", "verify", "--store", down]]) {
      const r = standing(args, { STANDING_JOURNAL_KEY_FILE: join(tmp(), "k.pem") });
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^standing: error \[storage-unavailable\] cannot reach the PostgreSQL database postgres:\/\/postgres@127\.0\.0\.1:1\/standing/);
    }
  });

  it("given serve pointed at it with STANDING_START_WAIT_MS, when the wait runs out, then each retry is one line and the last names it, exit 1", () => {
    const r = standing(["serve", "--port", "0", "--store", down], { STANDING_JOURNAL_KEY_FILE: join(tmp(), "k.pem"), STANDING_START_WAIT_MS: "1000" });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines.length, r.stderr).toBeGreaterThan(1);
    for (const l of lines.slice(0, -1)) expect(l).toMatch(/^standing: loading the index: cannot reach the PostgreSQL database .*; trying again in \d+ ms$/);
    expect(lines.at(-1)).toMatch(/^standing: error \[storage-unavailable\] cannot reach the PostgreSQL database/);
  });

  it("given an unknown store URL scheme, when a command starts, then it says which schemes there are", () => {
    const r = standing(["check", "national-id:x", "air-travel", "--store", "mysql://x/y"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("use sqlite:PATH or postgres://");
  });
});
