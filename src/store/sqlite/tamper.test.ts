// Someone edits the database behind Standing's back, with a plain connection (no
// journal functions, no triggers: what the sqlite3 shell gives them), and `audit
// verify` must fail and say where. Each test tampers with its own copy of one
// database built through Standing and closed (so its journal ends in a checkpoint).
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import type Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { checkpointPayload, entryHash, rowHash, type SqlValue } from "../../journal/hash.js";
import type { Finding, VerifyReport } from "../../journal/report.js";
import { replayerOf } from "../../standing.js";
import { auditSqliteFile, type AuditFileOptions } from "./audit.js";
import { SqliteStore } from "./store.js";
import { NOW, behindTheBack, copyDb, flipChar, populate, tempDir, type Populated } from "./test-helpers.js";

const dir = tempDir("standing-tamper-");
let base: Populated;
let n = 0;

beforeAll(async () => {
  base = await populate(join(dir, "base.db"));
});

/** What `audit verify` does: the file as found, replayed with the policies it holds. */
const audit = (path: string, options: AuditFileOptions = {}): VerifyReport => auditSqliteFile(path, { replay: replayerOf(), ...options });

/** A fresh copy of the populated database, tampered with by `fn` through a plain connection. */
function tampered(fn: (db: Database.Database) => void): string {
  const path = copyDb(base.path, join(dir, `t-${n++}.db`));
  behindTheBack(path, fn);
  return path;
}

function flipText(db: Database.Database, table: string, column: string, where: string, at: (text: string) => number): void {
  const v = db.prepare(`SELECT ${column} FROM ${table} WHERE ${where}`).pluck().get() as string;
  expect(typeof v).toBe("string");
  db.prepare(`UPDATE ${table} SET ${column} = ? WHERE ${where}`).run(flipChar(v, at(v)));
}

function failed(path: string, publicKeyFile?: string): VerifyReport {
  const r = audit(path, publicKeyFile ? { publicKeyFile } : {});
  expect(r.ok).toBe(false);
  expect(r.problems.length).toBeGreaterThan(0);
  return r;
}

const first = (r: VerifyReport): Finding => r.problems[0] as Finding;
const kinds = (r: VerifyReport): string[] => r.problems.map((p) => p.kind);

describe("an untouched database", () => {
  it("verifies: chain, signatures, rows, records, policies and replay", () => {
    const r = audit(base.path);
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.unsignedTail).toBe(0);
    expect(r.lastCheckpoint?.seq).toBe(r.head?.seq);
    expect(r.states).toEqual({ checked: 3, replayed: true });
    expect(r.publicKey?.source).toBe("key-file");
  });

  it("verifying changes nothing in the file", () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    const before = behindTheBack(path, (db) => db.prepare("SELECT count(*) FROM journal").pluck().get());
    expect(audit(path).ok).toBe(true);
    expect(audit(path).ok).toBe(true);
    expect(behindTheBack(path, (db) => db.prepare("SELECT count(*) FROM journal").pluck().get())).toBe(before);
  });
});

