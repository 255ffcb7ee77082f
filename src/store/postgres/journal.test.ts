// The journal on PostgreSQL: the same guarantees as the embedded store's. A database is
// built through Standing, then changed behind the store's back with a connection of
// its own; verify finds and names each change. Several stores (as several servers)
// write at once: the chain stays one line, every commit is signed, every state replays.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DecisionLog } from "../../decision-log.js";
import { Standing, replayerOf } from "../../standing.js";
import { ManualClock } from "../../time.js";
import { sha256Hex } from "../../journal/hash.js";
import { PgStore } from "./store.js";
import { migrations } from "./schema.js";
import { auditPostgres } from "./audit.js";
import { behindTheBack, dropCreated, freshDatabase } from "./test-helpers.js";

const root = resolve(import.meta.dirname, "..", "..", "..");
const POLICY_TEXT = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");
const NOW = Date.UTC(2026, 2, 1, 0, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (t: number): string => new Date(t).toISOString();
const nid = (value: string) => ({ scheme: "national-id", value });
const passport = (value: string) => ({ scheme: "passport", value });

afterAll(async () => {
  await dropCreated();
}, 300_000);

interface Built {
  readonly url: string;
  readonly keyFile: string;
}

/** Publishes the seed policy, ingests (accepted, rejected, quarantined, retracted), links, keys, the decision log, time passing. */
async function build(): Promise<Built> {
  const db = await freshDatabase("journal");
  const store = await new PgStore(db.url, { keyFile: db.keyFile }).open();
  const clock = new ManualClock(NOW);
  const standing = new Standing(store, clock);
  try {
    await standing.publish(POLICY_TEXT, "policies/municipal-credit.yaml");
    const results = await standing.ingest([
      { source: "court", id: "c-1", type: "court.judgment.default", subject: nid("A1"), occurredAt: iso(NOW - 10 * DAY), fields: { case: "C-1", amount: 5000 }, evidence: "case-file://C-1" },
      { source: "traffic-police", id: "t-1", type: "traffic.jaywalking", subject: nid("B2"), occurredAt: iso(NOW - 5 * DAY), evidence: "camera://t-1" },
      { source: "traffic-police", id: "t-2", type: "traffic.jaywalking", subject: nid("B2"), occurredAt: iso(NOW - 4 * DAY), evidence: "camera://t-2" },
      { source: "court", id: "bad-1", type: "no.such.type", subject: nid("A1"), occurredAt: iso(NOW - DAY) },
      { source: "airline", id: "a-1", type: "aviation.onboard-misconduct", subject: passport("P1"), occurredAt: iso(NOW - 2 * DAY), fields: { flight: "CA1234" }, evidence: "report://a-1" },
    ]);
    expect(results.map((r) => r.status)).toEqual(["accepted", "accepted", "accepted", "rejected", "quarantined"]);
    clock.advance(HOUR);
    await standing.ingest([{ source: "traffic-police", id: "t-2x", retracts: "t-2", occurredAt: iso(NOW), reason: "wrong plate" }]);
    await standing.link(nid("A1"), passport("P1"));
    const auditor = await standing.createKey({ role: "auditor", label: "City auditor" });
    const gone = await standing.createKey({ role: "source", source: "court", label: "Court clerk" });
    await standing.revokeKey(gone.row.keyId);
    clock.advance(8 * DAY);
    await standing.advance();
    const check = (id: string, value: string) => ({ id, at: clock.now(), keyId: auditor.row.keyId, askedBy: "checkpoint:Gate 3", scheme: "national-id", value, context: "air-travel", decision: "allow" as const, codes: [] });
    // A row per decision, as servers logged checks before the compact log; then checks as a server logs them now.
    await store.appendDecisions([check("d-01", "A1"), check("d-02", "B2"), check("d-03", "C3")]);
    const log = new DecisionLog(standing);
    for (const [id, value] of [["c-01", "A1"], ["c-02", "B2"]] as const) log.add(check(id, value));
    await log.flush();
  } finally {
    await standing.close();
  }
  return { url: db.url, keyFile: db.keyFile };
}

const verify = (b: Built) => auditPostgres(b.url, { keyFile: b.keyFile, replay: replayerOf() });

describe("the journal on PostgreSQL", () => {
  let base: Built;
  beforeAll(async () => {
    base = await build();
  });

  it("given a database built through Standing, when verified with replay, then it is ok, every commit is signed and the head is the last entry", async () => {
    const r = await verify(base);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.unsignedTail).toBe(0);
    expect(r.states.checked).toBeGreaterThanOrEqual(2);
    expect(r.rows).toBeGreaterThan(10);
    expect(r.publicKey?.source).toBe("key-file");
    const store = await new PgStore(base.url, { keyFile: base.keyFile }).open();
    try {
      const head = await store.journal.head();
      expect(head?.seq).toBe(r.head?.seq);
      expect(head?.hash).toBe(r.head?.hash);
      expect(head?.fingerprint).toBe(store.journal.publicKey().fingerprint);
      const kinds = (await store.queryForTests("SELECT DISTINCT kind FROM journal")).map((x) => x.kind as string);
      for (const k of ["policy.published", "record.accepted", "record.retracted", "records.rejected", "record.quarantined", "record.released", "identifier.linked", "state.changed", "key.created", "key.revoked", "decisions.batch", "screenings.batch", "notice.created"]) {
        expect(kinds, k).toContain(k);
      }
    } finally {
      await store.close();
    }
  });

  const tampered = async (sql: string): Promise<Awaited<ReturnType<typeof verify>>> => {
    const b = await build();
    await behindTheBack(b.url, sql);
    return verify(b);
  };

  it("given a record's body changed behind the store's back, when verified, then the row and the record are named", async () => {
    const r = await tampered("UPDATE records SET body = replace(body, 'C-1', 'C-2') WHERE record_id = 'c-1'");
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: "row", where: "records seq=1 (court/c-1)" });
    expect(r.problems.some((p) => p.kind === "record" && p.where.startsWith("records seq=1"))).toBe(true);
  });

  it("given a state adjusted by hand, when verified, then the row and its replay are named", async () => {
    const r = await tampered("UPDATE states SET state = replace(state, '\"score\":', '\"score\":1') WHERE subject_id = 2");
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: "row", table: "states", where: "states subject_id=2" });
    expect(r.problems.some((p) => p.kind === "replay" && p.subject === 2)).toBe(true);
  });

  it("given a row deleted and another inserted behind the store's back, when verified, then each is named", async () => {
    const r = await tampered("DELETE FROM identifiers WHERE scheme = 'passport'; INSERT INTO meta (key, value) VALUES ('backdoor', '1')");
    expect(r.ok).toBe(false);
    const where = r.problems.map((p) => p.message);
    expect(where.some((m) => m.startsWith("identifiers scheme=passport value=P1") && m.includes("deleted outside Standing"))).toBe(true);
    expect(where.some((m) => m.startsWith("meta key=backdoor") && m.includes("inserted outside Standing"))).toBe(true);
  });

  it("given a decision of a batch changed, when verified, then the decision is named with its batch entry", async () => {
    const r = await tampered("UPDATE decisions SET decision = 'deny' WHERE id = 'd-02'");
    expect(r.ok).toBe(false);
    expect(r.problems[0]?.message).toMatch(/^decisions id=d-02: the row differs from what journal entry #\d+ \(decisions\.batch\) recorded/);
  });

  it("given a journal entry rewritten, or the last signed head removed, when verified, then the chain or the signatures fail", async () => {
    const r = await tampered("UPDATE journal SET kind = 'forged' WHERE seq = 3");
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: "chain", seq: 3 });
    const cut = await tampered("DELETE FROM journal_checkpoints WHERE seq = (SELECT max(seq) FROM journal_checkpoints)");
    expect(cut.ok).toBe(false);
    expect(cut.problems[0]).toMatchObject({ kind: "checkpoint" });
  });

  it("given a head signed by another key, when verified against the pinned key, then the checkpoint is named", async () => {
    const b = await build();
    const other = await freshDatabase("other-key");
    const store = await new PgStore(other.url, { keyFile: other.keyFile }).open();
    const pinned = store.journal.publicKey().publicKey;
    await store.close();
    const r = await auditPostgres(b.url, { keyFile: b.keyFile });
    expect(r.ok).toBe(true);
    const { writeFileSync } = await import("node:fs");
    const file = `${other.keyFile}.pub`;
    writeFileSync(file, pinned);
    const bad = await auditPostgres(b.url, { keyFile: b.keyFile, publicKeyFile: file });
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]).toMatchObject({ kind: "checkpoint" });
  });

  it("given a store started with another key file than the journal was signed with, when it opens, then it refuses in one line", async () => {
    const other = await freshDatabase("wrong-key");
    const store = new PgStore(base.url, { keyFile: other.keyFile });
    await expect(store.open()).rejects.toMatchObject({ code: "storage-unavailable", message: expect.stringMatching(/is not the key this database's journal is signed with/) });
    await store.close();
  });
});

describe("several stores writing one PostgreSQL database at once", () => {
  it("given two stores (as two servers) committing concurrently on overlapping subjects, when done, then the chain is one line, each commit signed one head, and nothing was lost", async () => {
    const db = await freshDatabase("concurrent");
    const [a, b] = await Promise.all([new PgStore(db.url, { keyFile: db.keyFile }).open(), new PgStore(db.url, { keyFile: db.keyFile }).open()]);
    try {
      const subjects = await a.transaction(async (tx) => {
        const ids: number[] = [];
        for (let i = 0; i < 4; i++) {
          const id = await tx.createSubject(NOW);
          await tx.link(id, nid(`S${i}`), NOW);
          ids.push(id);
        }
        return ids;
      });
      const commit = (store: PgStore, name: string, i: number) =>
        store.transaction(async (tx) => {
          const s = subjects[i % subjects.length] as number;
          await tx.lockSubjects([s]);
          const n = (await tx.recordsOf(s)).length;
          const body = JSON.stringify({ source: name, id: `${name}-${i}`, occurredAt: iso(NOW + n) });
          await tx.appendRecord({ source: name, recordId: `${name}-${i}`, subjectId: s, type: "traffic.jaywalking", occurredAt: NOW + n, receivedAt: NOW, retracts: null, body, hash: sha256Hex(body) });
          await tx.setMeta(`count-${s}`, String(n + 1));
          await tx.emit({ kind: "subject", ref: String(s) });
        });
      await Promise.all(Array.from({ length: 20 }, (_, i) => [commit(a, "a", i), commit(b, "b", i)]).flat());
      expect(await a.countRecords()).toBe(40);
      for (const s of subjects) expect(await a.getMeta(`count-${s}`)).toBe(String((await a.recordsOf(s)).length));
      const cps = await a.queryForTests("SELECT count(*) AS n FROM journal_checkpoints");
      expect(Number(cps[0]?.n)).toBe(41); // one signed head per commit
      const changes = await a.changesSince(0, 1000);
      expect(changes).toHaveLength(40);
      expect(changes.map((c) => c.seq)).toEqual([...changes.map((c) => c.seq)].sort((x, y) => x - y));
      const r = await a.journal.verify({});
      expect(r.problems).toEqual([]);
      expect(r.unsignedTail).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("given two stores starting on a new database at once, when both open, then the migrations ran once", async () => {
    const db = await freshDatabase("migrate");
    const stores = await Promise.all([0, 1, 2].map(() => new PgStore(db.url, { keyFile: db.keyFile }).open()));
    try {
      const rows = await (stores[0] as PgStore).queryForTests("SELECT version FROM schema_migrations");
      expect(rows.map((r) => Number(r.version)).sort()).toEqual(migrations.map((m) => m.version));
    } finally {
      for (const s of stores) await s.close();
    }
  });
});
