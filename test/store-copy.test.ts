// `standing store copy` from the embedded store to PostgreSQL, as an operator moves a
// deployment: real processes. The copy verifies (journal, signatures against the
// source's published key, rows, replay), answers every check as the original does,
// goes on writing after it, and a copy cut off with SIGKILL is finished by running it again.
import { spawn, spawnSync } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Standing } from "../src/standing.js";
import { PgStore } from "../src/store/postgres/store.js";
import { SqliteStore } from "../src/store/sqlite/store.js";
import { ManualClock } from "../src/time.js";
import { behindTheBack, dropCreated, freshDatabase } from "../src/store/postgres/test-helpers.js";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");
const NOW = "2026-11-26T12:00:00Z";

function standing(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, STANDING_NOW: NOW, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), "standing-copy-"));
const source = join(dir, "s.db");

beforeAll(() => {
  expect(standing(["demo", "--subjects", "800", "--seed", "5", "--db", source, "--json"]).code).toBe(0);
  expect(standing(["keys", "create", "--role", "auditor", "--db", source, "--json"]).code).toBe(0);
  expect(standing(["tick", "--db", source, "--json"]).code).toBe(0);
}, 180_000);

afterAll(async () => {
  await dropCreated();
}, 300_000);

describe("standing store copy --from sqlite:… --to postgres://…", () => {
  it("given the demo database, when copied, then audit verify passes on the copy against the source's key and every check answers as on the original", async () => {
    const db = await freshDatabase("copy");
    const env = { STANDING_JOURNAL_KEY_FILE: db.keyFile };
    const r = standing(["store", "copy", "--from", `sqlite:${source}`, "--to", db.url, "--json"], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { rows: number; tables: Record<string, number> };
    const conn = new Database(source, { readonly: true });
    const count = (t: string): number => conn.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number;
    for (const t of ["records", "states", "journal", "journal_checkpoints", "keys", "notices"]) expect(out.tables[t], t).toBe(count(t));
    // Pinned to the key the source publishes.
    const pub = join(dir, "source-key.json");
    writeFileSync(pub, JSON.stringify({ publicKey: createPublicKey(readFileSync(`${source}.journal-key.pem`, "utf8")).export({ type: "spki", format: "pem" }) }));
    const v = standing(["audit", "verify", "--store", db.url, "--public-key", pub, "--json"], env);
    const report = JSON.parse(v.stdout) as { ok: boolean; problems: unknown[]; states: { checked: number }; publicKey: { source: string } };
    expect(report.problems).toEqual([]);
    expect(v.code).toBe(0);
    expect(report.states.checked).toBe(count("states"));
    expect(report.publicKey.source).toBe("pinned");

    // Every identifier, every context: the same answer.
    const clock = new ManualClock(Date.parse(NOW));
    const a = new Standing(new SqliteStore(source), clock);
    const b = new Standing(await new PgStore(db.url, { keyFile: db.keyFile }).open(), clock);
    try {
      await a.start();
      await b.start();
      const contexts = ["air-travel", "rail-travel", "public-services", "housing", "employment"];
      const ids = conn.prepare("SELECT scheme, value FROM identifiers ORDER BY scheme, value").all() as { scheme: string; value: string }[];
      let compared = 0;
      for (const id of ids) {
        for (const c of contexts) {
          const ask = (s: Standing): string => {
            try {
              const d = s.check(id, c);
              return JSON.stringify({ decision: d.decision, reasons: d.reasons });
            } catch (e) {
              return `error ${(e as { code?: string }).code ?? ""}`;
            }
          };
          expect(ask(b), `${id.scheme}:${id.value} ${c}`).toBe(ask(a));
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(1000);
    } finally {
      await a.close();
      await b.close();
      conn.close();
    }

    // The copy goes on: a new record through the CLI, and the chain still verifies.
    const f = join(dir, "after.ndjson");
    writeFileSync(f, JSON.stringify({ source: "court", id: "after-copy-1", type: "court.judgment.default", subject: { scheme: "national-id", value: "after-copy" }, occurredAt: "2026-11-01T09:00:00Z", fields: { case: "K-A", amount: 9000 }, evidence: "file://k" }) + "\n");
    expect(standing(["ingest", f, "--store", db.url, "--json"], env).code).toBe(0);
    expect(standing(["audit", "verify", "--store", db.url, "--public-key", pub], env).code).toBe(0);
  }, 240_000);

  it("given a copy killed part-way, when run again, then it finishes and the copy verifies", async () => {
    const db = await freshDatabase("copy-resume");
    const env = { STANDING_JOURNAL_KEY_FILE: db.keyFile };
    const child = spawn(process.execPath, [bin, "store", "copy", "--from", `sqlite:${source}`, "--to", db.url, "--batch", "200", "--no-progress"], {
      cwd: root,
      env: { ...process.env, ...env, STANDING_COPY_TRACE: "1" },
    });
    let seen = "";
    await new Promise<void>((done) => {
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        seen += chunk;
        if (/copy: journal \d+/.test(seen) && !child.killed) child.kill("SIGKILL");
      });
      child.on("exit", () => done());
    });
    expect(child.signalCode).toBe("SIGKILL");
    const partial = Number((await behindTheBack(db.url, "SELECT count(*) AS n FROM journal")).rows[0]?.n);
    const conn = new Database(source, { readonly: true });
    const entries = conn.prepare("SELECT count(*) FROM journal").pluck().get() as number;
    conn.close();
    expect(partial).toBeLessThan(entries);
    expect(standing(["audit", "verify", "--store", db.url], env).code).toBe(1); // not done yet
    const r = standing(["store", "copy", "--from", `sqlite:${source}`, "--to", db.url, "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(Number((await behindTheBack(db.url, "SELECT count(*) AS n FROM journal")).rows[0]?.n)).toBe(entries);
    const v = standing(["audit", "verify", "--store", db.url], env);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
  }, 240_000);

  it("given a target that holds another history, when copied into, then it is refused readably", async () => {
    const db = await freshDatabase("copy-other");
    const env = { STANDING_JOURNAL_KEY_FILE: db.keyFile };
    expect(standing(["keys", "create", "--role", "auditor", "--store", db.url, "--json"], env).code).toBe(0);
    const r = standing(["store", "copy", "--from", `sqlite:${source}`, "--to", db.url], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^standing: error \[bad-request\] /);
  });

  it("given a source with journal entries after its last signed head, when copied, then it is refused, nothing is copied, and audit verify is named", async () => {
    const db = await freshDatabase("copy-tail");
    const forged = join(dir, "forged.db");
    writeFileSync(forged, readFileSync(source));
    writeFileSync(`${forged}.journal-key.pem`, readFileSync(`${source}.journal-key.pem`));
    const raw = new Database(forged);
    const last = raw.prepare("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string };
    raw.prepare("INSERT INTO journal (seq, kind, tbl, key, row_hash, data, prev, hash) VALUES (?, 'event', NULL, NULL, NULL, '{}', ?, ?)").run(last.seq + 1, last.hash, "0".repeat(64));
    raw.close();
    const r = standing(["store", "copy", "--from", `sqlite:${forged}`, "--to", db.url], { STANDING_JOURNAL_KEY_FILE: db.keyFile });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^standing: error \[journal-inconsistent\] .*1 entries after its last signed head.*standing audit verify/);
    expect(Number((await behindTheBack(db.url, "SELECT count(*) AS n FROM journal")).rows[0]?.n)).toBe(0);
  });
});