describe("one byte changed in a row", () => {
  it("records.body: names the record (table, key, source/id) and the journal entry", () => {
    const seq = base.recordSeq["c-1"] as number;
    const path = tampered((db) => flipText(db, "records", "body", `seq = ${seq}`, (b) => b.indexOf("5000")));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "records", key: [seq], where: `records seq=${seq} (court/c-1)` });
    expect(first(r).seq).toBeGreaterThan(0);
    expect(first(r).message).toMatch(/journal entry #\d+ \(record\.accepted\)/);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "record", table: "records", key: [seq], message: expect.stringMatching(/does not hash/) }));
  });

  it("records.occurred_at (an integer): names the record, and the body disagrees with the row", () => {
    const seq = base.recordSeq["t-1"] as number;
    const path = tampered((db) => {
      const v = db.prepare("SELECT occurred_at FROM records WHERE seq = ?").safeIntegers(true).pluck().get(seq) as bigint;
      db.prepare("UPDATE records SET occurred_at = ? WHERE seq = ?").run(v ^ (0xffn << 24n), seq);
    });
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "records", key: [seq] });
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "record", message: expect.stringContaining("occurredAt") }));
  });

  it("states.state: names the subject, as a row and as a failed replay", () => {
    const subject = base.subject.B2 as number;
    const path = tampered((db) => flipText(db, "states", "state", `subject_id = ${subject}`, (s) => s.indexOf('"score":') + 9));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "states", key: [subject], where: `states subject_id=${subject}` });
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "replay", subject, message: expect.stringContaining("$.score") }));
  });

  it("states.state made unparsable: the replay says so", () => {
    const subject = base.subject.A1 as number;
    const path = tampered((db) => flipText(db, "states", "state", `subject_id = ${subject}`, () => 0));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "states", key: [subject] });
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "replay", subject, message: expect.stringContaining("not valid JSON") }));
  });

  it("states.next_change_at: names the subject", () => {
    const subject = base.subject.A1 as number;
    const path = tampered((db) => db.prepare("UPDATE states SET next_change_at = next_change_at + 1 WHERE subject_id = ?").run(subject));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "states", key: [subject] });
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "replay", subject, message: expect.stringContaining("next_change_at") }));
  });

  it("identifiers.value (part of the key): the old key is missing and the new one is unjournaled", () => {
    const path = tampered((db) => flipText(db, "identifiers", "value", "scheme = 'national-id' AND value = 'A1'", () => 1));
    const r = failed(path);
    const wheres = r.problems.filter((p) => p.kind === "row").map((p) => p.where);
    expect(wheres).toEqual(expect.arrayContaining(["identifiers scheme=national-id value=A0", "identifiers scheme=national-id value=A1"]));
    expect(first(r).table).toBe("identifiers");
  });

  it("policies.text: names the policy row, and the policy no longer matches its hash", () => {
    const path = tampered((db) => flipText(db, "policies", "text", "seq = 1", (t) => t.indexOf("points: -")));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "policies", key: [1] });
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "policy", where: "policies seq=1 (municipal-credit@2026.1.0)" }));
  });

  it("keys.revoked_at set back to null (a revoked key revived): names the key", () => {
    const path = tampered((db) => db.prepare("UPDATE keys SET revoked_at = NULL WHERE key_id = ?").run(base.revokedKeyId));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "keys", key: [base.revokedKeyId], where: `keys key_id=${base.revokedKeyId}` });
    expect(r.problems).toHaveLength(1);
  });

  it("meta.value of active_policy: names the meta key", () => {
    const path = tampered((db) => flipText(db, "meta", "value", "key = 'active_policy'", (v) => v.indexOf("@") - 1));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "meta", key: ["active_policy"], where: "meta key=active_policy" });
  });

  it("meta schema version: named first, even though the store then refuses to open", () => {
    const path = tampered((db) => flipText(db, "meta", "value", "key = 'schema'", () => 0));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "meta", key: ["schema"] });
    expect(() => new SqliteStore(path)).toThrow(/schema version/);
    // The audit reads the file without opening a store, so the replay still runs.
    expect(r.states).toEqual({ checked: 3, replayed: true });
    expect(kinds(r)).not.toContain("replay");
  });

  it("decisions, quarantine and subjects rows are covered too", () => {
    const path = tampered((db) => {
      db.prepare("UPDATE quarantine SET released_at = NULL").run();
      db.prepare("UPDATE subjects SET created_at = created_at + 1 WHERE id = ?").run(base.subject.C3);
    });
    const r = failed(path);
    expect(r.problems.filter((p) => p.kind === "row").map((p) => p.table).sort()).toEqual(["quarantine", "subjects"]);
    expect(r.problems).toContainEqual(expect.objectContaining({ table: "quarantine", where: expect.stringContaining("(airline/a-1)") }));
  });
});

