// The journal as it is written: one entry per change in the change's own transaction,
// a hash chain over canonical JSON, signed checkpoints, a key kept beside the file.
import { statSync } from "node:fs";
import { join } from "node:path";
import { createHash, createPublicKey, verify } from "node:crypto";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalJson } from "../../canonical.js";
import { GENESIS, canonicalEntry, canonicalRow, checkpointPayload, encodeValue, entryHash, headPayload } from "../../journal/hash.js";
import { Standing } from "../../standing.js";
import { ManualClock } from "../../time.js";
import { keyFileFor } from "./journal.js";
import { SqliteStore } from "./store.js";
import { NOW, POLICY_TEXT, nid, tempDir } from "./test-helpers.js";

const dir = tempDir();
let n = 0;
const fresh = (): string => join(dir, `j-${n++}.db`);
const open: SqliteStore[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
function store(path = fresh(), checkpointEvery?: number): SqliteStore {
  const s = new SqliteStore(path, checkpointEvery ? { journal: { checkpointEvery } } : {});
  open.push(s);
  return s;
}

interface Entry {
  seq: number;
  kind: string;
  tbl: string | null;
  key: string | null;
  row_hash: string | null;
  data: string | null;
  prev: string;
  hash: string;
}
const entries = (s: SqliteStore): Entry[] => s.connectionForTests().prepare("SELECT * FROM journal ORDER BY seq").all() as Entry[];
const setMeta = (s: SqliteStore, key: string, value: string): Promise<void> => s.transaction((tx) => tx.setMeta(key, value));
/** Verifies through the store's journal port, without replay (no policy is involved here). */
const verified = (s: SqliteStore) => s.journal.verify({});
/** After a test writes through the store's own connection outside a transaction: the head Standing would sign at commit. */
const signHead = (s: SqliteStore): void => void s.journalForTests().checkpoint();

describe("hash encodings", () => {
  it("the hand-rolled entry encoding is RFC 8785 canonical JSON", () => {
    const str = fc.option(fc.string({ unit: "grapheme" }), { nil: null });
    fc.assert(
      fc.property(fc.nat(), fc.string({ minLength: 1 }), str, str, str, str, (seq, kind, tbl, key, rowHash, data) => {
        expect(canonicalEntry({ seq, kind, tbl, key, rowHash, data })).toBe(canonicalJson({ seq, kind, tbl, key, rowHash, data }));
      }),
    );
  });

  it("the hand-rolled row encoding is canonical JSON, whatever the column order", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, unit: "binary" }), fc.oneof(fc.string({ unit: "binary" }), fc.integer(), fc.constant(null))), (row) => {
        const pairs = Object.entries(row).flatMap(([k, v]) => [k, typeof v === "number" ? BigInt(v) : v]);
        expect(canonicalRow(pairs)).toBe(canonicalJson(row));
      }),
    );
  });

  it("a value's storage class is part of its encoding", () => {
    expect(encodeValue(5n)).toBe("5");
    expect(encodeValue(5)).toBe('{"$real":"5"}');
    expect(encodeValue(0.1)).toBe('{"$real":"0.1"}');
    expect(encodeValue("5")).toBe('"5"');
    expect(encodeValue(null)).toBe("null");
    expect(encodeValue(2n ** 60n)).toBe('{"$int":"1152921504606846976"}');
    expect(encodeValue(Buffer.from([1, 2, 3]))).toBe('{"$blob":"AQID"}');
  });

  it("the checkpoint payload is canonical JSON of {seq, headHash, at}", () => {
    expect(checkpointPayload(12, "ab", 1700000000000)).toBe(canonicalJson({ seq: 12, headHash: "ab", at: 1700000000000 }));
  });
});

