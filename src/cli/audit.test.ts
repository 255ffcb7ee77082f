// `standing audit verify` as an auditor runs it: a real process on a real file.
import { spawnSync } from "node:child_process";
import { createHash, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { checkpointPayload } from "../journal/hash.js";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { ManualClock } from "../time.js";
import { beforeAll, describe, expect, it } from "vitest";
import { NOW, behindTheBack, copyDb, flipChar, nid, populate, root, tempDir, type Populated } from "../store/sqlite/test-helpers.js";

const bin = join(root, "bin", "standing.js");
const dir = tempDir("standing-audit-cli-");
let base: Populated;
let n = 0;

function standing(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, STANDING_NOW: "2026-03-10T00:00:00Z", ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
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

describe("the key audit verify trusts, kept apart from the data folder", () => {
  const pem = () => createPublicKey(readFileSync(`${base.path}.journal-key.pem`, "utf8")).export({ type: "spki", format: "pem" }) as string;
  /** The file as a forger leaves it: every head re-signed with a key of their own, and that key beside the file. */
  function resignedWithOwnKey(path: string): void {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const own = publicKey.export({ type: "spki", format: "pem" }) as string;
    behindTheBack(path, (db) => {
      for (const c of db.prepare("SELECT seq, head_hash, at FROM journal_checkpoints").all() as { seq: number; head_hash: string; at: number }[]) {
        const sig = sign(null, Buffer.from(checkpointPayload(c.seq, c.head_hash, c.at)), privateKey).toString("base64");
        db.prepare("UPDATE journal_checkpoints SET signature = ?, public_key = ? WHERE seq = ?").run(sig, own, c.seq);
      }
    });
    writeFileSync(`${path}.journal-key.pem`, privateKey.export({ type: "pkcs8", format: "pem" }));
  }

  it("the first verification pins the key's fingerprint outside the data folder; a key file replaced and re-signed later fails, naming the key", () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    const first = standing(["audit", "verify", "--db", path]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("pinned key");
    const pins = JSON.parse(readFileSync(join(process.env.STANDING_PIN_DIR as string, "journal-pins.json"), "utf8")) as Record<string, { fingerprint: string }>;
    expect(pins[path]?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(dirname(join(process.env.STANDING_PIN_DIR as string, "x"))).not.toBe(dirname(path));
    resignedWithOwnKey(path);
    const r = standing(["audit", "verify", "--db", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^standing: audit verify failed: journal key: the journal is signed by key [0-9a-f]{16}…, not by the fingerprint pinned for this database/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("STANDING_JOURNAL_KEY pins the key from the environment: a PEM, a file, or a fingerprint", () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    resignedWithOwnKey(path);
    const file = join(dir, `published-${n++}.pem`);
    writeFileSync(file, pem());
    for (const value of [pem(), file, createHash("sha256").update(createPublicKey(pem()).export({ type: "spki", format: "der" })).digest("hex")]) {
      const r = standing(["audit", "verify", "--db", path, "--json"], { STANDING_JOURNAL_KEY: value });
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as { problems: { where: string }[] };
      expect(report.problems[0]?.where).toBe("journal key");
    }
    expect(standing(["audit", "verify", "--db", base.path], { STANDING_JOURNAL_KEY: pem() }).code).toBe(0);
  });

  it("a key rotated with journal rotate-key verifies against the key pinned before, and the old key no longer signs", () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    const old = join(dir, `old-${n++}.pem`);
    writeFileSync(old, pem());
    const rot = standing(["journal", "rotate-key", "--db", path, "--json"]);
    expect(rot.code).toBe(0);
    const { from, to } = JSON.parse(rot.stdout) as { from: string; to: string };
    expect(from).not.toBe(to);
    expect(standing(["keys", "create", "--role", "auditor", "--db", path, "--json"]).code).toBe(0);
    const r = standing(["audit", "verify", "--db", path, "--public-key", old, "--json"]);
    expect(JSON.parse(r.stdout).problems).toEqual([]);
    expect(r.code).toBe(0);
    // A rotation the old key did not endorse is refused.
    behindTheBack(path, (db) => {
      const e = db.prepare("SELECT seq, data FROM journal WHERE kind = 'journal.key-rotated'").get() as { seq: number; data: string };
      expect(JSON.parse(e.data)).toMatchObject({ from, to });
    });
  });
});

describe("witnesses", () => {
  it("record heads that extend each other; after the whole file is rolled back the witness refuses the head and audit verify --witness fails", () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    const older = copyDb(path, join(dir, `t-${n++}.db`));
    const state = join(dir, `witness-${n++}.json`);
    const w1 = standing(["audit", "witness", path, "--state", state]);
    expect(w1.code).toBe(0);
    expect(w1.stdout).toContain("first head recorded");
    expect(standing(["keys", "create", "--role", "auditor", "--db", path, "--json"]).code).toBe(0);
    const w2 = standing(["audit", "witness", path, "--state", state, "--json"]);
    expect(w2.code).toBe(0);
    expect(JSON.parse(w2.stdout)).toMatchObject({ ok: true, recorded: true });
    expect(standing(["audit", "witness", path, "--state", state]).stdout).toContain("unchanged since");
    expect(standing(["audit", "verify", "--db", path, "--witness", state]).code).toBe(0);
    // The whole file replaced by the older copy (its own key file is the same key).
    copyDb(older, path);
    expect(standing(["audit", "verify", "--db", path]).code).toBe(0); // nothing in the file tells…
    const v = standing(["audit", "verify", "--db", path, "--witness", state]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^standing: audit verify failed: journal seq=\d+: a witness recorded signed head #\d+ .* but the journal ends at #\d+: the store was rolled back/);
    const w3 = standing(["audit", "witness", path, "--state", state, "--json"]);
    expect(w3.code).toBe(1);
    expect(JSON.parse(w3.stdout)).toMatchObject({ error: { code: "journal-inconsistent", message: expect.stringContaining("rolled back") } });
  });

  it("a state file that is not one, or a source without a journal, is a one-line error", () => {
    const bad = join(dir, `bad-${n++}.json`);
    writeFileSync(bad, "[]");
    const r = standing(["audit", "verify", "--db", base.path, "--witness", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("not a witness state file");
    const none = standing(["audit", "witness", join(dir, "nothing.db"), "--state", join(dir, `w-${n++}.json`)]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no database at");
  });
});

describe("standing receipt verify", () => {
  it("checks a receipt with the published key and prints what it states; an altered one exits 1 with one line", async () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    const s = new Standing(new SqliteStore(path), new ManualClock(NOW + 10 * 86_400_000));
    let answer: unknown;
    try {
      await s.start();
      await s.receipts.refresh();
      const d = s.check(nid("A1"), "air-travel");
      answer = { ...d, receipt: s.receipts.check({ id: d.id, subject: d.subject, context: "air-travel", answer: d.decision, codes: d.reasons.map((x) => x.code), policy: d.policy, at: d.at }) };
    } finally {
      await s.close();
    }
    const file = join(dir, `answer-${n++}.json`);
    writeFileSync(file, JSON.stringify(answer));
    const key = join(dir, `key-${n++}.pem`);
    writeFileSync(key, createPublicKey(readFileSync(`${path}.journal-key.pem`, "utf8")).export({ type: "spki", format: "pem" }));
    const ok = standing(["receipt", "verify", file, "--public-key", key]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/OK: signed by key [0-9a-f]{16}…\ncheck .* DENY national-id:A1 in air-travel \(SPC-/);
    const altered = JSON.stringify(answer).replace(/"signature":"./, (m) => m.slice(0, -1) + (m.endsWith("A") ? "B" : "A"));
    writeFileSync(file, altered);
    const bad = standing(["receipt", "verify", file, "--public-key", key]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toContain("does not verify");
    const json = standing(["receipt", "verify", file, "--public-key", key, "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: "invalid-receipt" } });
    expect(standing(["receipt", "verify", file]).stderr).toContain("needs the journal's public key");
  });
});