describe("rows deleted or added", () => {
  it("a deleted record: names it and the entry that says it exists; the replay of its subject fails", () => {
    const seq = base.recordSeq["t-1"] as number;
    const path = tampered((db) => db.prepare("DELETE FROM records WHERE seq = ?").run(seq));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "records", key: [seq], where: `records seq=${seq}` });
    expect(first(r).message).toContain("deleted outside Standing");
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "replay", subject: base.subject.B2 }));
  });

  it("an inserted record: names it as not journaled", () => {
    const path = tampered((db) => {
      const body = JSON.stringify({ source: "court", id: "forged", type: "court.judgment.default", subject: { scheme: "national-id", value: "C3" }, occurredAt: "2026-02-01T00:00:00.000Z", fields: { case: "X", amount: 1 } });
      db.prepare("INSERT INTO records (source, record_id, subject_id, type, occurred_at, received_at, retracts, body, hash) VALUES ('court', 'forged', ?, 'court.judgment.default', ?, ?, NULL, ?, 'x')").run(base.subject.C3, Date.parse("2026-02-01T00:00:00.000Z"), Date.parse("2026-02-01T00:00:00.000Z"), body);
    });
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "records", where: expect.stringContaining("(court/forged)") });
    expect(first(r).message).toContain("not in the journal");
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "replay", subject: base.subject.C3 }));
  });

  it("a dropped table: named, with how many rows the journal says it held", () => {
    const path = tampered((db) => db.exec("DROP TABLE keys"));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "keys", where: "table keys" });
    expect(first(r).message).toContain("2 of its rows");
  });
});

describe("the decision log, journaled per batch", () => {
  const d2 = () => base.decisionBatch["d-02"] as number;

  it("a decision edited (allow made deny): names the row and its batch entry", () => {
    const path = tampered((db) => db.prepare("UPDATE decisions SET decision = 'deny' WHERE id = 'd-02'").run());
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "decisions", key: ["d-02"], seq: d2(), where: "decisions id=d-02" });
    expect(first(r).message).toMatch(/differs from what journal entry #\d+ \(decisions\.batch\) recorded: it was changed outside Standing/);
    expect(r.problems).toHaveLength(1);
  });

  it("a decision deleted: names it and the batch entry that lists it", () => {
    const path = tampered((db) => db.prepare("DELETE FROM decisions WHERE id = 'd-01'").run());
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "decisions", key: ["d-01"], seq: base.decisionBatch["d-01"], where: "decisions id=d-01" });
    expect(first(r).message).toContain("deleted outside Standing");
    expect(r.problems).toHaveLength(1);
  });

  it("a whole batch deleted: every row of it is named", () => {
    const path = tampered((db) => db.prepare("DELETE FROM decisions WHERE batch = ?").run(base.decisionBatch["d-04"]));
    const r = failed(path);
    expect(r.problems.map((p) => p.where).sort()).toEqual(["decisions id=d-04", "decisions id=d-05"]);
  });

  it("a decision inserted into an existing batch: named, not listed by the batch entry", () => {
    const path = tampered((db) => db.prepare("INSERT INTO decisions (id, at, key_id, asked_by, scheme, value, context, decision, codes, batch) SELECT 'd-99', at, key_id, asked_by, scheme, 'X1', context, decision, codes, batch FROM decisions WHERE id = 'd-02'").run());
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "decisions", key: ["d-99"], seq: d2() });
    expect(first(r).message).toContain("inserted outside Standing");
    expect(r.problems).toHaveLength(1);
  });

  it("a decision inserted with no batch, or naming an entry that is no batch: named as not journaled", () => {
    const path = tampered((db) => {
      const ins = db.prepare("INSERT INTO decisions (id, at, key_id, asked_by, scheme, value, context, decision, codes, batch) VALUES (?, 0, 'k', 'x', 'national-id', 'A1', 'air-travel', 'deny', '[]', ?)");
      ins.run("d-97", null);
      ins.run("d-98", 3); // an entry of the journal, but not a decisions batch
      ins.run("d-96", 1_000_000); // no entry at all
    });
    const r = failed(path);
    expect(r.problems.map((p) => p.where).sort()).toEqual(["decisions id=d-96", "decisions id=d-97", "decisions id=d-98"]);
    for (const p of r.problems) expect(p.message).toContain("not in the journal");
  });

  it("a decision moved to the other batch: both batch entries name it", () => {
    const path = tampered((db) => db.prepare("UPDATE decisions SET batch = ? WHERE id = 'd-02'").run(base.decisionBatch["d-04"]));
    const r = failed(path);
    expect(r.problems.map((p) => [p.where, p.seq])).toEqual(expect.arrayContaining([["decisions id=d-02", d2()], ["decisions id=d-02", base.decisionBatch["d-04"]]]));
    expect(r.problems).toHaveLength(2);
  });

  it("the decisions table dropped: named, with how many batches the journal holds", () => {
    const path = tampered((db) => db.exec("DROP TABLE decisions"));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "decisions", where: "table decisions" });
    expect(first(r).message).toContain("2 batch(es)");
  });

  it("a batch entry's list of rows edited: the chain names the entry", () => {
    const path = tampered((db) => flipText(db, "journal", "data", `seq = ${d2()}`, (d) => d.indexOf("d-02") + 3));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "chain", seq: d2() });
    expect(first(r).message).toContain("decisions.batch decisions");
  });
});