describe("entries", () => {
  it("every write appends an entry, chained from the genesis hash, named for what happened", async () => {
    const s = store();
    await s.transaction(async (tx) => {
      const id = await tx.createSubject(NOW);
      await tx.link(id, nid("A1"), NOW);
    });
    const e = entries(s);
    expect(e.map((x) => [x.seq, x.kind, x.tbl, x.key])).toEqual([
      [1, "meta.set", "meta", '["schema"]'],
      [2, "subject.created", "subjects", "[1]"],
      [3, "identifier.linked", "identifiers", '["national-id","A1"]'],
    ]);
    let prev = GENESIS;
    for (const x of e) {
      expect(x.prev).toBe(prev);
      expect(x.hash).toBe(entryHash(x.prev, { seq: x.seq, kind: x.kind, tbl: x.tbl, key: x.key, rowHash: x.row_hash, data: x.data }));
      prev = x.hash;
    }
    expect(e[2]?.row_hash).toBe(
      // sha256 of the canonical row: what anyone can recompute from the row alone
      rowHashOf({ linked_at: NOW, scheme: "national-id", subject_id: 1, value: "A1" }),
    );
  });

  it("a rolled-back transaction leaves no entry", async () => {
    const s = store();
    const before = entries(s).length;
    await expect(
      s.transaction(async (tx) => {
        await tx.createSubject(NOW);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(entries(s).length).toBe(before);
  });

  it("updates and deletes are journaled; a delete leaves no row hash", async () => {
    const s = store();
    await setMeta(s, "k", "a");
    await setMeta(s, "k", "b");
    s.connectionForTests().prepare("DELETE FROM meta WHERE key = 'k'").run();
    signHead(s);
    const e = entries(s).slice(-3);
    expect(e.map((x) => [x.kind, x.tbl, x.key, x.row_hash === null])).toEqual([
      ["meta.set", "meta", '["k"]', false],
      ["meta.set", "meta", '["k"]', false],
      ["delete:meta", "meta", '["k"]', true],
    ]);
    expect((await verified(s)).ok).toBe(true);
  });

  it("changing a primary key journals the old key as deleted and the new one as written", async () => {
    const s = store();
    await setMeta(s, "old", "v");
    s.connectionForTests().prepare("UPDATE meta SET key = 'new' WHERE key = 'old'").run();
    signHead(s);
    expect(entries(s).slice(-2).map((x) => [x.kind, x.key, x.row_hash === null])).toEqual([
      ["delete:meta", '["old"]', true],
      ["meta.set", '["new"]', false],
    ]);
    expect((await verified(s)).ok).toBe(true);
  });

  it("a row replaced through another unique column (INSERT OR REPLACE) is journaled as deleted", async () => {
    const path = fresh();
    await store(path).close();
    const raw = new Database(path);
    raw.exec("CREATE TABLE coded (id INTEGER PRIMARY KEY, code TEXT UNIQUE)");
    raw.close();
    const s = store(path);
    const db = s.connectionForTests();
    db.prepare("INSERT INTO coded VALUES (1, 'a')").run();
    db.prepare("INSERT OR REPLACE INTO coded VALUES (2, 'a')").run();
    signHead(s);
    expect(entries(s).slice(-2).map((x) => [x.kind, x.key])).toEqual([
      ["delete:coded", "[1]"],
      ["insert:coded", "[2]"],
    ]);
    // Journaled and verified like any table; only the schema check says it is not Standing's.
    expect(new Set((await verified(s)).problems.map((p) => `${p.kind}: ${p.where}`))).toEqual(new Set(["schema: table coded"]));
  });

  it("tx.journalEvent appends an event with canonical data in the transaction, and is rolled back with it", async () => {
    const s = store();
    await s.transaction((tx) => tx.journalEvent("record.rejected", { source: "court", id: "x", code: "invalid-record", inputHash: "ab" }));
    const e = entries(s).at(-1) as Entry;
    expect([e.kind, e.tbl, e.key, e.row_hash, e.data]).toEqual(["record.rejected", null, null, null, '{"code":"invalid-record","id":"x","inputHash":"ab","source":"court"}']);
    await expect(
      s.transaction(async (tx) => {
        await tx.journalEvent("record.rejected", { id: "y" });
        throw new Error("rolled back");
      }),
    ).rejects.toThrow();
    expect((entries(s).at(-1) as Entry).seq).toBe(e.seq);
    // The journal itself hands back the seq of the event it appended.
    const db = s.connectionForTests();
    const seq = db.transaction(() => s.journalForTests().event("record.rejected", { id: "z" }))();
    expect(seq).toBe(e.seq + 1);
    expect((entries(s).at(-1) as Entry).seq).toBe(seq);
    signHead(s);
    expect((await verified(s)).ok).toBe(true);
  });

  it("a table added to the schema later is journaled on the next open", async () => {
    const path = fresh();
    await store(path).close();
    const raw = new Database(path);
    raw.exec("CREATE TABLE later (id INTEGER PRIMARY KEY, note TEXT)");
    raw.close();
    const s = store(path);
    s.connectionForTests().prepare("INSERT INTO later (note) VALUES ('hello')").run();
    signHead(s);
    expect(entries(s).at(-1)).toMatchObject({ kind: "insert:later", tbl: "later", key: "[1]" });
    expect((await verified(s)).problems.map((p) => [p.kind, p.where])).toEqual([["schema", "table later"]]);
  });

  it("a database that held rows before it had a journal gets a baseline entry per row", async () => {
    const path = fresh();
    const raw = new Database(path);
    raw.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema', '1'), ('note', 'legacy');");
    raw.close();
    const s = store(path);
    expect(entries(s).map((x) => [x.kind, x.key])).toEqual([
      ["baseline", '["note"]'],
      ["baseline", '["schema"]'],
      ["meta.set", '["schema"]'], // the upgrade from schema 1, journaled like any change
    ]);
    const r = await verified(s);
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.kind)).toContain("baseline");
  });
});

describe("checkpoints and the key", () => {
  it("signs a head when a store opens, every N entries in the same transaction, and at the end of every commit", async () => {
    const path = fresh();
    const s = store(path, 5);
    await s.transaction(async (tx) => {
      for (let i = 0; i < 12; i++) await tx.setMeta(`k${i}`, String(i));
    });
    const cps = s.journalForTests().checkpoints();
    // #1: the new file's schema version, signed at open; #5, #10 by the interval; #13 at commit.
    expect(cps.map((c) => c.seq)).toEqual([1, 5, 10, 13]);
    const pub = createPublicKey(s.journal.publicKey().publicKey);
    // Each head signs the seq of the one before it.
    expect(cps.map((c) => c.prev)).toEqual([0, 1, 5, 10]);
    for (const c of cps) {
      const head = s.connectionForTests().prepare("SELECT hash FROM journal WHERE seq = ?").pluck().get(c.seq);
      expect(c.headHash).toBe(head);
      expect(verify(null, Buffer.from(headPayload(c.seq, c.headHash, c.at, c.prev)), pub, Buffer.from(c.signature, "base64"))).toBe(true);
    }
    expect(await s.journal.head()).toEqual({ seq: 13, hash: cps[3]?.headHash, at: cps[3]?.at, prev: 10, signature: cps[3]?.signature, fingerprint: s.journal.publicKey().fingerprint });
    await s.close();
    const again = store(path);
    expect(again.journalForTests().checkpoints().map((c) => c.seq)).toEqual([1, 5, 10, 13]);
    const r = await verified(again);
    expect(r.unsignedTail).toBe(0);
    expect(r.lastCheckpoint?.seq).toBe(13);
  });

  it("given the last signed head removed, or every one, when verified, then the entries after the last good one are a problem", async () => {
    const s = store(fresh(), 5);
    await s.transaction(async (tx) => {
      for (let i = 0; i < 12; i++) await tx.setMeta(`k${i}`, String(i));
    });
    const fine = await verified(s);
    expect(fine.ok).toBe(true);
    expect(fine.unsignedTail).toBe(0);
    const db = s.connectionForTests();
    const head = db.prepare("SELECT max(seq) FROM journal").pluck().get() as number;
    db.prepare("DELETE FROM journal_checkpoints WHERE seq = ?").run(head);
    const cut = await verified(s);
    expect(cut.ok).toBe(false);
    expect(cut.problems[0]).toMatchObject({ kind: "checkpoint", seq: 11 });
    expect(cut.problems[0]?.message).toContain(`3 entries follow the last signed head (#10), but every commit ends with a signed head`);
    // A head removed from the middle: the next one signed the seq of the removed one.
    db.prepare("DELETE FROM journal_checkpoints WHERE seq = 5").run();
    const mid = await verified(s);
    expect(mid.problems[0]).toMatchObject({ kind: "checkpoint", seq: 10, where: "journal_checkpoints seq=10" });
    expect(mid.problems[0]?.message).toContain("with #1 as the head before it: the head was forged or altered, or a signed head before it was removed");
    // With the checkpoints gone (a rewritten chain would look exactly so), every entry is unsigned.
    db.exec("DELETE FROM journal_checkpoints");
    const r = await verified(s);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: "checkpoint", seq: 1 });
    expect(r.problems[0]?.message).toContain(`the journal has ${head} entries and no valid signed head`);
  });

  it("keeps the private key beside the database, readable by its owner only, and reuses it", async () => {
    const path = fresh();
    const a = store(path);
    const file = keyFileFor(path) as string;
    expect(file).toBe(`${path}.journal-key.pem`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const fp = a.journal.publicKey().fingerprint;
    await a.close();
    expect(store(path).journal.publicKey().fingerprint).toBe(fp);
    expect(store(fresh()).journal.publicKey().fingerprint).not.toBe(fp);
  });

  it("an in-memory store signs with an ephemeral key", () => {
    const s = store(":memory:");
    expect(keyFileFor(":memory:")).toBeNull();
    expect(s.journal.publicKey()).toMatchObject({ algorithm: "Ed25519", fingerprint: s.journalForTests().fingerprint });
    expect(s.journal.publicKey().publicKey).toContain("BEGIN PUBLIC KEY");
    expect(store(":memory:").journal.publicKey().fingerprint).not.toBe(s.journal.publicKey().fingerprint);
  });

  it("a write through a connection without the journal succeeds, leaves no entry, and is found", async () => {
    const path = fresh();
    const s = store(path);
    await setMeta(s, "k", "v");
    const seq = (entries(s).at(-1) as Entry).seq;
    const other = new Database(path);
    other.prepare("UPDATE meta SET value = 'w' WHERE key = 'k'").run();
    other.close();
    expect((entries(s).at(-1) as Entry).seq).toBe(seq);
    const r = await verified(s);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: "row", table: "meta", key: ["k"], seq, where: "meta key=k" });
  });
});

describe("through Standing", () => {
  it("a live service verifies, with replay, and has no unsigned tail: every commit ended with a signed head", async () => {
    const s = store(fresh(), 1_000_000);
    const standing = new Standing(s, new ManualClock(NOW));
    await standing.publish(POLICY_TEXT, "policies/municipal-credit.yaml");
    await standing.ingest([{ source: "court", id: "c-1", type: "court.judgment.default", subject: nid("A1"), occurredAt: new Date(NOW - 86_400_000).toISOString(), fields: { case: "C-1", amount: 5000 }, evidence: "case-file://C-1" }]);
    const r = await standing.verifyJournal();
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.states).toEqual({ checked: 1, replayed: true });
    expect(r.unsignedTail).toBe(0);
    expect(r.warnings).toEqual([]);
    expect((await s.journal.head())?.seq).toBe(r.entries);
    expect(standing.journalKey()).toEqual(s.journal.publicKey());
  });
});

/** A row hash computed without the journal's code: sha256 of the row's canonical JSON. */
function rowHashOf(row: Record<string, string | number>): string {
  return createHash("sha256").update(canonicalJson(row)).digest("hex");
}
