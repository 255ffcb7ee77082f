// The one contract every Store implementation must pass (sqlite now, postgres later):
// records, quarantine, states, due process, keys, the decision log, the journal port,
// the change feed, transactions and their concurrency. It speaks only through the
// Store interface: nothing here knows about SQL, files or pragmas. Each test gets a
// fresh, empty store from `makeStore` and closes it after.
//
// Usage, from an implementation's own test file:
//   storeContract("sqlite (temp file)", () => new SqliteStore(join(dir, "a.db")));
import { createHash, createPublicKey, verify } from "node:crypto";
import { headPayload } from "../journal/hash.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KeyRow } from "../auth/principals.js";
import { StandingError } from "../errors.js";
import { checkBatches, type ScreenedDecision } from "./screening-log.js";
import type { ListMembership, MeasureState, SubjectState } from "../engine/types.js";
import type {
  ApplicationRow,
  DecisionLogRow,
  DisputeRow,
  Identifier,
  NewQuarantine,
  NewRecord,
  NoticeRow,
  PolicyProposalRow,
  PolicyRow,
  SessionRow,
  OutcomeRow,
  Store,
  StoreTx,
  SubjectId,
} from "./types.js";

const T0 = Date.UTC(2026, 2, 1, 0, 0, 0); // 2026-03-01T00:00:00Z
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

const nid = (value: string): Identifier => ({ scheme: "national-id", value });
const passport = (value: string): Identifier => ({ scheme: "passport", value });

function policyRow(version: string, effective: number): Omit<PolicyRow, "seq"> {
  return {
    ref: `contract@${version}`,
    policyId: "contract",
    version,
    text: `standing: 1\npolicy: contract\nversion: ${version}\n`,
    hash: `hash-of-${version}`,
    effective,
    publishedAt: effective - DAY,
  };
}

function newRecord(subjectId: SubjectId, source: string, recordId: string, occurredAt: number, retracts: string | null = null): NewRecord {
  const body = JSON.stringify({ source, id: recordId, occurredAt: new Date(occurredAt).toISOString(), ...(retracts ? { retracts } : {}) });
  return {
    source,
    recordId,
    subjectId,
    type: "traffic.jaywalking",
    occurredAt,
    receivedAt: occurredAt + MIN,
    retracts,
    body,
    hash: `h:${source}:${recordId}`,
  };
}

function newQuarantine(source: string, recordId: string, id: Identifier, receivedAt: number): NewQuarantine {
  return {
    source,
    recordId,
    scheme: id.scheme,
    value: id.value,
    body: JSON.stringify({ source, id: recordId, subject: id }),
    hash: `q:${source}:${recordId}`,
    receivedAt,
    reason: `${id.scheme}:${id.value} is not linked yet`,
  };
}

const denyMeasure: MeasureState = {
  measure: "no-flights-debtor",
  context: "air-travel",
  effect: "deny",
  code: "SPC-DEBTOR",
  basis: "Provisions on judgment defaulters, art. 1",
  status: "pending",
  since: "2026-03-08T00:00:00.000Z",
  until: "2028-03-01T00:00:00.000Z",
  lists: ["judgment-defaulters"],
};

function state(opts: { at: number; score?: number; measures?: MeasureState[]; lists?: ListMembership[]; nextChangeAt?: number | null }): SubjectState {
  const next = opts.nextChangeAt ?? null;
  return {
    policy: "contract@1",
    at: new Date(opts.at).toISOString(),
    score: opts.score ?? 1000,
    tier: "A",
    contributions: [],
    lists: opts.lists ?? [],
    measures: opts.measures ?? [],
    nextChangeAt: next === null ? null : new Date(next).toISOString(),
  };
}

function dispute(subjectId: SubjectId, id: string, openedAt: number, over: Partial<DisputeRow> = {}): DisputeRow {
  return {
    id,
    subjectId,
    source: "court",
    recordId: "r1",
    grounds: "not me",
    evidence: null,
    openedBy: "subject",
    openedAt,
    deadlineAt: openedAt + 30 * DAY,
    suspend: false,
    status: "open",
    answerNote: null,
    answeredAt: null,
    decidedBy: null,
    reason: null,
    closedAt: null,
    counts: null,
    ...over,
  };
}

function notice(subjectId: SubjectId, id: string, createdAt: number): NoticeRow {
  return { id, subjectId, measure: "no-flights-debtor", effectiveFrom: createdAt + 7 * DAY, createdAt, body: JSON.stringify({ id, measure: "no-flights-debtor", text: "通知 ✓" }) };
}

function key(keyId: string, createdAt: number, over: Partial<KeyRow> = {}): KeyRow {
  return { keyId, hash: `sha:${keyId}`, role: "source", label: `Key ${keyId}`, source: "court", contexts: ["air-travel", "rail-travel"], subjectId: null, createdAt, revokedAt: null, ...over };
}