describe("the journal itself", () => {
  /** The seq of the first journal entry of a kind in the populated database. */
  const seqOf = (kind: string): number => behindTheBack(base.path, (db) => db.prepare("SELECT min(seq) FROM journal WHERE kind = ?").pluck().get(kind) as number);

  it("one byte of an entry's hash: names the entry", () => {
    const seq = seqOf("subject.created");
    const path = tampered((db) => flipText(db, "journal", "hash", `seq = ${seq}`, () => 3));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "chain", seq, where: `journal seq=${seq}` });
    expect(first(r).message).toMatch(new RegExp(`^journal seq=${seq}: entry #${seq} \\(subject.created subjects id=\\d+\\): its hash`));
  });

  it("one byte of an event's data: names the entry", () => {
    const path = tampered((db) => flipText(db, "journal", "data", `seq = ${base.eventSeq}`, (d) => d.indexOf("bad-1")));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "chain", seq: base.eventSeq, where: `journal seq=${base.eventSeq}` });
    expect(first(r).message).toContain("record.rejected");
  });

  it("one byte of a row hash in an entry: names the entry, then the row it no longer matches", () => {
    // A policy row never changes after it is published: its entry stays the latest for it.
    const seq = seqOf("policy.published");
    const path = tampered((db) => flipText(db, "journal", "row_hash", `seq = ${seq}`, () => 0));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "chain", seq });
    expect(r.problems[1]).toMatchObject({ kind: "row" });
  });

  it("an entry deleted from the middle: names the gap", () => {
    const path = tampered((db) => db.prepare("DELETE FROM journal WHERE seq = 10").run());
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "chain", seq: 10, where: "journal seq=10" });
    expect(first(r).message).toContain("#10 missing");
  });

  it("the end of the journal cut off: the checkpoint says how much is missing", () => {
    const path = tampered((db) => db.prepare("DELETE FROM journal WHERE seq > (SELECT max(seq) - 3 FROM journal)").run());
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "chain" });
    expect(first(r).message).toContain("entries were removed from the end of the journal");
  });

  it("the journal dropped altogether: there is nothing to trust", () => {
    const path = tampered((db) => db.exec("DROP TABLE journal; DROP TABLE journal_checkpoints;"));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "journal" });
  });

  it("a row changed AND the chain recomputed after it (no key needed for that): the signed checkpoint catches it", () => {
    const seq = base.recordSeq["c-1"] as number;
    const path = tampered((db) => {
      forgeAmount(db, seq);
      rewriteJournal(db, "records", `[${seq}]`, `SELECT * FROM records WHERE seq = ${seq}`);
    });
    const r = failed(path);
    expect(r.problems.filter((p) => p.kind === "row")).toEqual([]);
    expect(first(r)).toMatchObject({ kind: "chain" });
    expect(first(r).message).toMatch(/rewritten after it was signed/);
  });

  it("…and re-signed with a key of the forger's own: refused, because it is not the journal key", () => {
    const seq = base.recordSeq["c-1"] as number;
    const path = tampered((db) => {
      forgeAmount(db, seq);
      rewriteJournal(db, "records", `[${seq}]`, `SELECT * FROM records WHERE seq = ${seq}`);
      resignCheckpoints(db);
    });
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "checkpoint", where: "journal key" });
    expect(first(r).message).toContain("not by the key file beside the database");
  });

  it("…even when the key file was replaced too, the pinned public key refuses it", () => {
    const seq = base.recordSeq["c-1"] as number;
    const pinned = join(dir, "pinned.pem");
    writeFileSync(pinned, createPublicKey(readFileSync(`${base.path}.journal-key.pem`, "utf8")).export({ type: "spki", format: "pem" }));
    let forgedPrivate = "";
    const path = tampered((db) => {
      forgeAmount(db, seq);
      rewriteJournal(db, "records", `[${seq}]`, `SELECT * FROM records WHERE seq = ${seq}`);
      forgedPrivate = resignCheckpoints(db);
    });
    writeFileSync(`${path}.journal-key.pem`, forgedPrivate);
    expect(audit(path).ok).toBe(true); // the forger's own key file agrees with the forgery…
    const r = failed(path, pinned); // …the key published earlier does not
    expect(first(r)).toMatchObject({ kind: "checkpoint" });
    expect(r.publicKey?.source).toBe("pinned");
  });

  it("one byte of a checkpoint's signature: names the checkpoint", () => {
    const path = tampered((db) => flipText(db, "journal_checkpoints", "signature", "1 = 1", () => 5));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "checkpoint", where: expect.stringMatching(/^journal_checkpoints seq=\d+$/) });
    // No head verifies any more, so nothing in the journal is signed.
    expect(r.problems.some((p) => p.message.includes("no valid signed head"))).toBe(true);
  });

  it("a checkpoint's time moved: the signature no longer verifies", () => {
    const path = tampered((db) => db.prepare("UPDATE journal_checkpoints SET at = at + 1").run());
    expect(first(failed(path))).toMatchObject({ kind: "checkpoint" });
  });
});

describe("an insider with the file but not the private key", () => {
  /** A copy of the base database after one more command (an admin key revoked), and the head a witness saw after it. */
  async function afterRevocation(): Promise<{ path: string; before: { seq: number; hash: string }; witnessed: { seq: number; hash: string; at: number } }> {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    const s = new SqliteStore(path);
    const before = (await s.journal.head()) as { seq: number; hash: string };
    await s.transaction(async (tx) => void (await tx.revokeKey(base.auditorKeyId, Date.now())));
    const witnessed = (await s.journal.head()) as { seq: number; hash: string; at: number };
    await s.close();
    expect(witnessed.seq).toBeGreaterThan(before.seq);
    return { path, before, witnessed };
  }

  it("rolls back the last command (its entries, its head and the row): a witness's head names the rollback", async () => {
    const { path, before, witnessed } = await afterRevocation();
    behindTheBack(path, (db) => {
      db.prepare("DELETE FROM journal WHERE seq > ?").run(before.seq);
      db.prepare("DELETE FROM journal_checkpoints WHERE seq > ?").run(before.seq);
      db.prepare("UPDATE keys SET revoked_at = NULL WHERE key_id = ?").run(base.auditorKeyId);
    });
    // Consistent by itself: nothing in the file tells…
    expect(audit(path).ok).toBe(true);
    // …but the head a witness recorded is no longer in its history.
    const r = audit(path, { witnessHeads: [witnessed] });
    expect(r.ok).toBe(false);
    expect(first(r)).toMatchObject({ kind: "witness", seq: witnessed.seq });
    expect(first(r).message).toContain("the store was rolled back");
  });

  it("rolls the whole file back to an older copy: a witness's head names the rollback", async () => {
    const old = copyDb(base.path, join(dir, `t-${n++}.db`));
    const { path, witnessed } = await afterRevocation();
    copyDb(old, path);
    expect(audit(path).ok).toBe(true);
    const r = audit(path, { witnessHeads: [witnessed] });
    expect(r.ok).toBe(false);
    expect(first(r)).toMatchObject({ kind: "witness", where: `journal seq=${witnessed.seq}` });
  });

  it("appends correctly chained entries after the last signed head (a forged admin key): refused, naming the first unsigned entry", () => {
    let seq = 0;
    const path = tampered((db) => {
      const row = { key_id: "f0f0f0f0f0f0", hash: "ab".repeat(32), role: "admin", label: "Forged", source: null, contexts: "[]", subject_id: null, created_at: NOW, revoked_at: null };
      db.prepare("INSERT INTO keys (key_id, hash, role, label, source, contexts, subject_id, created_at, revoked_at) VALUES (@key_id, @hash, @role, @label, @source, @contexts, @subject_id, @created_at, @revoked_at)").run(row);
      const head = db.prepare("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string };
      seq = head.seq + 1;
      const pairs = Object.keys(row).sort().flatMap((k) => [k, (typeof row[k as keyof typeof row] === "number" ? BigInt(row[k as keyof typeof row] as number) : row[k as keyof typeof row]) as SqlValue]);
      const e = { seq, kind: "key.created", tbl: "keys", key: '["f0f0f0f0f0f0"]', rowHash: rowHash(pairs), data: null };
      db.prepare("INSERT INTO journal (seq, kind, tbl, key, row_hash, data, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").run(e.seq, e.kind, e.tbl, e.key, e.rowHash, e.data, head.hash, entryHash(head.hash, e));
    });
    const r = failed(path);
    // The row matches its entry and the chain is intact: only the missing head tells.
    expect(r.problems.filter((p) => p.kind === "row" || p.kind === "chain")).toEqual([]);
    expect(first(r)).toMatchObject({ kind: "checkpoint", seq, where: `journal seq=${seq}` });
    expect(first(r).message).toContain("appended outside Standing");
    // Standing will not sign over it: the store refuses to open for writing.
    expect(() => new SqliteStore(path)).toThrow(/1 entry after its last signed head \(#\d+\) that Standing did not sign/);
  });

  it("appends an entry while the service runs: its next transaction refuses to sign over it, and commits nothing", async () => {
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    const s = new SqliteStore(path);
    try {
      await s.transaction(async (tx) => tx.setMeta("before", "1"));
      behindTheBack(path, (db) => {
        const head = db.prepare("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string };
        const e = { seq: head.seq + 1, kind: "record.rejected", tbl: null, key: null, rowHash: null, data: "{}" };
        db.prepare("INSERT INTO journal (seq, kind, tbl, key, row_hash, data, prev, hash) VALUES (?, ?, NULL, NULL, NULL, ?, ?, ?)").run(e.seq, e.kind, e.data, head.hash, entryHash(head.hash, e));
      });
      await expect(s.transaction(async (tx) => tx.setMeta("after", "1"))).rejects.toMatchObject({ code: "journal-inconsistent" });
      expect(await s.getMeta("after")).toBeUndefined();
    } finally {
      await s.close();
    }
    expect(first(failed(path)).message).toContain("1 entry follows the last signed head");
  });

  it("replaces the key file and re-signs a full rewrite: the pinned fingerprint refuses it, and the key file no longer matches it", () => {
    const seq = base.recordSeq["c-1"] as number;
    const fingerprint = createHash("sha256").update(createPublicKey(readFileSync(`${base.path}.journal-key.pem`, "utf8")).export({ type: "spki", format: "der" })).digest("hex");
    let forged = "";
    const path = tampered((db) => {
      forgeAmount(db, seq);
      rewriteJournal(db, "records", `[${seq}]`, `SELECT * FROM records WHERE seq = ${seq}`);
      forged = resignCheckpoints(db);
    });
    writeFileSync(`${path}.journal-key.pem`, forged);
    expect(audit(path).ok).toBe(true); // the forger's own key file agrees with the forgery…
    const r = audit(path, { pinnedFingerprint: fingerprint }); // …the fingerprint kept elsewhere does not
    expect(r.ok).toBe(false);
    expect(first(r)).toMatchObject({ kind: "checkpoint", where: "journal key" });
    expect(first(r).message).toContain(`not by the fingerprint pinned for this database (${fingerprint.slice(0, 16)}…)`);
    expect(r.publicKey).toEqual({ fingerprint, source: "pin" });
  });

  it("the key file alone replaced (the journal untouched): the pinned key names the key file", () => {
    const pinned = createPublicKey(readFileSync(`${base.path}.journal-key.pem`, "utf8")).export({ type: "spki", format: "pem" }) as string;
    const path = copyDb(base.path, join(dir, `t-${n++}.db`));
    writeFileSync(`${path}.journal-key.pem`, generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }));
    const pinnedFile = join(dir, `pinned-${n++}.pem`);
    writeFileSync(pinnedFile, pinned);
    const r = audit(path, { publicKeyFile: pinnedFile });
    expect(r.ok).toBe(false);
    expect(first(r)).toMatchObject({ kind: "checkpoint", where: "journal key file" });
    expect(first(r).message).toContain("it was replaced");
  });

  it("forges a key rotation to a key of their own and signs a head with it: the rotation's endorsement fails", () => {
    let seq = 0;
    const path = tampered((db) => {
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
      const real = createPublicKey(db.prepare("SELECT public_key FROM journal_checkpoints ORDER BY seq DESC LIMIT 1").pluck().get() as string);
      const fp = (k: ReturnType<typeof createPublicKey>) => createHash("sha256").update(k.export({ type: "spki", format: "der" })).digest("hex");
      const at = NOW;
      const data = JSON.stringify({ at, endorsement: sign(null, Buffer.from("anything"), privateKey).toString("base64"), from: fp(real), publicKey: pem, to: fp(publicKey) });
      const head = db.prepare("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string };
      seq = head.seq + 1;
      const e = { seq, kind: "journal.key-rotated", tbl: null, key: null, rowHash: null, data };
      const hash = entryHash(head.hash, e);
      db.prepare("INSERT INTO journal (seq, kind, tbl, key, row_hash, data, prev, hash) VALUES (?, ?, NULL, NULL, NULL, ?, ?, ?)").run(seq, e.kind, data, head.hash, hash);
      const sig = sign(null, Buffer.from(checkpointPayload(seq, hash, at)), privateKey).toString("base64");
      db.prepare("INSERT INTO journal_checkpoints (seq, head_hash, at, signature, public_key) VALUES (?, ?, ?, ?, ?)").run(seq, hash, at, sig, pem);
    });
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "checkpoint", seq, where: `journal seq=${seq}` });
    expect(first(r).message).toContain("did not endorse it: the rotation was forged");
    expect(r.problems.some((p) => p.message.includes("1 entry follows the last signed head"))).toBe(true);
  });

  it("rebuilds records without its UNIQUE constraint (rows and journal untouched): the schema names it", () => {
    const path = tampered((db) => {
      const sql = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'records'").pluck().get() as string;
      db.exec(`PRAGMA foreign_keys = OFF; ALTER TABLE records RENAME TO records_old;
        ${sql.replace(/,\s*UNIQUE \(source, record_id\)/, "")};
        INSERT INTO records SELECT * FROM records_old; DROP TABLE records_old;
        CREATE INDEX records_subject ON records(subject_id, occurred_at);`);
    });
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "schema", where: "table records" });
    expect(first(r).message).toContain("UNIQUE (source, record_id) on records is missing");
    expect(r.problems.filter((p) => p.kind === "row")).toEqual([]);
  });

  it("plants a trigger in the file: the schema names it", () => {
    const path = tampered((db) => db.exec("CREATE TRIGGER swap AFTER INSERT ON records BEGIN UPDATE states SET state = state WHERE 0; END"));
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "schema", where: "trigger swap" });
    expect(first(r).message).toContain("planted");
  });

  it("drops an index, or adds a table: the schema names each", () => {
    const path = tampered((db) => db.exec("DROP INDEX records_subject; CREATE TABLE extra (x)"));
    const r = failed(path);
    expect(r.problems.map((p) => p.where)).toEqual(expect.arrayContaining(["index records_subject", "table extra"]));
  });
});