function decision(id: string, at: number, value: string, over: Partial<DecisionLogRow> = {}): DecisionLogRow {
  return { id, at, keyId: "k1", askedBy: "checkpoint:Gate 3", scheme: "national-id", value, context: "air-travel", decision: "allow", codes: [], ...over };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/** What a store may not offer yet; each is a test the suite runs only where it is offered. */
export interface StoreCapabilities {
  /** `journal.rotateKey()` (a store without it must refuse it with a StandingError). */
  readonly keyRotation?: boolean;
}

export function storeContract(name: string, makeStore: () => Store | Promise<Store>, capabilities: StoreCapabilities = { keyRotation: true }): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await makeStore();
    });

    afterEach(async () => {
      await store.close();
    });

    const write = <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> => store.transaction(fn);

    /** Creates a subject that owns one national id, and returns its id. */
    const subjectWith = (value: string): Promise<SubjectId> =>
      write(async (tx) => {
        const id = await tx.createSubject(T0);
        await tx.link(id, nid(value), T0);
        return id;
      });

    const stateRow = (subjectId: SubjectId, nextChangeAt: number | null, measures: MeasureState[] = [], lists: ListMembership[] = []) => ({
      subjectId,
      policyRef: "contract@1",
      evaluatedAt: T0,
      nextChangeAt,
      state: state({ at: T0, nextChangeAt, measures, lists }),
    });

    const putStateFor = (subjectId: SubjectId, nextChangeAt: number | null, measures: MeasureState[] = [], lists: ListMembership[] = []): Promise<void> =>
      write((tx) => tx.putState(stateRow(subjectId, nextChangeAt, measures, lists)));

    /** Every state with measures, paged through `limit` at a time. */
    const allWithMeasures = async (limit = 100) => {
      const out: Awaited<ReturnType<Store["statesWithMeasures"]>> = [];
      let after = 0;
      for (;;) {
        const page = await store.statesWithMeasures(after, limit);
        expect(page.length).toBeLessThanOrEqual(limit);
        if (page.length === 0) return out;
        out.push(...page);
        after = page[page.length - 1]?.subjectId as number;
      }
    };

    // ------------------------------------------------------------ transactions

    describe("transaction", () => {
      it("given a function that writes, when it returns, then its value is returned and its writes are kept", async () => {
        const out = await write(async (tx) => {
          await tx.setMeta("k", "v");
          const s = await tx.createSubject(T0);
          await tx.link(s, nid("tx-1"), T0);
          return 42;
        });
        expect(out).toBe(42);
        expect(await store.getMeta("k")).toBe("v");
        expect(await store.resolve(nid("tx-1"))).toBeDefined();
        expect(await store.countSubjects()).toBe(1);
      });

      it("given writes inside a transaction, when read through its tx, then the transaction sees its own writes", async () => {
        await write(async (tx) => {
          await tx.setMeta("k", "mine");
          const s = await tx.createSubject(T0);
          await tx.link(s, nid("own"), T0);
          const r = await tx.appendRecord(newRecord(s, "court", "r1", T0));
          await tx.putState(stateRow(s, T0 + DAY, [denyMeasure]));
          expect(await tx.getMeta("k")).toBe("mine");
          expect(await tx.resolve(nid("own"))).toBe(s);
          expect(await tx.findRecord("court", "r1")).toEqual(r);
          expect(await tx.recordsOf(s)).toEqual([r]);
          expect((await tx.getState(s))?.nextChangeAt).toBe(T0 + DAY);
          expect(await tx.countSubjects()).toBe(1);
        });
      });

      it("given a function that writes to every table and then throws, when it runs, then the error propagates and nothing it wrote remains", async () => {
        const before = await subjectWith("pre-existing");
        await putStateFor(before, T0 + DAY);
        await write(async (tx) => {
          await tx.addKey(key("k-kept", T0));
          await tx.addNotice(notice(before, "n-kept", T0));
        });
        const lastBefore = await store.lastChange();
        const boom = new Error("boom");
        await expect(
          write(async (tx) => {
            await tx.setMeta("k", "v");
            await tx.addPolicy(policyRow("1", T0));
            const s = await tx.createSubject(T0);
            await tx.link(s, nid("tx-2"), T0);
            await tx.appendRecord(newRecord(s, "court", "r1", T0));
            await tx.quarantine(newQuarantine("airline", "q1", passport("P1"), T0));
            await tx.putState(stateRow(s, T0 + 2 * DAY, [denyMeasure]));
            await tx.putState(stateRow(before, null));
            await tx.addKey(key("k-new", T0));
            await tx.revokeKey("k-kept", T0);
            await tx.putDispute(dispute(s, "d1", T0));
            await tx.addApplication({ id: "app-1", subjectId: s, list: "debtors", appliedAt: T0, appliedBy: "subject" });
            await tx.addNotice(notice(s, "n1", T0));
            await tx.markDelivered("n-kept", T0 + 1);
            await tx.journalEvent("record.rejected", { source: "court", id: "x" });
            await tx.emit({ kind: "subject", ref: String(s) });
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await store.getMeta("k")).toBeUndefined();
        expect(await store.policies()).toEqual([]);
        expect(await store.resolve(nid("tx-2"))).toBeUndefined();
        expect(await store.countSubjects()).toBe(1);
        expect(await store.countRecords()).toBe(0);
        expect(await store.findRecord("court", "r1")).toBeUndefined();
        expect(await store.findQuarantined("airline", "q1")).toBeUndefined();
        expect(await store.listQuarantine(10)).toEqual([]);
        expect(await store.statesWithMeasures(0, 10)).toEqual([]);
        // the pre-existing state keeps its old nextChangeAt
        expect((await store.getState(before))?.nextChangeAt).toBe(T0 + DAY);
        expect(await store.earliestChange()).toBe(T0 + DAY);
        expect((await store.listKeys()).map((k) => [k.keyId, k.revokedAt])).toEqual([["k-kept", null]]);
        expect(await store.getDispute("d1")).toBeUndefined();
        expect(await store.listDisputes({ limit: 10 })).toEqual([]);
        expect(await store.getNotice("n1")).toBeUndefined();
        expect(await store.outboxOf("n1")).toBeUndefined();
        expect((await store.outboxOf("n-kept"))?.deliveredAt).toBeNull();
        expect(await store.lastChange()).toBe(lastBefore);
        expect(await store.changesSince(lastBefore, 10)).toEqual([]);
      });

      it("given a transaction whose writes are spread over several turns of the event loop, when it fails after the last, then the early writes are undone too", async () => {
        await expect(
          write(async (tx) => {
            await tx.setMeta("early", "1");
            await sleep(5);
            await tx.setMeta("later", "1");
            await sleep(5);
            throw new Error("late failure");
          }),
        ).rejects.toThrow("late failure");
        expect(await store.getMeta("early")).toBeUndefined();
        expect(await store.getMeta("later")).toBeUndefined();
      });

      it("given a failed transaction, when another one runs afterwards, then the store is usable and commits normally", async () => {
        await expect(
          write(async (tx) => {
            await tx.setMeta("a", "1");
            throw new Error("x");
          }),
        ).rejects.toThrow("x");
        await write((tx) => tx.setMeta("a", "2"));
        expect(await store.getMeta("a")).toBe("2");
      });

      it("given a transaction under way, when the store is read outside it, then its rows and events are not seen until it commits", async () => {
        const wrote = gate();
        const finish = gate();
        const running = write(async (tx) => {
          await tx.setMeta("pending", "1");
          const s = await tx.createSubject(T0);
          await tx.link(s, nid("PENDING"), T0);
          await tx.appendRecord(newRecord(s, "court", "p1", T0));
          await tx.emit({ kind: "subject", ref: String(s) });
          wrote.open();
          await finish.opened;
          return s;
        });
        await wrote.opened;
        let committed = false;
        // A read that answers while the transaction is open must not see it; a store
        // whose outside reads wait for the commit passes too (it then reads the commit).
        const seen = async <T>(read: Promise<T>): Promise<{ value: T; early: boolean }> => {
          const value = await read;
          return { value, early: !committed };
        };
        const reads = Promise.all([
          seen(store.getMeta("pending")),
          seen(store.resolve(nid("PENDING"))),
          seen(store.countSubjects()),
          seen(store.findRecord("court", "p1")),
          seen(store.changesSince(0, 10)),
          seen(store.lastChange()),
        ]);
        await sleep(20);
        committed = true;
        finish.open();
        const s = await running;
        const [meta, resolved, count, record, changes, last] = await reads;
        if (meta.early) expect(meta.value).toBeUndefined();
        if (resolved.early) expect(resolved.value).toBeUndefined();
        if (count.early) expect(count.value).toBe(0);
        if (record.early) expect(record.value).toBeUndefined();
        if (changes.early) expect(changes.value).toEqual([]);
        if (last.early) expect(last.value).toBe(0);
        expect(await store.getMeta("pending")).toBe("1");
        expect(await store.resolve(nid("PENDING"))).toBe(s);
        expect((await store.changesSince(0, 10)).map((c) => c.ref)).toEqual([String(s)]);
      });
    });

    // ------------------------------------------------------------ concurrency

    describe("concurrency", () => {
      it("given two transactions started at once that read and then write one meta key, when both finish, then both committed and neither update is lost", async () => {
        await write((tx) => tx.setMeta("counter", "0"));
        const bump = () =>
          write(async (tx) => {
            const seen = Number(await tx.getMeta("counter"));
            await sleep(5); // the other transaction gets every chance to run in between
            await tx.setMeta("counter", String(seen + 1));
            return seen;
          });
        const seen = await Promise.all([bump(), bump()]);
        expect([...seen].sort()).toEqual([0, 1]); // one ran after the other, and saw its write
        expect(await store.getMeta("counter")).toBe("2");
      });

      it("given many such transactions at once, when all finish, then the counter counts every one", async () => {
        await write((tx) => tx.setMeta("counter", "0"));
        const bump = () =>
          write(async (tx) => {
            const seen = Number(await tx.getMeta("counter"));
            await sleep(1);
            await tx.setMeta("counter", String(seen + 1));
          });
        await Promise.all(Array.from({ length: 8 }, bump));
        expect(await store.getMeta("counter")).toBe("8");
      });

      it("given two transactions that lock one subject and each append its next record, when run at once, then both records are kept, numbered in turn", async () => {
        const s = await subjectWith("LOCKED");
        const next = () =>
          write(async (tx) => {
            await tx.lockSubjects([s]);
            const n = (await tx.recordsOf(s)).length;
            await sleep(5);
            return tx.appendRecord(newRecord(s, "court", `r${n}`, T0 + n));
          });
        await Promise.all([next(), next()]);
        expect((await store.recordsOf(s)).map((r) => r.recordId)).toEqual(["r0", "r1"]);
      });

      it("given a transaction that fails while another waits for it, when both finish, then the other commits", async () => {
        await write((tx) => tx.setMeta("counter", "0"));
        const failing = write(async (tx) => {
          await tx.setMeta("counter", "100");
          await sleep(5);
          throw new Error("gives up");
        });
        const ok = write(async (tx) => tx.setMeta("counter", String(Number(await tx.getMeta("counter")) + 1)));
        await expect(failing).rejects.toThrow("gives up");
        await ok;
        expect(await store.getMeta("counter")).toBe("1");
      });

      it("given subject ids, when locked (several, unsorted, repeated, none), then the transaction goes on and commits", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        await write(async (tx) => {
          await tx.lockSubjects([b, a, b]);
          await tx.lockSubjects([]);
          await tx.lockSubjects([a]); // again, in the same transaction
          await tx.appendRecord(newRecord(a, "court", "after-lock", T0));
        });
        expect((await store.findRecord("court", "after-lock"))?.subjectId).toBe(a);
      });
    });

    // ------------------------------------------------------------ policies and meta

    describe("policies", () => {
      it("given an empty store, when policies are listed, then there are none", async () => {
        expect(await store.policies()).toEqual([]);
      });

      it("given policies added one after another, when listed, then they come back whole and in the order they were added", async () => {
        // effective dates deliberately not in insertion order: order is publication order
        const a = await write((tx) => tx.addPolicy(policyRow("2.0.0", T0 + 10 * DAY)));
        const b = await write((tx) => tx.addPolicy(policyRow("1.0.0", T0)));
        const c = await write((tx) => tx.addPolicy(policyRow("3.0.0", T0 + 20 * DAY)));
        expect(a.seq).toBeLessThan(b.seq);
        expect(b.seq).toBeLessThan(c.seq);
        expect(a).toEqual({ ...policyRow("2.0.0", T0 + 10 * DAY), seq: a.seq });
        const listed = await store.policies();
        expect(listed.map((p) => p.ref)).toEqual(["contract@2.0.0", "contract@1.0.0", "contract@3.0.0"]);
        expect(listed).toEqual([a, b, c]);
      });

      it("given a published ref, when the same ref is added again, then it throws and the first stays as it was", async () => {
        const first = await write((tx) => tx.addPolicy(policyRow("1.0.0", T0)));
        await expect(write((tx) => tx.addPolicy({ ...policyRow("1.0.0", T0), text: "changed", hash: "other" }))).rejects.toThrow();
        expect(await store.policies()).toEqual([first]);
      });
    });

    describe("policy proposals", () => {
      const proposal = (id: string, ref: string, at: number, extra: Partial<PolicyProposalRow> = {}): PolicyProposalRow => ({
        id,
        ref,
        text: `policy: contract\nversion: ${ref}\n`,
        hash: `hash-${id}`,
        proposedBy: "author key 0123456789ab (author)",
        proposedAt: at,
        status: "proposed",
        decidedBy: null,
        decidedAt: null,
        note: null,
        ...extra,
      });

      it("given an empty store, when proposals are listed, then there are none", async () => {
        expect(await store.policyProposals()).toEqual([]);
      });

      it("given proposals put, when listed, then they come back whole, oldest first, inside and outside the transaction", async () => {
        const b = proposal("p-b", "contract@2", T0 + DAY);
        const a = proposal("p-a", "contract@1", T0, { note: "first" });
        const seenInside = await write(async (tx) => {
          await tx.putPolicyProposal(b);
          await tx.putPolicyProposal(a);
          return tx.policyProposals();
        });
        expect(seenInside).toEqual([a, b]);
        expect(await store.policyProposals()).toEqual([a, b]);
      });

      it("given a proposal, when put again with its decision, then it is replaced, not added", async () => {
        const p = proposal("p-1", "contract@1", T0);
        await write((tx) => tx.putPolicyProposal(p));
        const approved: PolicyProposalRow = { ...p, status: "approved", decidedBy: "approver key ba9876543210 (board)", decidedAt: T0 + DAY };
        await write((tx) => tx.putPolicyProposal(approved));
        expect(await store.policyProposals()).toEqual([approved]);
      });

      it("given a transaction that fails, when it had put a proposal, then nothing of it is kept", async () => {
        await expect(
          write(async (tx) => {
            await tx.putPolicyProposal(proposal("p-1", "contract@1", T0));
            throw new Error("boom");
          }),
        ).rejects.toThrow("boom");
        expect(await store.policyProposals()).toEqual([]);
      });
    });

    describe("line outcomes and partition fences (the cluster's record stream)", () => {
      const outcome = (receipt: string, line: number, extra: Partial<OutcomeRow> = {}): OutcomeRow => ({
        receipt,
        line,
        source: "court",
        recordId: `r-${line}`,
        status: "accepted",
        detail: JSON.stringify({ status: "accepted", line }),
        at: T0 + line,
        ...extra,
      });

      it("given outcomes of a batch, when read by receipt, then they come in line order after the given line, within the limit; another batch's are not mixed in", async () => {
        await write((tx) => tx.putOutcomes([outcome("b-1", 3), outcome("b-1", 1), outcome("b-2", 1), outcome("b-1", 2, { status: "rejected", source: null, recordId: null })]));
        expect((await store.outcomesOf("b-1", 0, 10)).map((o) => o.line)).toEqual([1, 2, 3]);
        expect(await store.outcomesOf("b-1", 1, 1)).toEqual([outcome("b-1", 2, { status: "rejected", source: null, recordId: null })]);
        expect((await store.outcomesFor("b-1", [3, 9, 1])).map((o) => o.line)).toEqual([1, 3]);
        expect(await store.outcomesFor("b-1", [])).toEqual([]);
      });

      it("given a line that has an outcome, when an outcome is put for it again, then the first is kept (a redelivery has no second effect)", async () => {
        await write((tx) => tx.putOutcomes([outcome("b-1", 1)]));
        await write((tx) => tx.putOutcomes([outcome("b-1", 1, { status: "duplicate", detail: "{}" })]));
        expect(await store.outcomesOf("b-1", 0, 10)).toEqual([outcome("b-1", 1)]);
      });

      it("given a record with outcomes in two batches, when its outcome is asked, then the latest comes back; an unknown record has none", async () => {
        await write((tx) => tx.putOutcomes([outcome("b-1", 1, { recordId: "x", at: T0 })]));
        await write((tx) => tx.putOutcomes([outcome("b-2", 5, { recordId: "x", status: "duplicate", at: T0 + 100 })]));
        expect(await store.outcomeOfRecord("court", "x")).toMatchObject({ receipt: "b-2", status: "duplicate" });
        expect(await store.outcomeOfRecord("court", "y")).toBeUndefined();
      });

      it("given a partition fenced at an epoch, when fenced again, then an equal or newer epoch passes and an older one is refused", async () => {
        expect(await write((tx) => tx.fencePartition(3, 10))).toBe(true);
        expect(await write((tx) => tx.fencePartition(3, 10))).toBe(true);
        expect(await write((tx) => tx.fencePartition(3, 12))).toBe(true);
        expect(await write((tx) => tx.fencePartition(3, 11))).toBe(false);
        expect(await write((tx) => tx.fencePartition(4, 1))).toBe(true);
      });
    });

    describe("web sessions", () => {
      const session = (hash: string, extra: Partial<SessionRow> = {}): SessionRow => ({ hash, keyId: "k-1", createdAt: T0, lastSeenAt: T0, expiresAt: T0 + DAY, endedAt: null, ...extra });

      it("given a session added, when read by its hash, then it round-trips; an unknown hash reads as none", async () => {
        const s = session("h-1");
        await write((tx) => tx.addSession(s));
        expect(await store.sessionByHash("h-1")).toEqual(s);
        expect(await store.sessionByHash("h-2")).toBeUndefined();
      });

      it("given a session hash in use, when another is added with it, then it throws and the first is kept", async () => {
        const s = session("h-1");
        await write((tx) => tx.addSession(s));
        await expect(write((tx) => tx.addSession(session("h-1", { keyId: "k-2" })))).rejects.toThrow();
        expect(await store.sessionByHash("h-1")).toEqual(s);
      });

      it("given a session, when touched, then its last-seen time moves forward only, and an ended session is not touched", async () => {
        await write((tx) => tx.addSession(session("h-1")));
        await write((tx) => tx.touchSession("h-1", T0 + 1000));
        await write((tx) => tx.touchSession("h-1", T0 + 500));
        expect((await store.sessionByHash("h-1"))?.lastSeenAt).toBe(T0 + 1000);
        await write((tx) => tx.touchSession("nope", T0 + 2000)); // nothing, no error
        expect(await write((tx) => tx.endSession("h-1", T0 + 3000))).toBe(true);
        await write((tx) => tx.touchSession("h-1", T0 + 4000));
        expect(await store.sessionByHash("h-1")).toEqual(session("h-1", { lastSeenAt: T0 + 1000, endedAt: T0 + 3000 }));
      });

      it("given a session, when ended, then it says so once and keeps its first end; an unknown one is not ended", async () => {
        await write((tx) => tx.addSession(session("h-1")));
        expect(await write((tx) => tx.endSession("h-1", T0 + 10))).toBe(true);
        expect(await write((tx) => tx.endSession("h-1", T0 + 20))).toBe(false);
        expect(await write((tx) => tx.endSession("nope", T0))).toBe(false);
        expect((await store.sessionByHash("h-1"))?.endedAt).toBe(T0 + 10);
      });

      it("given sessions expired, ended and live, when pruned, then only those expired or ended before the instant go", async () => {
        await write(async (tx) => {
          await tx.addSession(session("expired", { expiresAt: T0 + 10 }));
          await tx.addSession(session("ended", { endedAt: T0 + 5 }));
          await tx.addSession(session("ended-later", { endedAt: T0 + 50 }));
          await tx.addSession(session("live", { expiresAt: T0 + DAY }));
        });
        expect(await write((tx) => tx.pruneSessions(T0 + 20))).toBe(2);
        expect(await store.sessionByHash("expired")).toBeUndefined();
        expect(await store.sessionByHash("ended")).toBeUndefined();
        expect(await store.sessionByHash("ended-later")).toBeDefined();
        expect(await store.sessionByHash("live")).toBeDefined();
      });
    });

    describe("meta", () => {
      it("given a key never set, when read, then it is undefined", async () => {
        expect(await store.getMeta("active_policy")).toBeUndefined();
      });

      it("given a key set twice, when read, then the last value wins and other keys are untouched", async () => {
        await write((tx) => tx.setMeta("active_policy", "contract@1"));
        await write((tx) => tx.setMeta("other", "x"));
        await write((tx) => tx.setMeta("active_policy", "contract@2"));
        expect(await store.getMeta("active_policy")).toBe("contract@2");
        expect(await store.getMeta("other")).toBe("x");
      });

      it("given a value with unicode and an empty value, when read back, then they are identical", async () => {
        await write(async (tx) => {
          await tx.setMeta("u", "政策 ✓ \u00e9");
          await tx.setMeta("empty", "");
        });
        expect(await store.getMeta("u")).toBe("政策 ✓ \u00e9");
        expect(await store.getMeta("empty")).toBe("");
      });
    });

    // ------------------------------------------------------------ subjects and identifiers

    describe("subjects and identifiers", () => {
      it("given an empty store, when subjects are created, then ids are distinct positive integers that increase, and they exist", async () => {
        expect(await store.countSubjects()).toBe(0);
        const ids = await write(async (tx) => [await tx.createSubject(T0), await tx.createSubject(T0), await tx.createSubject(T0 + 1)]);
        expect(ids.every((i) => Number.isInteger(i) && i > 0)).toBe(true);
        expect(ids[0]).toBeLessThan(ids[1] as number);
        expect(ids[1]).toBeLessThan(ids[2] as number);
        expect(await store.countSubjects()).toBe(3);
        for (const i of ids) expect(await store.subjectExists(i)).toBe(true);
        expect(await store.subjectExists(Math.max(...ids) + 1000)).toBe(false);
      });

      it("given an identifier never linked, when resolved, then it is undefined", async () => {
        expect(await store.resolve(nid("nobody"))).toBeUndefined();
      });

      it("given identifiers linked to a subject, when resolved, then each names that subject; scheme and value both matter", async () => {
        const [a, b] = await write(async (tx) => {
          const a = await tx.createSubject(T0);
          const b = await tx.createSubject(T0);
          await tx.link(a, nid("X1"), T0);
          await tx.link(a, passport("P1"), T0);
          await tx.link(b, nid("P1"), T0); // same value, other scheme: a different identifier
          return [a, b];
        });
        expect(await store.resolve(nid("X1"))).toBe(a);
        expect(await store.resolve(passport("P1"))).toBe(a);
        expect(await store.resolve(nid("P1"))).toBe(b);
        expect(await store.resolve(passport("X1"))).toBeUndefined();
        expect(await store.resolve(nid("x1"))).toBeUndefined(); // values are exact, not case-folded
      });

      it("given an identifier linked to a subject, when it is linked to the same subject again, then nothing changes", async () => {
        const a = await subjectWith("X1");
        await expect(write((tx) => tx.link(a, nid("X1"), T0 + DAY))).resolves.toBeUndefined();
        expect(await store.resolve(nid("X1"))).toBe(a);
        expect(await store.identifiersOf(a)).toEqual([nid("X1")]);
      });

      it("given an identifier linked to one subject, when it is linked to another, then it throws identifier-conflict and still names the first", async () => {
        const a = await subjectWith("X1");
        const b = await write((tx) => tx.createSubject(T0));
        let caught: unknown;
        try {
          await write((tx) => tx.link(b, nid("X1"), T0));
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(StandingError);
        expect((caught as StandingError).code).toBe("identifier-conflict");
        expect(await store.resolve(nid("X1"))).toBe(a);
        expect(await store.identifiersOf(b)).toEqual([]);
      });

      it("given identifiers linked in a jumbled order, when listed for the subject, then they are sorted by scheme then value and only its own", async () => {
        const [a, b] = await write(async (tx) => {
          const a = await tx.createSubject(T0);
          const b = await tx.createSubject(T0);
          await tx.link(a, passport("Z9"), T0);
          await tx.link(a, nid("B2"), T0);
          await tx.link(b, nid("A0"), T0);
          await tx.link(a, passport("A1"), T0);
          await tx.link(a, { scheme: "company-reg", value: "C3" }, T0);
          await tx.link(a, nid("A1"), T0);
          return [a, b];
        });
        expect(await store.identifiersOf(a)).toEqual([
          { scheme: "company-reg", value: "C3" },
          { scheme: "national-id", value: "A1" },
          { scheme: "national-id", value: "B2" },
          { scheme: "passport", value: "A1" },
          { scheme: "passport", value: "Z9" },
        ]);
        expect(await store.identifiersOf(b)).toEqual([nid("A0")]);
        expect(await store.identifiersOf(Math.max(a, b) + 1000)).toEqual([]);
      });
    });

    // ------------------------------------------------------------ records

    describe("records", () => {
      it("given an appended record, when found by source and id, then every field comes back as appended, with a seq", async () => {
        const s = await subjectWith("X1");
        const input = newRecord(s, "court", "r1", T0 - 3 * DAY);
        const row = await write((tx) => tx.appendRecord(input));
        expect(row).toEqual({ ...input, seq: row.seq });
        expect(Number.isInteger(row.seq)).toBe(true);
        expect(await store.findRecord("court", "r1")).toEqual(row);
        expect(await store.countRecords()).toBe(1);
      });

      it("given a retraction, when found, then it keeps the id it retracts", async () => {
        const s = await subjectWith("X1");
        await write((tx) => tx.appendRecord(newRecord(s, "court", "r1", T0)));
        const r = await write((tx) => tx.appendRecord(newRecord(s, "court", "r2", T0 + DAY, "r1")));
        expect((await store.findRecord("court", "r2"))?.retracts).toBe("r1");
        expect((await store.findRecord("court", "r1"))?.retracts).toBeNull();
        expect(r.retracts).toBe("r1");
      });

      it("given no such record, when found, then it is undefined; the same id under another source is another record", async () => {
        const s = await subjectWith("X1");
        await write((tx) => tx.appendRecord(newRecord(s, "court", "r1", T0)));
        expect(await store.findRecord("court", "r2")).toBeUndefined();
        expect(await store.findRecord("airline", "r1")).toBeUndefined();
        await write((tx) => tx.appendRecord(newRecord(s, "airline", "r1", T0)));
        expect((await store.findRecord("airline", "r1"))?.source).toBe("airline");
        expect(await store.countRecords()).toBe(2);
      });

      it("given records appended for two subjects out of time order, when listed per subject, then each gets its own in append order", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        const appended = await write(async (tx) => [
          await tx.appendRecord(newRecord(a, "court", "a-late", T0 + 5 * DAY)),
          await tx.appendRecord(newRecord(b, "court", "b-1", T0)),
          await tx.appendRecord(newRecord(a, "traffic-police", "a-early", T0 - 5 * DAY)),
          await tx.appendRecord(newRecord(a, "court", "a-mid", T0)),
        ]);
        const seqs = appended.map((r) => r.seq);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(4);
        expect((await store.recordsOf(a)).map((r) => r.recordId)).toEqual(["a-late", "a-early", "a-mid"]);
        expect(await store.recordsOf(a)).toEqual([appended[0], appended[2], appended[3]]);
        expect(await store.recordsOf(b)).toEqual([appended[1]]);
        expect(await store.recordsOf(Math.max(a, b) + 1000)).toEqual([]);
        expect(await store.countRecords()).toBe(4);
      });

      it("given subjects with and without records, disputes, applications and states, when their inputs are read a page at a time, then each page holds what the per-subject reads return", async () => {
        const a = await subjectWith("A");
        const idle = await subjectWith("IDLE"); // no records: never in a page, even inside the id range
        const b = await subjectWith("B");
        const c = await subjectWith("C");
        await write(async (tx) => {
          await tx.appendRecord(newRecord(a, "court", "a-2", T0 + DAY));
          await tx.appendRecord(newRecord(b, "court", "b-1", T0));
          await tx.appendRecord(newRecord(a, "court", "a-1", T0 - DAY));
          await tx.appendRecord(newRecord(c, "court", "c-1", T0));
          await tx.putState(stateRow(idle, null));
          await tx.putState(stateRow(a, T0 + 9 * DAY));
          await tx.putDispute(dispute(a, "d-late", T0 + 2 * DAY, { recordId: "a-2" }));
          await tx.putDispute(dispute(a, "d-early", T0 + DAY, { recordId: "a-2" }));
          await tx.addApplication({ id: "app-1", subjectId: b, list: "debtors", appliedAt: T0, appliedBy: "subject" });
        });
        const perSubject = async (id: SubjectId) => ({
          subjectId: id,
          records: await store.recordsOf(id),
          disputes: await store.disputesOf(id),
          applications: await store.applicationsOf(id),
          state: await store.getState(id),
        });

        const page1 = await store.subjectsWithRecords(0, 2);
        expect(page1).toEqual([a, b]);
        const first = await store.evaluationInputs(page1);
        expect(first).toEqual([await perSubject(a), await perSubject(b)]);
        expect(first[0]?.disputes.map((d) => d.id)).toEqual(["d-early", "d-late"]);
        expect(first[0]?.state?.nextChangeAt).toBe(T0 + 9 * DAY);
        expect(first[1]?.state).toBeUndefined();
        expect(first[1]?.applications.map((x) => x.id)).toEqual(["app-1"]);
        const page2 = await store.subjectsWithRecords(b, 2);
        expect(page2).toEqual([c]);
        expect(await store.evaluationInputs(page2)).toEqual([await perSubject(c)]);
        expect(await store.subjectsWithRecords(c, 2)).toEqual([]);
        expect(await store.evaluationInputs([])).toEqual([]);
        // the same read inside a transaction
        expect(await write((tx) => tx.evaluationInputs(page1))).toEqual(first);
      });

      it("given a stored (source, record id), when a record with the same pair is appended, then it throws and the stored one is unchanged", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        const first = await write((tx) => tx.appendRecord(newRecord(a, "court", "r1", T0)));
        await expect(write((tx) => tx.appendRecord({ ...newRecord(b, "court", "r1", T0 + DAY), hash: "different" }))).rejects.toThrow();
        expect(await store.findRecord("court", "r1")).toEqual(first);
        expect(await store.recordsOf(b)).toEqual([]);
        expect(await store.countRecords()).toBe(1);
      });

      it("given a body with unicode and a large payload, when found, then it is byte-for-byte the same", async () => {
        const s = await subjectWith("X1");
        const body = JSON.stringify({ note: "债务人 — «ok» \u{1F600}", pad: "x".repeat(100_000) });
        await write((tx) => tx.appendRecord({ ...newRecord(s, "court", "big", T0), body }));
        expect((await store.findRecord("court", "big"))?.body).toBe(body);
      });
    });

    // ------------------------------------------------------------ many rows at once (batched ingest)
    describe("many rows at once (batched ingest)", () => {
      it("given stored and unknown keys, some asked twice, when records and quarantine entries are found in bulk, then each stored one comes once, as the one-row reads return it", async () => {
        const a = await subjectWith("A");
        const r1 = await write((tx) => tx.appendRecord(newRecord(a, "court", "r1", T0)));
        const r2 = await write((tx) => tx.appendRecord(newRecord(a, "airline", "r1", T0 + DAY)));
        const q1 = await write((tx) => tx.quarantine(newQuarantine("court", "q1", passport("P1"), T0)));
        const keys = [
          { source: "court", recordId: "r1" },
          { source: "court", recordId: "r1" },
          { source: "airline", recordId: "r1" },
          { source: "court", recordId: "nope" },
          { source: "court", recordId: "q1" },
        ];
        const byKey = (x: { source: string; recordId: string }) => `${x.source}/${x.recordId}`;
        expect((await store.findRecords(keys)).sort((x, y) => (byKey(x) < byKey(y) ? -1 : 1))).toEqual([r2, r1]);
        expect(await store.findQuarantinedAll(keys)).toEqual([await store.findQuarantined("court", "q1")]);
        expect((await store.findQuarantinedAll(keys))[0]?.seq).toBe(q1.seq);
        expect(await store.findRecords([])).toEqual([]);
        expect(await store.findQuarantinedAll([])).toEqual([]);
        // the same reads inside a transaction see its own writes
        const inTx = await write(async (tx) => {
          await tx.appendRecord(newRecord(a, "court", "r3", T0));
          return tx.findRecords([{ source: "court", recordId: "r3" }]);
        });
        expect(inTx.map((r) => r.recordId)).toEqual(["r3"]);
      });

      it("given subjects created in bulk, when identifiers are linked in bulk, then they resolve in bulk and per subject, in order; one naming another subject links none", async () => {
        const ids = await write((tx) => tx.createSubjects(3, T0));
        expect(ids).toHaveLength(3);
        expect([...ids].sort((x, y) => x - y)).toEqual(ids);
        expect(new Set(ids).size).toBe(3);
        for (const id of ids) expect(await store.subjectExists(id)).toBe(true);
        expect(await write((tx) => tx.createSubjects(0, T0))).toEqual([]);
        const next = await write((tx) => tx.createSubject(T0));
        expect(next).toBeGreaterThan(ids[2] as number);
        const [a, b, c] = ids as [number, number, number];
        await write((tx) =>
          tx.linkAll(
            [
              { ...nid("B"), subjectId: b },
              { ...nid("A"), subjectId: a },
              { ...passport("PA"), subjectId: a },
            ],
            T0,
          ),
        );
        expect(await store.resolve(nid("A"))).toBe(a);
        expect(await store.identifiersOf(a)).toEqual([nid("A"), passport("PA")]);
        const resolved = await store.resolveAll([nid("A"), nid("A"), nid("B"), nid("NOPE")]);
        expect(resolved.sort((x, y) => x.subjectId - y.subjectId)).toEqual([
          { ...nid("A"), subjectId: a },
          { ...nid("B"), subjectId: b },
        ]);
        expect(await store.resolveAll([])).toEqual([]);
        expect(await store.identifiersOfAll([c, b, a, b])).toEqual([
          { ...nid("A"), subjectId: a },
          { ...passport("PA"), subjectId: a },
          { ...nid("B"), subjectId: b },
        ]);
        expect(await store.identifiersOfAll([])).toEqual([]);
        // linking again to the same subject is nothing; to another, a conflict that links none of the call's identifiers
        await write((tx) => tx.linkAll([{ ...nid("A"), subjectId: a }], T0));
        const err = await write((tx) => tx.linkAll([{ ...nid("C"), subjectId: c }, { ...nid("A"), subjectId: c }], T0).then(() => undefined, (e: unknown) => e));
        expect(err).toBeInstanceOf(StandingError);
        expect((err as StandingError).code).toBe("identifier-conflict");
        expect(await store.resolve(nid("C"))).toBeUndefined();
        expect(await store.resolve(nid("A"))).toBe(a);
        expect((await store.journal.verify({})).ok).toBe(true);
      });

      it("given records and quarantine entries written in bulk, when read back, then each is as given, with ascending seqs in the order given", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        const input = [newRecord(a, "court", "x2", T0 + DAY), newRecord(b, "court", "x1", T0), newRecord(a, "court", "x3", T0 - DAY, "x2"), { ...newRecord(a, "airline", "u", T0), body: JSON.stringify({ note: "债务人 \"quoted\" \\ {a,b} NULL" }) }];
        const rows = await write((tx) => tx.appendRecords(input));
        expect(rows.map(({ seq: _seq, ...r }) => r)).toEqual(input);
        const seqs = rows.map((r) => r.seq);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(4);
        for (const r of rows) expect(await store.findRecord(r.source, r.recordId)).toEqual(r);
        expect((await store.recordsOf(a)).map((r) => r.recordId)).toEqual(["x2", "x3", "u"]);
        expect(await write((tx) => tx.appendRecords([]))).toEqual([]);
        const qs = [newQuarantine("court", "q2", passport("P2"), T0), newQuarantine("court", "q1", passport("P1"), T0 + MIN)];
        const kept = await write((tx) => tx.quarantineAll(qs));
        expect(kept.map(({ seq: _seq, ...q }) => q)).toEqual(qs.map((q) => ({ ...q, releasedAt: null })));
        expect((kept[0]?.seq as number) < (kept[1]?.seq as number)).toBe(true);
        for (const q of kept) expect(await store.findQuarantined(q.source, q.recordId)).toEqual(q);
        expect(await write((tx) => tx.quarantineAll([]))).toEqual([]);
        // a pair already stored throws, and the call's other rows are not kept
        await expect(write((tx) => tx.appendRecords([newRecord(b, "court", "x4", T0), newRecord(b, "court", "x1", T0)]))).rejects.toThrow();
        expect(await store.findRecord("court", "x4")).toBeUndefined();
      });

      it("given states and notices written in bulk, new and replacing, when read back, then each is as putState and addNotice would leave it, and the journal verifies", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        await putStateFor(a, T0 + DAY);
        await write((tx) => tx.putStates([stateRow(a, null, [denyMeasure]), stateRow(b, T0 + 2 * DAY)]));
        expect(await store.getState(a)).toEqual(stateRow(a, null, [denyMeasure]));
        expect(await store.getState(b)).toEqual(stateRow(b, T0 + 2 * DAY));
        expect((await allWithMeasures()).map((x) => x.subjectId)).toEqual([a]);
        expect(await store.dueSubjects(T0 + 3 * DAY, 10)).toEqual([b]);
        await write((tx) => tx.putStates([]));
        const added = await write((tx) => tx.addNotices([notice(a, "n1", T0), notice(b, "n2", T0 + MIN)]));
        expect(added).toBe(2);
        expect(await write((tx) => tx.addNotices([notice(a, "n1", T0), notice(a, "n3", T0 + 2 * MIN)]))).toBe(1);
        expect(await write((tx) => tx.addNotices([]))).toBe(0);
        expect(await store.noticesOf(a)).toEqual([notice(a, "n1", T0), notice(a, "n3", T0 + 2 * MIN)]);
        expect((await store.outboxOf("n2"))?.nextAttemptAt).toBe(T0 + MIN);
        expect((await store.dueOutbox(T0 + DAY, 10)).map((o) => o.noticeId)).toEqual(["n1", "n2", "n3"]);
        const r = await store.journal.verify({});
        expect(r.problems).toEqual([]);
        expect(r.ok).toBe(true);
      });

      it("given scattered subjects (far apart ids), when their inputs are read as one page, then each holds what the per-subject reads return, and those between are not in it", async () => {
        const ids = await write((tx) => tx.createSubjects(300, T0));
        const pick = [ids[0], ids[150], ids[299]] as number[];
        await write(async (tx) => {
          for (const id of ids) await tx.appendRecord(newRecord(id, "court", `r-${id}`, T0));
          await tx.putState(stateRow(pick[1] as number, null));
          await tx.putDispute(dispute(pick[2] as number, "d1", T0, { recordId: `r-${pick[2]}` }));
        });
        const page = await store.evaluationInputs(pick);
        expect(page.map((p) => p.subjectId)).toEqual(pick);
        for (const p of page) {
          expect(p.records).toEqual(await store.recordsOf(p.subjectId));
          expect(p.disputes).toEqual(await store.disputesOf(p.subjectId));
          expect(p.state).toEqual(await store.getState(p.subjectId));
        }
      });
    });

    // ------------------------------------------------------------ quarantine

    describe("quarantine", () => {
      it("given a quarantined record, when found by source and id, then every field comes back, not yet released", async () => {
        const input = newQuarantine("airline", "q1", passport("P1"), T0);
        const row = await write((tx) => tx.quarantine(input));
        expect(row).toEqual({ ...input, seq: row.seq, releasedAt: null });
        expect(await store.findQuarantined("airline", "q1")).toEqual(row);
        expect(await store.findQuarantined("airline", "q2")).toBeUndefined();
        expect(await store.findQuarantined("court", "q1")).toBeUndefined();
      });

      it("given records quarantined for several identifiers, when asked for one identifier, then only its own come back, in arrival order", async () => {
        const [q1, q3] = await write(async (tx) => {
          const q1 = await tx.quarantine(newQuarantine("airline", "q1", passport("P1"), T0));
          await tx.quarantine(newQuarantine("airline", "q2", passport("P2"), T0 + 1));
          const q3 = await tx.quarantine(newQuarantine("court", "q3", passport("P1"), T0 + 2));
          await tx.quarantine(newQuarantine("court", "q4", nid("P1"), T0 + 3)); // same value, other scheme
          return [q1, q3];
        });
        expect(await store.quarantinedFor(passport("P1"))).toEqual([q1, q3]);
        expect(await store.quarantinedFor(passport("P9"))).toEqual([]);
      });

      it("given quarantined records, when listed with a limit, then the oldest open ones come first and no more than the limit", async () => {
        const rows = await write(async (tx) => {
          const out = [];
          for (const [i, id] of ["q1", "q2", "q3", "q4"].entries()) out.push(await tx.quarantine(newQuarantine("airline", id, passport(`P${i}`), T0 + i)));
          return out;
        });
        expect(await store.listQuarantine(10)).toEqual(rows);
        expect(await store.listQuarantine(2)).toEqual(rows.slice(0, 2));
      });

      it("given a released record, when the quarantine is read, then it is kept and marked released, and no longer listed as open", async () => {
        const q1 = await write((tx) => tx.quarantine(newQuarantine("airline", "q1", passport("P1"), T0)));
        const q2 = await write((tx) => tx.quarantine(newQuarantine("airline", "q2", passport("P1"), T0 + 1)));
        await write((tx) => tx.releaseQuarantined(q1.seq, T0 + DAY));
        expect(await store.findQuarantined("airline", "q1")).toEqual({ ...q1, releasedAt: T0 + DAY });
        expect(await store.quarantinedFor(passport("P1"))).toEqual([q2]);
        expect(await store.listQuarantine(10)).toEqual([q2]);
        await write((tx) => tx.releaseQuarantined(q2.seq, T0 + 2 * DAY));
        expect(await store.quarantinedFor(passport("P1"))).toEqual([]);
        expect(await store.listQuarantine(10)).toEqual([]);
        expect((await store.findQuarantined("airline", "q2"))?.releasedAt).toBe(T0 + 2 * DAY);
      });

      it("given a record released already, when released again later, then it keeps the first release time", async () => {
        const q1 = await write((tx) => tx.quarantine(newQuarantine("airline", "q1", passport("P1"), T0)));
        await write((tx) => tx.releaseQuarantined(q1.seq, T0 + DAY));
        await write((tx) => tx.releaseQuarantined(q1.seq, T0 + 5 * DAY));
        expect((await store.findQuarantined("airline", "q1"))?.releasedAt).toBe(T0 + DAY);
      });
    });

    // ------------------------------------------------------------ derived state

    describe("derived state", () => {
      it("given no state stored, when read, then it is undefined", async () => {
        const s = await subjectWith("X1");
        expect(await store.getState(s)).toBeUndefined();
      });

      it("given a stored state, when read back, then it round-trips exactly; a second put replaces it", async () => {
        const s = await subjectWith("X1");
        const first = { subjectId: s, policyRef: "contract@1", evaluatedAt: T0, nextChangeAt: T0 + 7 * DAY, state: state({ at: T0, score: 900, measures: [denyMeasure], nextChangeAt: T0 + 7 * DAY }) };
        await write((tx) => tx.putState(first));
        expect(await store.getState(s)).toEqual(first);
        const second = { subjectId: s, policyRef: "contract@2", evaluatedAt: T0 + DAY, nextChangeAt: null, state: state({ at: T0 + DAY, score: 1000 }) };
        await write((tx) => tx.putState(second));
        expect(await store.getState(s)).toEqual(second);
      });

      it("given a state stored as JSON text, when read back, then it is the same state and it is due and indexed like any other", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        const st = state({ at: T0, nextChangeAt: T0 + DAY, measures: [] });
        const withMeasure = state({ at: T0, nextChangeAt: null, measures: [denyMeasure] });
        await write(async (tx) => {
          await tx.putStateText({ subjectId: a, policyRef: "contract@1", evaluatedAt: T0, nextChangeAt: T0 + DAY, hasMeasures: false, json: JSON.stringify(st) });
          await tx.putStateText({ subjectId: b, policyRef: "contract@1", evaluatedAt: T0, nextChangeAt: null, hasMeasures: true, json: JSON.stringify(withMeasure) });
        });
        expect(await store.getState(a)).toEqual({ subjectId: a, policyRef: "contract@1", evaluatedAt: T0, nextChangeAt: T0 + DAY, state: st });
        expect(await store.dueSubjects(T0 + DAY, 10)).toEqual([a]);
        expect(await store.statesWithMeasures(0, 10)).toEqual([{ subjectId: b, identifiers: [nid("B")], state: withMeasure }]);
      });

      it("given states with various next changes, when asked what is due at an instant, then those at or before it come back, earliest first, within the limit", async () => {
        const [a, b, c, d, e] = [await subjectWith("A"), await subjectWith("B"), await subjectWith("C"), await subjectWith("D"), await subjectWith("E")];
        await putStateFor(a, T0 + 3 * DAY);
        await putStateFor(b, T0 + 1 * DAY);
        await putStateFor(c, null);
        await putStateFor(d, T0 + 2 * DAY);
        await putStateFor(e, T0 + 9 * DAY);
        expect(await store.dueSubjects(T0, 10)).toEqual([]);
        expect(await store.dueSubjects(T0 + DAY - 1, 10)).toEqual([]);
        expect(await store.dueSubjects(T0 + DAY, 10)).toEqual([b]); // exactly at the instant counts
        expect(await store.dueSubjects(T0 + 3 * DAY, 10)).toEqual([b, d, a]);
        expect(await store.dueSubjects(T0 + 3 * DAY, 2)).toEqual([b, d]);
        expect(await store.dueSubjects(T0 + 100 * DAY, 10)).toEqual([b, d, a, e]);
      });

      it("given a due subject whose state is replaced with a later change, when asked again, then it is no longer due", async () => {
        const a = await subjectWith("A");
        await putStateFor(a, T0 + DAY);
        expect(await store.dueSubjects(T0 + DAY, 10)).toEqual([a]);
        await putStateFor(a, T0 + 5 * DAY);
        expect(await store.dueSubjects(T0 + DAY, 10)).toEqual([]);
        await putStateFor(a, null);
        expect(await store.dueSubjects(T0 + 100 * DAY, 10)).toEqual([]);
      });

      it("given no states, when the earliest change is asked, then it is null; otherwise the minimum, ignoring states that never change", async () => {
        expect(await store.earliestChange()).toBeNull();
        const [a, b, c] = [await subjectWith("A"), await subjectWith("B"), await subjectWith("C")];
        await putStateFor(a, null);
        expect(await store.earliestChange()).toBeNull();
        await putStateFor(b, T0 + 4 * DAY);
        await putStateFor(c, T0 + 2 * DAY);
        expect(await store.earliestChange()).toBe(T0 + 2 * DAY);
        await putStateFor(c, null);
        expect(await store.earliestChange()).toBe(T0 + 4 * DAY);
      });

      it("given states with and without measures, when states with measures are listed, then only those come back, with their identifiers and state", async () => {
        const [a, b, c] = [await subjectWith("A"), await subjectWith("B"), await subjectWith("C")];
        await write((tx) => tx.link(c, passport("PC"), T0));
        await putStateFor(a, null, [denyMeasure]);
        await putStateFor(b, null, []);
        await putStateFor(c, T0 + DAY, [denyMeasure, { ...denyMeasure, measure: "no-property-debtor", context: "property-purchase" }]);
        const listed = await store.statesWithMeasures(0, 100);
        expect(listed.map((x) => x.subjectId)).toEqual([a, c]);
        expect(listed[0]?.state).toEqual((await store.getState(a))?.state);
        expect(listed[0]?.identifiers).toEqual([nid("A")]);
        expect(listed[1]?.identifiers).toEqual([nid("C"), passport("PC")]);
        expect(listed[1]?.state.measures.map((m) => m.measure)).toEqual(["no-flights-debtor", "no-property-debtor"]);
        // a subject whose measures end leaves the set
        await putStateFor(a, null, []);
        expect((await store.statesWithMeasures(0, 100)).map((x) => x.subjectId)).toEqual([c]);
      });

      it("given many states with measures, when paged, then each comes once, in subject order, after the given id", async () => {
        const ids: SubjectId[] = [];
        for (let i = 0; i < 7; i++) ids.push(await subjectWith(`M${i}`));
        for (const [i, s] of ids.entries()) await putStateFor(s, null, i % 3 === 1 ? [] : [denyMeasure]);
        const expected = ids.filter((_, i) => i % 3 !== 1);
        expect((await allWithMeasures(2)).map((x) => x.subjectId)).toEqual(expected);
        expect((await allWithMeasures(100)).map((x) => x.subjectId)).toEqual(expected);
        expect((await store.statesWithMeasures(ids[3] as number, 100)).map((x) => x.subjectId)).toEqual(expected.filter((s) => s > (ids[3] as number)));
        expect((await allWithMeasures(1)).map((x) => x.identifiers)).toEqual(expected.map((s) => [nid(`M${ids.indexOf(s)}`)]));
      });

      it("given states with lists and measures, when counted for the statistics, then lists count members and measures count active and pending", async () => {
        const member = (list: string, effect: "restrict" | "privilege"): ListMembership => ({ list, effect, since: null, until: null, because: [] });
        const [a, b, c] = [await subjectWith("A"), await subjectWith("B"), await subjectWith("C")];
        const active: MeasureState = { ...denyMeasure, status: "active" };
        const perk: MeasureState = { ...denyMeasure, measure: "fast-lane", context: "air-travel", effect: "privilege", code: "FAST", status: "active", lists: ["volunteers"] };
        await putStateFor(a, null, [denyMeasure], [member("judgment-defaulters", "restrict")]);
        await putStateFor(b, null, [active], [member("judgment-defaulters", "restrict")]);
        await putStateFor(c, null, [perk], [member("volunteers", "privilege")]);
        expect(await store.listCounts()).toEqual([
          { list: "judgment-defaulters", effect: "restrict", members: 2 },
          { list: "volunteers", effect: "privilege", members: 1 },
        ]);
        expect(await store.measureCounts()).toEqual([
          { context: "air-travel", measure: "fast-lane", effect: "privilege", active: 1, pending: 0 },
          { context: "air-travel", measure: "no-flights-debtor", effect: "deny", active: 1, pending: 1 },
        ]);
      });
    });

    // ------------------------------------------------------------ subjects with records

    describe("subjects with records", () => {
      it("given subjects with and without records, when paged, then only those with records come back once each, in id order, after the given id", async () => {
        const ids: SubjectId[] = [];
        for (let i = 0; i < 7; i++) ids.push(await subjectWith(`S${i}`));
        // records for subjects 0, 2, 3, 5, 6 (several for some); none for 1 and 4
        const withRecords = [0, 2, 3, 5, 6].map((i) => ids[i] as number);
        await write(async (tx) => {
          let n = 0;
          for (const s of [ids[6], ids[0], ids[3], ids[0], ids[2], ids[5], ids[6], ids[6]] as number[]) {
            await tx.appendRecord(newRecord(s, "court", `r${n++}`, T0 + n));
          }
        });
        expect(await store.countSubjectsWithRecords()).toBe(5);
        expect(await store.subjectsWithRecords(0, 100)).toEqual(withRecords);
        // page through two at a time, as re-evaluation does
        const paged: number[] = [];
        let after = 0;
        for (let pages = 0; pages < 10; pages++) {
          const page = await store.subjectsWithRecords(after, 2);
          expect(page.length).toBeLessThanOrEqual(2);
          if (page.length === 0) break;
          paged.push(...page);
          after = page[page.length - 1] as number;
        }
        expect(paged).toEqual(withRecords); // 3 pages of at most 2, then an empty one
        expect(await store.subjectsWithRecords(ids[3] as number, 100)).toEqual([ids[5], ids[6]]);
        expect(await store.subjectsWithRecords(ids[6] as number, 100)).toEqual([]);
      });

      it("given a subject without records, when counted and paged, then no subject has records", async () => {
        await subjectWith("lonely");
        expect(await store.countSubjectsWithRecords()).toBe(0);
        expect(await store.subjectsWithRecords(0, 10)).toEqual([]);
      });
    });

    // ------------------------------------------------------------ due process

    describe("disputes", () => {
      it("given a dispute, when read back, then every field round-trips; disputes of a subject come in the order they were opened", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        const late = dispute(a, "d-2", T0 + 2 * DAY, { evidence: "receipt://1", suspend: true });
        const early = dispute(a, "d-1", T0 + DAY);
        const other = dispute(b, "d-3", T0);
        await write(async (tx) => {
          await tx.putDispute(late);
          await tx.putDispute(early);
          await tx.putDispute(other);
        });
        expect(await store.getDispute("d-2")).toEqual(late);
        expect(await store.getDispute("nope")).toBeUndefined();
        expect(await store.disputesOf(a)).toEqual([early, late]);
        expect(await store.disputesOf(b)).toEqual([other]);
        expect(await store.disputesOf(Math.max(a, b) + 1000)).toEqual([]);
      });

      it("given an open dispute, when it is put again answered and then closed, then the stored row follows each step", async () => {
        const a = await subjectWith("A");
        const open = dispute(a, "d-1", T0);
        await write((tx) => tx.putDispute(open));
        const answered: DisputeRow = { ...open, answerNote: "the court confirms", answeredAt: T0 + DAY };
        await write((tx) => tx.putDispute(answered));
        expect(await store.getDispute("d-1")).toEqual(answered);
        const closed: DisputeRow = { ...answered, status: "upheld", decidedBy: "reviewer-1", reason: "paid in full", closedAt: T0 + 2 * DAY, counts: false };
        await write((tx) => tx.putDispute(closed));
        expect(await store.getDispute("d-1")).toEqual(closed);
        expect(await store.disputesOf(a)).toEqual([closed]);
        const confirmed: DisputeRow = { ...dispute(a, "d-2", T0 + 3 * DAY), status: "confirmed", closedAt: T0 + 4 * DAY, counts: true };
        await write((tx) => tx.putDispute(confirmed));
        expect((await store.getDispute("d-2"))?.counts).toBe(true);
      });

      it("given disputes of several statuses and sources, when listed with a filter, then only matches come, earliest deadline first, within the limit", async () => {
        const a = await subjectWith("A");
        await write(async (tx) => {
          await tx.putDispute(dispute(a, "d-1", T0, { deadlineAt: T0 + 9 * DAY }));
          await tx.putDispute(dispute(a, "d-2", T0, { deadlineAt: T0 + 3 * DAY, source: "airline" }));
          await tx.putDispute(dispute(a, "d-3", T0, { deadlineAt: T0 + 5 * DAY, status: "upheld", closedAt: T0 + DAY, counts: false }));
          await tx.putDispute(dispute(a, "d-4", T0, { deadlineAt: T0 + 1 * DAY }));
        });
        const ids = async (filter: Parameters<Store["listDisputes"]>[0]) => (await store.listDisputes(filter)).map((d) => d.id);
        expect(await ids({ limit: 10 })).toEqual(["d-4", "d-2", "d-3", "d-1"]);
        expect(await ids({ status: "open", limit: 10 })).toEqual(["d-4", "d-2", "d-1"]);
        expect(await ids({ status: "open", limit: 2 })).toEqual(["d-4", "d-2"]);
        expect(await ids({ source: "airline", limit: 10 })).toEqual(["d-2"]);
        expect(await ids({ status: "upheld", source: "court", limit: 10 })).toEqual(["d-3"]);
        expect(await ids({ status: "withdrawn", limit: 10 })).toEqual([]);
      });

      it("given open and closed disputes, when asked which have expired at an instant, then the open ones whose deadline is at or before it, earliest first", async () => {
        const a = await subjectWith("A");
        await write(async (tx) => {
          await tx.putDispute(dispute(a, "d-1", T0, { deadlineAt: T0 + 5 * DAY }));
          await tx.putDispute(dispute(a, "d-2", T0, { deadlineAt: T0 + 2 * DAY }));
          await tx.putDispute(dispute(a, "d-3", T0, { deadlineAt: T0 + DAY, status: "withdrawn", closedAt: T0, counts: false }));
          await tx.putDispute(dispute(a, "d-4", T0, { deadlineAt: T0 + 9 * DAY }));
        });
        expect(await store.expiredDisputes(T0 + DAY)).toEqual([]);
        expect((await store.expiredDisputes(T0 + 2 * DAY)).map((d) => d.id)).toEqual(["d-2"]); // exactly at the deadline counts
        expect((await store.expiredDisputes(T0 + 5 * DAY)).map((d) => d.id)).toEqual(["d-2", "d-1"]);
        await write(async (tx) => tx.putDispute({ ...((await tx.getDispute("d-2")) as DisputeRow), status: "expired", closedAt: T0 + 2 * DAY, counts: true }));
        expect((await store.expiredDisputes(T0 + 5 * DAY)).map((d) => d.id)).toEqual(["d-1"]);
      });
    });

    describe("applications", () => {
      it("given applications, when listed for a subject, then only its own come back, in the order they were made", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        const app = (id: string, subjectId: SubjectId, appliedAt: number, list = "debtors"): ApplicationRow => ({ id, subjectId, list, appliedAt, appliedBy: "subject" });
        await write(async (tx) => {
          await tx.addApplication(app("app-2", a, T0 + DAY, "late-payers"));
          await tx.addApplication(app("app-1", a, T0));
          await tx.addApplication(app("app-3", b, T0));
        });
        expect(await store.applicationsOf(a)).toEqual([app("app-1", a, T0), app("app-2", a, T0 + DAY, "late-payers")]);
        expect(await store.applicationsOf(b)).toEqual([app("app-3", b, T0)]);
        expect(await store.applicationsOf(Math.max(a, b) + 1000)).toEqual([]);
      });

      it("given an application id used already, when added again, then it throws and the first is kept", async () => {
        const a = await subjectWith("A");
        await write((tx) => tx.addApplication({ id: "app-1", subjectId: a, list: "debtors", appliedAt: T0, appliedBy: "subject" }));
        await expect(write((tx) => tx.addApplication({ id: "app-1", subjectId: a, list: "other", appliedAt: T0 + 1, appliedBy: "subject" }))).rejects.toThrow();
        expect((await store.applicationsOf(a)).map((x) => x.list)).toEqual(["debtors"]);
      });
    });

    describe("notices and their outbox", () => {
      it("given a notice, when added, then it is stored whole with an outbox entry due at once; adding it again changes nothing", async () => {
        const a = await subjectWith("A");
        const n1 = notice(a, "n-1", T0);
        expect(await write((tx) => tx.addNotice(n1))).toBe(true);
        expect(await write((tx) => tx.addNotice({ ...n1, body: "{}", createdAt: T0 + DAY }))).toBe(false);
        expect(await store.getNotice("n-1")).toEqual(n1);
        expect(await store.getNotice("nope")).toBeUndefined();
        expect(await store.outboxOf("n-1")).toEqual({ noticeId: "n-1", attempts: 0, nextAttemptAt: T0, deliveredAt: null, lastError: null });
        expect(await store.outboxOf("nope")).toBeUndefined();
        expect(await store.noticeTimes()).toEqual([T0]);
      });

      it("given notices for two subjects, when listed per subject, then each gets its own in the order they were created", async () => {
        const a = await subjectWith("A");
        const b = await subjectWith("B");
        await write(async (tx) => {
          await tx.addNotice(notice(a, "n-2", T0 + DAY));
          await tx.addNotice(notice(b, "n-3", T0));
          await tx.addNotice(notice(a, "n-1", T0));
        });
        expect((await store.noticesOf(a)).map((x) => x.id)).toEqual(["n-1", "n-2"]);
        expect(await store.noticesOf(b)).toEqual([notice(b, "n-3", T0)]);
        expect([...(await store.noticeTimes())].sort((x, y) => x - y)).toEqual([T0, T0, T0 + DAY]);
      });

      it("given notices in the outbox, when due ones are asked for, then undelivered ones due at or before the instant come, earliest first, within the limit", async () => {
        const a = await subjectWith("A");
        await write(async (tx) => {
          await tx.addNotice(notice(a, "n-3", T0 + 3 * DAY));
          await tx.addNotice(notice(a, "n-1", T0 + DAY));
          await tx.addNotice(notice(a, "n-2", T0 + 2 * DAY));
        });
        expect(await store.dueOutbox(T0, 10)).toEqual([]);
        expect((await store.dueOutbox(T0 + DAY, 10)).map((o) => o.noticeId)).toEqual(["n-1"]);
        expect((await store.dueOutbox(T0 + 3 * DAY, 10)).map((o) => o.noticeId)).toEqual(["n-1", "n-2", "n-3"]);
        expect((await store.dueOutbox(T0 + 3 * DAY, 2)).map((o) => o.noticeId)).toEqual(["n-1", "n-2"]);
      });

      it("given a failed delivery, when marked, then the attempt and error are kept and it is due again later; once delivered it is never due again", async () => {
        const a = await subjectWith("A");
        await write((tx) => tx.addNotice(notice(a, "n-1", T0)));
        await write((tx) => tx.markFailed("n-1", "smtp: 451 try later", T0 + 10 * MIN));
        expect(await store.outboxOf("n-1")).toEqual({ noticeId: "n-1", attempts: 1, nextAttemptAt: T0 + 10 * MIN, deliveredAt: null, lastError: "smtp: 451 try later" });
        expect(await store.dueOutbox(T0 + MIN, 10)).toEqual([]);
        expect((await store.dueOutbox(T0 + 10 * MIN, 10)).map((o) => o.noticeId)).toEqual(["n-1"]);
        await write((tx) => tx.markDelivered("n-1", T0 + 11 * MIN));
        expect(await store.outboxOf("n-1")).toMatchObject({ attempts: 2, deliveredAt: T0 + 11 * MIN, lastError: null });
        expect(await store.dueOutbox(T0 + 100 * DAY, 10)).toEqual([]);
        // a late report of another attempt changes nothing once delivered
        await write((tx) => tx.markDelivered("n-1", T0 + DAY));
        await write((tx) => tx.markFailed("n-1", "late", T0 + 2 * DAY));
        expect(await store.outboxOf("n-1")).toMatchObject({ attempts: 2, deliveredAt: T0 + 11 * MIN, lastError: null });
      });

      it("given channels that delivered a notice, when recorded (twice for one), then each is listed once, in name order, and only for that notice", async () => {
        const a = await subjectWith("A");
        await write(async (tx) => {
          await tx.addNotice(notice(a, "n-1", T0));
          await tx.addNotice(notice(a, "n-2", T0));
        });
        expect(await store.deliveredChannels("n-1")).toEqual([]);
        await write((tx) => tx.markChannelDelivered("n-1", "webhook", T0 + MIN));
        await write((tx) => tx.markChannelDelivered("n-1", "log", T0));
        await write((tx) => tx.markChannelDelivered("n-1", "log", T0 + DAY));
        expect(await store.deliveredChannels("n-1")).toEqual(["log", "webhook"]);
        expect(await store.deliveredChannels("n-2")).toEqual([]);
      });
    });

    // ------------------------------------------------------------ keys

    describe("keys", () => {
      it("given keys added, when read by id and listed, then each round-trips, listed oldest first", async () => {
        const holder = await subjectWith("HOLDER");
        const k2 = key("k-2", T0 + DAY, { role: "auditor", source: null, contexts: [] });
        const k1 = key("k-1", T0);
        const k3 = key("k-3", T0 + DAY, { role: "subject", source: null, contexts: [], subjectId: holder });
        await write(async (tx) => {
          await tx.addKey(k2);
          await tx.addKey(k3);
          await tx.addKey(k1);
        });
        expect(await store.keyById("k-1")).toEqual(k1);
        expect(await store.keyById("k-3")).toEqual(k3);
        expect(await store.keyById("nope")).toBeUndefined();
        expect(await store.listKeys()).toEqual([k1, k2, k3]); // by creation, then id
      });

      it("given a key, when revoked, then it says so once, keeps its first revocation time, and an unknown key is not revoked", async () => {
        await write((tx) => tx.addKey(key("k-1", T0)));
        expect(await write((tx) => tx.revokeKey("k-1", T0 + DAY))).toBe(true);
        expect(await write((tx) => tx.revokeKey("k-1", T0 + 2 * DAY))).toBe(false);
        expect(await write((tx) => tx.revokeKey("nope", T0))).toBe(false);
        expect((await store.keyById("k-1"))?.revokedAt).toBe(T0 + DAY);
        expect((await store.listKeys()).map((k) => k.revokedAt)).toEqual([T0 + DAY]);
      });

      it("given a key id in use, when another key with that id is added, then it throws and the first is kept", async () => {
        const k1 = key("k-1", T0);
        await write((tx) => tx.addKey(k1));
        await expect(write((tx) => tx.addKey(key("k-1", T0 + 1, { hash: "other" })))).rejects.toThrow();
        expect(await store.keyById("k-1")).toEqual(k1);
      });
    });

    // ------------------------------------------------------------ the decision log

    describe("decision log", () => {
      it("given batches of decisions, when read about identifiers, then those about any of them come, newest first, within the limit", async () => {
        expect(await store.countDecisions()).toBe(0);
        await store.appendDecisions([decision("d-1", T0, "A1"), decision("d-2", T0 + MIN, "B2", { decision: "deny", codes: ["SPC-DEBTOR", "X"] })]);
        await store.appendDecisions([decision("d-3", T0 + 2 * MIN, "A1", { scheme: "passport" }), decision("d-4", T0 + 3 * MIN, "A1")]);
        await store.appendDecisions([]);
        expect(await store.countDecisions()).toBe(4);
        expect(await store.decisionsAbout([nid("A1")], 10)).toEqual([decision("d-4", T0 + 3 * MIN, "A1"), decision("d-1", T0, "A1")]);
        expect((await store.decisionsAbout([nid("A1"), passport("A1"), nid("B2")], 10)).map((d) => d.id)).toEqual(["d-4", "d-3", "d-2", "d-1"]);
        expect((await store.decisionsAbout([nid("A1"), passport("A1"), nid("B2")], 2)).map((d) => d.id)).toEqual(["d-4", "d-3"]);
        expect(await store.decisionsAbout([nid("B2")], 10)).toEqual([decision("d-2", T0 + MIN, "B2", { decision: "deny", codes: ["SPC-DEBTOR", "X"] })]);
        expect(await store.decisionsAbout([nid("nobody")], 10)).toEqual([]);
        expect(await store.decisionsAbout([], 10)).toEqual([]);
      });

      it("given a batch written already, when it is written again (a retry), then each decision is kept once", async () => {
        const batch = [decision("d-1", T0, "A1"), decision("d-2", T0, "A1")];
        await store.appendDecisions(batch);
        await store.appendDecisions([...batch, decision("d-3", T0, "A1")]);
        expect(await store.countDecisions()).toBe(3);
        expect((await store.decisionsAbout([nid("A1")], 10)).map((d) => d.id)).toEqual(["d-1", "d-2", "d-3"]);
      });

      it("given screenings logged compactly beside single checks, when read about identifiers, then each screened decision about them comes with the checks, newest first, within the limit, and the journal verifies", async () => {
        const screened = (id: string, value: string, over: Partial<ScreenedDecision> = {}): ScreenedDecision => ({ id, scheme: "national-id", value, decision: "allow", codes: [], ...over });
        // 300 identifiers: every bucket has several, so reading one identifier must pick it out of its bucket's lines.
        const many = Array.from({ length: 300 }, (_, i) => screened(`s1-${i}`, `P${i}`));
        await store.appendScreenings([{ id: "s1", at: T0 + MIN, keyId: "k1", askedBy: "checkpoint:Gate", context: "air-travel", decisions: [...many, screened("s1-a", "A1", { decision: "deny", codes: ["SPC-DEBTOR"] })] }]);
        await store.appendDecisions([decision("d-1", T0, "A1"), decision("d-2", T0 + 2 * MIN, "A1")]);
        await store.appendScreenings([{ id: "s2", at: T0 + 3 * MIN, keyId: "k2", askedBy: "checkpoint:Rail", context: "rail-high-speed", decisions: [screened("s2-a", "A1"), screened("s2-b", "B2")] }]);
        await store.appendScreenings([{ id: "s3", at: T0 + 4 * MIN, keyId: "k1", askedBy: "checkpoint:Gate", context: "air-travel", decisions: [] }]);
        const about = await store.decisionsAbout([nid("A1")], 10);
        expect(about.map((d) => d.id)).toEqual(["s2-a", "d-2", "s1-a", "d-1"]);
        expect(about[2]).toEqual({ id: "s1-a", at: T0 + MIN, keyId: "k1", askedBy: "checkpoint:Gate", scheme: "national-id", value: "A1", context: "air-travel", decision: "deny", codes: ["SPC-DEBTOR"] });
        expect(about[0]).toMatchObject({ keyId: "k2", askedBy: "checkpoint:Rail", context: "rail-high-speed", decision: "allow", codes: [] });
        expect((await store.decisionsAbout([nid("A1")], 2)).map((d) => d.id)).toEqual(["s2-a", "d-2"]);
        expect((await store.decisionsAbout([nid("P17")], 10)).map((d) => d.id)).toEqual(["s1-17"]);
        expect(await store.decisionsAbout([nid("P1700")], 10)).toEqual([]);
        // Written again (a retry): nothing twice.
        await store.appendScreenings([{ id: "s2", at: T0 + 3 * MIN, keyId: "k2", askedBy: "checkpoint:Rail", context: "rail-high-speed", decisions: [screened("s2-a", "A1"), screened("s2-b", "B2")] }]);
        expect((await store.decisionsAbout([nid("B2")], 10)).map((d) => d.id)).toEqual(["s2-b"]);
        expect(await store.countDecisions()).toBe(301 + 2 + 2);
        const report = await store.journal.verify({});
        expect(report.problems).toEqual([]);
      });
    });

    describe("checks logged compactly", () => {
      it("given checks of two askers logged in one write, each at its own time, when read about an identifier, then each check keeps its time and asker, the newest come first within the limit, and one journal entry covers the write", async () => {
        const check = (id: string, at: number, value: string, keyId = "k1"): DecisionLogRow => ({ id, at, keyId, askedBy: keyId === "k1" ? "checkpoint:Gate" : "checkpoint:Rail", scheme: "national-id", value, context: "air-travel", decision: "allow", codes: [] });
        const seq0 = (await store.journal.head())?.seq ?? 0;
        // A1's bucket gets a row whose newest line is at T0+10 min and whose oldest is at T0+1 min, and a row of the other asker at T0+9 min.
        const rows = [check("c-1", T0 + MIN, "A1"), check("c-2", T0 + 10 * MIN, "A1"), check("c-3", T0 + 9 * MIN, "A1", "k2"), check("c-4", T0 + 5 * MIN, "B2")];
        await store.appendScreenings(checkBatches(rows, (() => { let n = 0; return () => `w-${++n}`; })()));
        const about = await store.decisionsAbout([nid("A1")], 10);
        expect(about).toEqual([
          { ...(rows[1] as DecisionLogRow) },
          { ...(rows[2] as DecisionLogRow) },
          { ...(rows[0] as DecisionLogRow) },
        ]);
        // The limit takes the newest, though the first row read also holds an older line.
        expect((await store.decisionsAbout([nid("A1")], 2)).map((d) => d.id)).toEqual(["c-2", "c-3"]);
        expect((await store.decisionsAbout([nid("B2")], 1)).map((d) => [d.id, d.at])).toEqual([["c-4", T0 + 5 * MIN]]);
        expect(await store.countDecisions()).toBe(4);
        const entries = (await store.journal.verify({})).problems;
        expect(entries).toEqual([]);
        expect(((await store.journal.head())?.seq ?? 0) - seq0).toBe(1);
      });
    });

    // ------------------------------------------------------------ the journal port

    describe("journal", () => {
      it("gives the Ed25519 key that signs its checkpoints, the same each time, with its fingerprint", () => {
        const k = store.journal.publicKey();
        expect(k.algorithm).toBe("Ed25519");
        const pub = createPublicKey(k.publicKey);
        expect(pub.asymmetricKeyType).toBe("ed25519");
        expect(k.fingerprint).toBe(createHash("sha256").update(pub.export({ type: "spki", format: "der" })).digest("hex"));
        expect(store.journal.publicKey()).toEqual(k);
      });

      it("given an untouched store, when verified, then it is ok", async () => {
        const r = await store.journal.verify({});
        expect(r.problems).toEqual([]);
        expect(r.ok).toBe(true);
        expect(r.omitted).toBe(0);
      });

      it("given committed changes, when verified, then it is ok and counts more entries; a rolled-back transaction adds none", async () => {
        const before = await store.journal.verify({});
        const a = await subjectWith("A");
        await write(async (tx) => {
          await tx.setMeta("k", "v");
          await tx.addKey(key("k-1", T0));
          await tx.journalEvent("record.rejected", { source: "court", id: "x", code: "invalid-record" });
        });
        await store.appendDecisions([decision("d-1", T0, "A")]);
        const after = await store.journal.verify({});
        expect(after.problems).toEqual([]);
        expect(after.ok).toBe(true);
        expect(after.entries).toBeGreaterThanOrEqual(before.entries + 5); // subject, identifier, meta, key, event (+ the decisions)
        expect(after.head?.seq).toBeGreaterThan(before.head?.seq ?? 0);
        await expect(
          write(async (tx) => {
            await tx.link(a, nid("A-2"), T0);
            await tx.journalEvent("record.rejected", { id: "y" });
            throw new Error("abort");
          }),
        ).rejects.toThrow("abort");
        const again = await store.journal.verify({});
        expect(again.ok).toBe(true);
        expect(again.entries).toBe(after.entries);
        expect(again.head).toEqual(after.head);
      });

      it("ends every commit that journals anything with a signed head: head() is the last entry, signed by the journal key", async () => {
        await subjectWith("A");
        await write(async (tx) => tx.journalEvent("record.rejected", { id: "z" }));
        const r = await store.journal.verify({});
        const head = await store.journal.head();
        expect(head?.seq).toBe(r.head?.seq);
        expect(head?.hash).toBe(r.head?.hash);
        expect(r.unsignedTail).toBe(0);
        const k = store.journal.publicKey();
        expect(head?.fingerprint).toBe(k.fingerprint);
        const h = head as { seq: number; hash: string; at: number; prev: number; signature: string };
        expect(h.prev).toBeLessThan(h.seq);
        expect(verify(null, Buffer.from(headPayload(h.seq, h.hash, h.at, h.prev)), createPublicKey(k.publicKey), Buffer.from(h.signature, "base64"))).toBe(true);
        expect(await store.journal.hashAt(h.seq)).toBe(h.hash);
        expect(await store.journal.hashAt(h.seq + 1000)).toBeUndefined();
        await store.appendDecisions([decision("d-9", T0, "A")]);
        expect((await store.journal.head())?.seq).toBe((await store.journal.verify({})).head?.seq);
      });

      it("signs receipts with the journal key", () => {
        const signer = store.journal.signer();
        const key = store.journal.publicKey();
        expect(signer.fingerprint).toBe(key.fingerprint);
        const bytes = Buffer.from("receipt bytes");
        expect(verify(null, bytes, createPublicKey(key.publicKey), Buffer.from(signer.sign(bytes), "base64"))).toBe(true);
      });

      it.skipIf(capabilities.keyRotation)("refuses to rotate its key where it cannot yet, and keeps signing with the one it has", async () => {
        const before = store.journal.publicKey();
        await expect(store.journal.rotateKey()).rejects.toBeInstanceOf(StandingError);
        await subjectWith("A");
        expect((await store.journal.head())?.fingerprint).toBe(before.fingerprint);
        expect((await store.journal.verify({ publicKey: before.publicKey })).ok).toBe(true);
      });

      it.skipIf(!capabilities.keyRotation)("rotates its key in a journaled event the old key endorses", async () => {
        const before = store.journal.publicKey();
        await subjectWith("A");
        const r = await store.journal.rotateKey();
        expect(r.from).toBe(before.fingerprint);
        expect(r.to).not.toBe(before.fingerprint);
        expect(store.journal.publicKey().fingerprint).toBe(r.to);
        await subjectWith("B");
        expect((await store.journal.head())?.fingerprint).toBe(r.to);
        const v = await store.journal.verify({ publicKey: before.publicKey });
        expect(v.problems).toEqual([]);
        expect(v.ok).toBe(true);
      });

      it("given a replayer and no stored state, when verified, then the replay runs over nothing and is ok", async () => {
        await subjectWith("A");
        const r = await store.journal.verify({ replay: { replay: () => { throw new Error("nothing to replay"); } } });
        expect(r.ok).toBe(true);
        expect(r.states).toEqual({ checked: 0, replayed: true });
      });
    });

    // ------------------------------------------------------------ the change feed

    describe("change feed", () => {
      it("given an empty store, when read, then the feed is empty at position 0", async () => {
        expect(await store.lastChange()).toBe(0);
        expect(await store.changesSince(0, 10)).toEqual([]);
      });

      it("given events emitted in a transaction, when it commits, then they are visible in order with the store's origin", async () => {
        const before = Date.now();
        await write(async (tx) => {
          await tx.emit({ kind: "subject", ref: "7" });
          await tx.emit({ kind: "policy", ref: "contract@1" });
          await tx.emit({ kind: "key", ref: "k-1" });
        });
        const changes = await store.changesSince(0, 10);
        expect(changes.map((c) => [c.kind, c.ref, c.origin])).toEqual([
          ["subject", "7", store.origin],
          ["policy", "contract@1", store.origin],
          ["key", "k-1", store.origin],
        ]);
        const seqs = changes.map((c) => c.seq);
        expect(seqs.every((s) => Number.isInteger(s) && s > 0)).toBe(true);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(3);
        for (const c of changes) expect(c.at).toBeGreaterThanOrEqual(before - 1000);
        expect(await store.lastChange()).toBe(seqs[2]);
        expect(typeof store.origin).toBe("string");
        expect(store.origin.length).toBeGreaterThan(0);
      });

      it("given events from several transactions, when read from a position with a limit, then they come after it, in commit order, at most the limit", async () => {
        for (let i = 1; i <= 5; i++) await write((tx) => tx.emit({ kind: "subject", ref: String(i) }));
        const all = await store.changesSince(0, 100);
        expect(all.map((c) => c.ref)).toEqual(["1", "2", "3", "4", "5"]);
        expect((await store.changesSince(0, 2)).map((c) => c.ref)).toEqual(["1", "2"]);
        const third = all[2]?.seq as number;
        expect((await store.changesSince(third, 100)).map((c) => c.ref)).toEqual(["4", "5"]);
        expect(await store.changesSince(all[4]?.seq as number, 100)).toEqual([]);
        // a follower reading page by page misses nothing and sees nothing twice
        const followed: string[] = [];
        let pos = 0;
        for (;;) {
          const page = await store.changesSince(pos, 2);
          if (page.length === 0) break;
          followed.push(...page.map((c) => c.ref));
          pos = page[page.length - 1]?.seq as number;
        }
        expect(followed).toEqual(["1", "2", "3", "4", "5"]);
        expect(pos).toBe(await store.lastChange());
      });

      it("given a transaction that emits and then fails, when the feed is read, then neither its events nor its rows are there", async () => {
        await write((tx) => tx.emit({ kind: "subject", ref: "kept" }));
        const pos = await store.lastChange();
        await expect(
          write(async (tx) => {
            const s = await tx.createSubject(T0);
            await tx.link(s, nid("GONE"), T0);
            await tx.emit({ kind: "subject", ref: String(s) });
            throw new Error("abort");
          }),
        ).rejects.toThrow("abort");
        expect(await store.lastChange()).toBe(pos);
        expect((await store.changesSince(0, 10)).map((c) => c.ref)).toEqual(["kept"]);
        expect(await store.resolve(nid("GONE"))).toBeUndefined();
        expect(await store.countSubjects()).toBe(0);
        // the next event follows the kept one
        await write((tx) => tx.emit({ kind: "key", ref: "k-1" }));
        expect((await store.changesSince(pos, 10)).map((c) => c.ref)).toEqual(["k-1"]);
      });

      it("given transactions that emit while running at once, when both commit, then every event is in the feed once, in commit order", async () => {
        const both = await Promise.all(
          ["a", "b"].map((name) =>
            write(async (tx) => {
              await tx.emit({ kind: "subject", ref: `${name}-1` });
              await sleep(5);
              await tx.emit({ kind: "subject", ref: `${name}-2` });
            }),
          ),
        );
        expect(both).toHaveLength(2);
        const refs = (await store.changesSince(0, 10)).map((c) => c.ref);
        expect(refs).toHaveLength(4);
        // each transaction's events stay together: one committed after the other
        expect([["a-1", "a-2", "b-1", "b-2"], ["b-1", "b-2", "a-1", "a-2"]]).toContainEqual(refs);
      });
    });
  });
}