describe("the sqlite3 shell", () => {
  const shell = spawnSync("sqlite3", ["-version"], { encoding: "utf8" });
  it.skipIf(shell.status !== 0)("an UPDATE through the sqlite3 command-line shell is found and located (skipped when sqlite3 is not installed)", () => {
    const path = join(dir, `t-${n++}.db`);
    copyDb(base.path, path);
    const seq = base.recordSeq["c-1"] as number;
    const r1 = spawnSync("sqlite3", [path, `UPDATE records SET body = replace(body, '"amount":5000', '"amount":5001') WHERE seq = ${seq};`], { encoding: "utf8" });
    expect(r1.stderr).toBe("");
    expect(r1.status).toBe(0);
    const r = failed(path);
    expect(first(r)).toMatchObject({ kind: "row", table: "records", key: [seq] });
  });
});

// ---------------------------------------------------------------- the forger's tools

/** Changes the debt's amount and its record hash with it, so the record agrees with itself. */
function forgeAmount(db: Database.Database, seq: number): void {
  flipText(db, "records", "body", `seq = ${seq}`, (b) => b.indexOf("5000"));
  const body = db.prepare("SELECT body FROM records WHERE seq = ?").pluck().get(seq) as string;
  db.prepare("UPDATE records SET hash = ? WHERE seq = ?").run(createHash("sha256").update(body).digest("hex"), seq);
}

/** Recomputes the latest entry for a row to match the row as it is now, and re-chains everything after it. */
function rewriteJournal(db: Database.Database, tbl: string, key: string, rowSql: string): void {
  const row = db.prepare(rowSql).safeIntegers(true).get() as Record<string, SqlValue>;
  const pairs = Object.keys(row).sort().flatMap((k) => [k, row[k] as SqlValue]);
  const target = db.prepare("SELECT max(seq) FROM journal WHERE tbl = ? AND key = ?").pluck().get(tbl, key) as number;
  db.prepare("UPDATE journal SET row_hash = ? WHERE seq = ?").run(rowHash(pairs), target);
  const all = db.prepare("SELECT * FROM journal WHERE seq >= ? ORDER BY seq").all(target) as { seq: number; kind: string; tbl: string | null; key: string | null; row_hash: string | null; data: string | null; prev: string }[];
  let prev = all[0]?.prev as string;
  const upd = db.prepare("UPDATE journal SET prev = ?, hash = ? WHERE seq = ?");
  for (const e of all) {
    const h = entryHash(prev, { seq: e.seq, kind: e.kind, tbl: e.tbl, key: e.key, rowHash: e.row_hash, data: e.data });
    upd.run(prev, h, e.seq);
    prev = h;
  }
}

/** Signs every checkpoint again with a new key; returns that key's private PEM. */
function resignCheckpoints(db: Database.Database): string {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
  const cps = db.prepare("SELECT seq, at FROM journal_checkpoints").all() as { seq: number; at: number }[];
  for (const c of cps) {
    const head = db.prepare("SELECT hash FROM journal WHERE seq = ?").pluck().get(c.seq) as string;
    const sig = sign(null, Buffer.from(checkpointPayload(c.seq, head, c.at)), privateKey).toString("base64");
    db.prepare("UPDATE journal_checkpoints SET head_hash = ?, signature = ?, public_key = ? WHERE seq = ?").run(head, sig, pem, c.seq);
  }
  return privateKey.export({ type: "pkcs8", format: "pem" }) as string;
}
