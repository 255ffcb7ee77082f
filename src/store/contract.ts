// The one contract every Store implementation must pass (sqlite now, postgres later).
// It speaks only through the Store interface: nothing here knows about SQL, files or
// pragmas. Each test gets a fresh, empty store from `makeStore` and closes it after.
//
// Usage, from an implementation's own test file:
//   storeContract("sqlite (temp file)", () => new SqliteStore(join(dir, "a.db")));
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StandingError } from "../errors.js";
import type { MeasureState, SubjectState } from "../engine/types.js";
import type { Identifier, NewQuarantine, NewRecord, PolicyRow, Store, SubjectId } from "./types.js";

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

function state(opts: { at: number; score?: number; measures?: MeasureState[]; nextChangeAt?: number | null }): SubjectState {
  const next = opts.nextChangeAt ?? null;
  return {
    policy: "contract@1",
    at: new Date(opts.at).toISOString(),
    score: opts.score ?? 1000,
    tier: "A",
    contributions: [],
    lists: [],
    measures: opts.measures ?? [],
    nextChangeAt: next === null ? null : new Date(next).toISOString(),
  };
}

export function storeContract(name: string, makeStore: () => Store | Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await makeStore();
    });

    afterEach(() => {
      store.close();
    });

    /** Creates a subject that owns one national id, and returns its id. */
    const subjectWith = (value: string): SubjectId => {
      const id = store.createSubject(T0);
      store.link(id, nid(value), T0);
      return id;
    };

    const putStateFor = (subjectId: SubjectId, nextChangeAt: number | null, measures: MeasureState[] = []): void => {
      store.putState({ subjectId, policyRef: "contract@1", evaluatedAt: T0, nextChangeAt, state: state({ at: T0, nextChangeAt, measures }) });
    };

    // ------------------------------------------------------------ transactions

    describe("transaction", () => {
      it("given a function that writes, when it returns, then its value is returned and its writes are kept", () => {
        const out = store.transaction(() => {
          store.setMeta("k", "v");
          const s = store.createSubject(T0);
          store.link(s, nid("tx-1"), T0);
          return 42;
        });
        expect(out).toBe(42);
        expect(store.getMeta("k")).toBe("v");
        expect(store.resolve(nid("tx-1"))).toBeDefined();
        expect(store.countSubjects()).toBe(1);
      });

      it("given a function that writes to every table and then throws, when it runs, then the error propagates and nothing it wrote remains", () => {
        const before = subjectWith("pre-existing");
        putStateFor(before, T0 + DAY);
        const boom = new Error("boom");
        expect(() =>
          store.transaction(() => {
            store.setMeta("k", "v");
            store.addPolicy(policyRow("1", T0));
            const s = store.createSubject(T0);
            store.link(s, nid("tx-2"), T0);
            store.appendRecord(newRecord(s, "court", "r1", T0));
            store.quarantine(newQuarantine("airline", "q1", passport("P1"), T0));
            putStateFor(s, T0 + 2 * DAY, [denyMeasure]);
            putStateFor(before, null);
            throw boom;
          }),
        ).toThrow(boom);
        expect(store.getMeta("k")).toBeUndefined();
        expect(store.policies()).toEqual([]);
        expect(store.resolve(nid("tx-2"))).toBeUndefined();
        expect(store.countSubjects()).toBe(1);
        expect(store.countRecords()).toBe(0);
        expect(store.findRecord("court", "r1")).toBeUndefined();
        expect(store.findQuarantined("airline", "q1")).toBeUndefined();
        expect(store.listQuarantine(10)).toEqual([]);
        expect([...store.statesWithMeasures()]).toEqual([]);
        // the pre-existing state keeps its old nextChangeAt
        expect(store.getState(before)?.nextChangeAt).toBe(T0 + DAY);
        expect(store.earliestChange()).toBe(T0 + DAY);
      });

      it("given a nested transaction, when an error escapes the outer one, then the inner one's writes are undone too", () => {
        expect(() =>
          store.transaction(() => {
            store.setMeta("outer", "1");
            store.transaction(() => store.setMeta("inner", "1"));
            throw new Error("late failure");
          }),
        ).toThrow("late failure");
        expect(store.getMeta("outer")).toBeUndefined();
        expect(store.getMeta("inner")).toBeUndefined();
      });

      it("given a failed transaction, when another one runs afterwards, then the store is usable and commits normally", () => {
        expect(() =>
          store.transaction(() => {
            store.setMeta("a", "1");
            throw new Error("x");
          }),
        ).toThrow("x");
        store.transaction(() => store.setMeta("a", "2"));
        expect(store.getMeta("a")).toBe("2");
      });
    });

    // ------------------------------------------------------------ policies and meta

    describe("policies", () => {
      it("given an empty store, when policies are listed, then there are none", () => {
        expect(store.policies()).toEqual([]);
      });

      it("given policies added one after another, when listed, then they come back whole and in the order they were added", () => {
        // effective dates deliberately not in insertion order: order is publication order
        const a = store.addPolicy(policyRow("2.0.0", T0 + 10 * DAY));
        const b = store.addPolicy(policyRow("1.0.0", T0));
        const c = store.addPolicy(policyRow("3.0.0", T0 + 20 * DAY));
        expect(a.seq).toBeLessThan(b.seq);
        expect(b.seq).toBeLessThan(c.seq);
        expect(a).toEqual({ ...policyRow("2.0.0", T0 + 10 * DAY), seq: a.seq });
        const listed = store.policies();
        expect(listed.map((p) => p.ref)).toEqual(["contract@2.0.0", "contract@1.0.0", "contract@3.0.0"]);
        expect(listed).toEqual([a, b, c]);
      });

      it("given a published ref, when the same ref is added again, then it throws and the first stays as it was", () => {
        const first = store.addPolicy(policyRow("1.0.0", T0));
        expect(() => store.addPolicy({ ...policyRow("1.0.0", T0), text: "changed", hash: "other" })).toThrow();
        expect(store.policies()).toEqual([first]);
      });
    });

    describe("meta", () => {
      it("given a key never set, when read, then it is undefined", () => {
        expect(store.getMeta("active_policy")).toBeUndefined();
      });

      it("given a key set twice, when read, then the last value wins and other keys are untouched", () => {
        store.setMeta("active_policy", "contract@1");
        store.setMeta("other", "x");
        store.setMeta("active_policy", "contract@2");
        expect(store.getMeta("active_policy")).toBe("contract@2");
        expect(store.getMeta("other")).toBe("x");
      });

      it("given a value with unicode and an empty value, when read back, then they are identical", () => {
        store.setMeta("u", "政策 ✓ \u00e9");
        store.setMeta("empty", "");
        expect(store.getMeta("u")).toBe("政策 ✓ \u00e9");
        expect(store.getMeta("empty")).toBe("");
      });
    });

    // ------------------------------------------------------------ subjects and identifiers

    describe("subjects and identifiers", () => {
      it("given an empty store, when subjects are created, then ids are distinct positive integers that increase, and they exist", () => {
        expect(store.countSubjects()).toBe(0);
        const ids = [store.createSubject(T0), store.createSubject(T0), store.createSubject(T0 + 1)];
        expect(ids.every((i) => Number.isInteger(i) && i > 0)).toBe(true);
        expect(ids[0]).toBeLessThan(ids[1] as number);
        expect(ids[1]).toBeLessThan(ids[2] as number);
        expect(store.countSubjects()).toBe(3);
        for (const i of ids) expect(store.subjectExists(i)).toBe(true);
        expect(store.subjectExists(Math.max(...ids) + 1000)).toBe(false);
      });

      it("given an identifier never linked, when resolved, then it is undefined", () => {
        expect(store.resolve(nid("nobody"))).toBeUndefined();
      });

      it("given identifiers linked to a subject, when resolved, then each names that subject; scheme and value both matter", () => {
        const a = store.createSubject(T0);
        const b = store.createSubject(T0);
        store.link(a, nid("X1"), T0);
        store.link(a, passport("P1"), T0);
        store.link(b, nid("P1"), T0); // same value, other scheme: a different identifier
        expect(store.resolve(nid("X1"))).toBe(a);
        expect(store.resolve(passport("P1"))).toBe(a);
        expect(store.resolve(nid("P1"))).toBe(b);
        expect(store.resolve(passport("X1"))).toBeUndefined();
        expect(store.resolve(nid("x1"))).toBeUndefined(); // values are exact, not case-folded
      });

      it("given an identifier linked to a subject, when it is linked to the same subject again, then nothing changes", () => {
        const a = store.createSubject(T0);
        store.link(a, nid("X1"), T0);
        expect(() => store.link(a, nid("X1"), T0 + DAY)).not.toThrow();
        expect(store.resolve(nid("X1"))).toBe(a);
        expect(store.identifiersOf(a)).toEqual([nid("X1")]);
      });

      it("given an identifier linked to one subject, when it is linked to another, then it throws identifier-conflict and still names the first", () => {
        const a = store.createSubject(T0);
        const b = store.createSubject(T0);
        store.link(a, nid("X1"), T0);
        let caught: unknown;
        try {
          store.link(b, nid("X1"), T0);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(StandingError);
        expect((caught as StandingError).code).toBe("identifier-conflict");
        expect(store.resolve(nid("X1"))).toBe(a);
        expect(store.identifiersOf(b)).toEqual([]);
      });

      it("given identifiers linked in a jumbled order, when listed for the subject, then they are sorted by scheme then value and only its own", () => {
        const a = store.createSubject(T0);
        const b = store.createSubject(T0);
        store.link(a, passport("Z9"), T0);
        store.link(a, nid("B2"), T0);
        store.link(b, nid("A0"), T0);
        store.link(a, passport("A1"), T0);
        store.link(a, { scheme: "company-reg", value: "C3" }, T0);
        store.link(a, nid("A1"), T0);
        expect(store.identifiersOf(a)).toEqual([
          { scheme: "company-reg", value: "C3" },
          { scheme: "national-id", value: "A1" },
          { scheme: "national-id", value: "B2" },
          { scheme: "passport", value: "A1" },
          { scheme: "passport", value: "Z9" },
        ]);
        expect(store.identifiersOf(b)).toEqual([nid("A0")]);
        expect(store.identifiersOf(Math.max(a, b) + 1000)).toEqual([]);
      });
    });

    // ------------------------------------------------------------ records

    describe("records", () => {
      it("given an appended record, when found by source and id, then every field comes back as appended, with a seq", () => {
        const s = subjectWith("X1");
        const input = newRecord(s, "court", "r1", T0 - 3 * DAY);
        const row = store.appendRecord(input);
        expect(row).toEqual({ ...input, seq: row.seq });
        expect(Number.isInteger(row.seq)).toBe(true);
        expect(store.findRecord("court", "r1")).toEqual(row);
        expect(store.countRecords()).toBe(1);
      });

      it("given a retraction, when found, then it keeps the id it retracts", () => {
        const s = subjectWith("X1");
        store.appendRecord(newRecord(s, "court", "r1", T0));
        const r = store.appendRecord(newRecord(s, "court", "r2", T0 + DAY, "r1"));
        expect(store.findRecord("court", "r2")?.retracts).toBe("r1");
        expect(store.findRecord("court", "r1")?.retracts).toBeNull();
        expect(r.retracts).toBe("r1");
      });

      it("given no such record, when found, then it is undefined; the same id under another source is another record", () => {
        const s = subjectWith("X1");
        store.appendRecord(newRecord(s, "court", "r1", T0));
        expect(store.findRecord("court", "r2")).toBeUndefined();
        expect(store.findRecord("airline", "r1")).toBeUndefined();
        store.appendRecord(newRecord(s, "airline", "r1", T0));
        expect(store.findRecord("airline", "r1")?.source).toBe("airline");
        expect(store.countRecords()).toBe(2);
      });

      it("given records appended for two subjects out of time order, when listed per subject, then each gets its own in append order", () => {
        const a = subjectWith("A");
        const b = subjectWith("B");
        const appended = [
          store.appendRecord(newRecord(a, "court", "a-late", T0 + 5 * DAY)),
          store.appendRecord(newRecord(b, "court", "b-1", T0)),
          store.appendRecord(newRecord(a, "traffic-police", "a-early", T0 - 5 * DAY)),
          store.appendRecord(newRecord(a, "court", "a-mid", T0)),
        ];
        const seqs = appended.map((r) => r.seq);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(4);
        expect(store.recordsOf(a).map((r) => r.recordId)).toEqual(["a-late", "a-early", "a-mid"]);
        expect(store.recordsOf(a)).toEqual([appended[0], appended[2], appended[3]]);
        expect(store.recordsOf(b)).toEqual([appended[1]]);
        expect(store.recordsOf(Math.max(a, b) + 1000)).toEqual([]);
        expect(store.countRecords()).toBe(4);
      });

      it("given subjects with and without records, disputes, applications and states, when read a page at a time, then each page holds what the per-subject reads return", () => {
        const a = subjectWith("A");
        const idle = subjectWith("IDLE"); // no records: never in a page, even inside the id range
        const b = subjectWith("B");
        const c = subjectWith("C");
        store.appendRecord(newRecord(a, "court", "a-2", T0 + DAY));
        store.appendRecord(newRecord(b, "court", "b-1", T0));
        store.appendRecord(newRecord(a, "court", "a-1", T0 - DAY));
        store.appendRecord(newRecord(c, "court", "c-1", T0));
        putStateFor(idle, null);
        putStateFor(a, T0 + 9 * DAY);
        const dispute = (id: string, openedAt: number) => ({
          id, subjectId: a, source: "court", recordId: "a-2", grounds: "not me", evidence: null, openedBy: "subject", openedAt, deadlineAt: openedAt + 30 * DAY,
          suspend: false, status: "open" as const, answerNote: null, answeredAt: null, decidedBy: null, reason: null, closedAt: null, counts: null,
        });
        store.putDispute(dispute("d-late", T0 + 2 * DAY));
        store.putDispute(dispute("d-early", T0 + DAY));
        store.addApplication({ id: "app-1", subjectId: b, list: "debtors", appliedAt: T0, appliedBy: "subject" });
        const perSubject = (id: SubjectId) => ({ subjectId: id, records: store.recordsOf(id), disputes: store.disputesOf(id), applications: store.applicationsOf(id), state: store.getState(id) });

        const first = store.evaluationPage(0, 2);
        expect(first).toEqual([perSubject(a), perSubject(b)]);
        expect(first[0]?.disputes.map((d) => d.id)).toEqual(["d-early", "d-late"]);
        expect(first[0]?.state?.nextChangeAt).toBe(T0 + 9 * DAY);
        expect(first[1]?.state).toBeUndefined();
        expect(store.evaluationPage(b, 2)).toEqual([perSubject(c)]);
        expect(store.evaluationPage(c, 2)).toEqual([]);
      });

      it("given a stored (source, record id), when a record with the same pair is appended, then it throws and the stored one is unchanged", () => {
        const a = subjectWith("A");
        const b = subjectWith("B");
        const first = store.appendRecord(newRecord(a, "court", "r1", T0));
        expect(() => store.appendRecord({ ...newRecord(b, "court", "r1", T0 + DAY), hash: "different" })).toThrow();
        expect(store.findRecord("court", "r1")).toEqual(first);
        expect(store.recordsOf(b)).toEqual([]);
        expect(store.countRecords()).toBe(1);
      });

      it("given a body with unicode and a large payload, when found, then it is byte-for-byte the same", () => {
        const s = subjectWith("X1");
        const body = JSON.stringify({ note: "债务人 — «ok» \u{1F600}", pad: "x".repeat(100_000) });
        store.appendRecord({ ...newRecord(s, "court", "big", T0), body });
        expect(store.findRecord("court", "big")?.body).toBe(body);
      });
    });

    // ------------------------------------------------------------ quarantine

    describe("quarantine", () => {
      it("given a quarantined record, when found by source and id, then every field comes back, not yet released", () => {
        const input = newQuarantine("airline", "q1", passport("P1"), T0);
        const row = store.quarantine(input);
        expect(row).toEqual({ ...input, seq: row.seq, releasedAt: null });
        expect(store.findQuarantined("airline", "q1")).toEqual(row);
        expect(store.findQuarantined("airline", "q2")).toBeUndefined();
        expect(store.findQuarantined("court", "q1")).toBeUndefined();
      });

      it("given records quarantined for several identifiers, when asked for one identifier, then only its own come back, in arrival order", () => {
        const q1 = store.quarantine(newQuarantine("airline", "q1", passport("P1"), T0));
        store.quarantine(newQuarantine("airline", "q2", passport("P2"), T0 + 1));
        const q3 = store.quarantine(newQuarantine("court", "q3", passport("P1"), T0 + 2));
        store.quarantine(newQuarantine("court", "q4", nid("P1"), T0 + 3)); // same value, other scheme
        expect(store.quarantinedFor(passport("P1"))).toEqual([q1, q3]);
        expect(store.quarantinedFor(passport("P9"))).toEqual([]);
      });

      it("given quarantined records, when listed with a limit, then the oldest open ones come first and no more than the limit", () => {
        const rows = ["q1", "q2", "q3", "q4"].map((id, i) => store.quarantine(newQuarantine("airline", id, passport(`P${i}`), T0 + i)));
        expect(store.listQuarantine(10)).toEqual(rows);
        expect(store.listQuarantine(2)).toEqual(rows.slice(0, 2));
      });

      it("given a released record, when the quarantine is read, then it is kept and marked released, and no longer listed as open", () => {
        const q1 = store.quarantine(newQuarantine("airline", "q1", passport("P1"), T0));
        const q2 = store.quarantine(newQuarantine("airline", "q2", passport("P1"), T0 + 1));
        store.releaseQuarantined(q1.seq, T0 + DAY);
        expect(store.findQuarantined("airline", "q1")).toEqual({ ...q1, releasedAt: T0 + DAY });
        expect(store.quarantinedFor(passport("P1"))).toEqual([q2]);
        expect(store.listQuarantine(10)).toEqual([q2]);
        store.releaseQuarantined(q2.seq, T0 + 2 * DAY);
        expect(store.quarantinedFor(passport("P1"))).toEqual([]);
        expect(store.listQuarantine(10)).toEqual([]);
        expect(store.findQuarantined("airline", "q2")?.releasedAt).toBe(T0 + 2 * DAY);
      });
    });

    // ------------------------------------------------------------ derived state

    describe("derived state", () => {
      it("given no state stored, when read, then it is undefined", () => {
        const s = subjectWith("X1");
        expect(store.getState(s)).toBeUndefined();
      });

      it("given a stored state, when read back, then it round-trips exactly; a second put replaces it", () => {
        const s = subjectWith("X1");
        const first = { subjectId: s, policyRef: "contract@1", evaluatedAt: T0, nextChangeAt: T0 + 7 * DAY, state: state({ at: T0, score: 900, measures: [denyMeasure], nextChangeAt: T0 + 7 * DAY }) };
        store.putState(first);
        expect(store.getState(s)).toEqual(first);
        const second = { subjectId: s, policyRef: "contract@2", evaluatedAt: T0 + DAY, nextChangeAt: null, state: state({ at: T0 + DAY, score: 1000 }) };
        store.putState(second);
        expect(store.getState(s)).toEqual(second);
      });

      it("given a state stored as JSON text, when read back, then it is the same state and it is due and indexed like any other", () => {
        const a = subjectWith("A");
        const st = state({ at: T0, nextChangeAt: T0 + DAY, measures: [] });
        store.putStateText({ subjectId: a, policyRef: "contract@1", evaluatedAt: T0, nextChangeAt: T0 + DAY, hasMeasures: false, json: JSON.stringify(st) });
        expect(store.getState(a)).toEqual({ subjectId: a, policyRef: "contract@1", evaluatedAt: T0, nextChangeAt: T0 + DAY, state: st });
        expect(store.dueSubjects(T0 + DAY, 10)).toEqual([a]);
        expect([...store.statesWithMeasures()]).toEqual([]);
      });

      it("given states with various next changes, when asked what is due at an instant, then those at or before it come back, earliest first, within the limit", () => {
        const ids = ["A", "B", "C", "D", "E"].map(subjectWith);
        const [a, b, c, d, e] = ids as [number, number, number, number, number];
        putStateFor(a, T0 + 3 * DAY);
        putStateFor(b, T0 + 1 * DAY);
        putStateFor(c, null);
        putStateFor(d, T0 + 2 * DAY);
        putStateFor(e, T0 + 9 * DAY);
        expect(store.dueSubjects(T0, 10)).toEqual([]);
        expect(store.dueSubjects(T0 + DAY - 1, 10)).toEqual([]);
        expect(store.dueSubjects(T0 + DAY, 10)).toEqual([b]); // exactly at the instant counts
        expect(store.dueSubjects(T0 + 3 * DAY, 10)).toEqual([b, d, a]);
        expect(store.dueSubjects(T0 + 3 * DAY, 2)).toEqual([b, d]);
        expect(store.dueSubjects(T0 + 100 * DAY, 10)).toEqual([b, d, a, e]);
      });

      it("given a due subject whose state is replaced with a later change, when asked again, then it is no longer due", () => {
        const a = subjectWith("A");
        putStateFor(a, T0 + DAY);
        expect(store.dueSubjects(T0 + DAY, 10)).toEqual([a]);
        putStateFor(a, T0 + 5 * DAY);
        expect(store.dueSubjects(T0 + DAY, 10)).toEqual([]);
        putStateFor(a, null);
        expect(store.dueSubjects(T0 + 100 * DAY, 10)).toEqual([]);
      });

      it("given no states, when the earliest change is asked, then it is null; otherwise the minimum, ignoring states that never change", () => {
        expect(store.earliestChange()).toBeNull();
        const [a, b, c] = ["A", "B", "C"].map(subjectWith) as [number, number, number];
        putStateFor(a, null);
        expect(store.earliestChange()).toBeNull();
        putStateFor(b, T0 + 4 * DAY);
        putStateFor(c, T0 + 2 * DAY);
        expect(store.earliestChange()).toBe(T0 + 2 * DAY);
        putStateFor(c, null);
        expect(store.earliestChange()).toBe(T0 + 4 * DAY);
      });

      it("given states with and without measures, when states with measures are listed, then only those come back, with their state", () => {
        const [a, b, c] = ["A", "B", "C"].map(subjectWith) as [number, number, number];
        putStateFor(a, null, [denyMeasure]);
        putStateFor(b, null, []);
        putStateFor(c, T0 + DAY, [denyMeasure, { ...denyMeasure, measure: "no-property-debtor", context: "property-purchase" }]);
        const listed = [...store.statesWithMeasures()].sort((x, y) => x.subjectId - y.subjectId);
        expect(listed.map((x) => x.subjectId)).toEqual([a, c]);
        expect(listed[0]?.state).toEqual(store.getState(a)?.state);
        expect(listed[1]?.state.measures.map((m) => m.measure)).toEqual(["no-flights-debtor", "no-property-debtor"]);
        // a subject whose measures end leaves the set
        putStateFor(a, null, []);
        expect([...store.statesWithMeasures()].map((x) => x.subjectId)).toEqual([c]);
      });
    });

    // ------------------------------------------------------------ subjects with records

    describe("subjects with records", () => {
      it("given subjects with and without records, when paged, then only those with records come back once each, in id order, after the given id", () => {
        const ids = Array.from({ length: 7 }, (_, i) => subjectWith(`S${i}`));
        // records for subjects 0, 2, 3, 5, 6 (several for some); none for 1 and 4
        const withRecords = [0, 2, 3, 5, 6].map((i) => ids[i] as number);
        let n = 0;
        for (const s of [ids[6], ids[0], ids[3], ids[0], ids[2], ids[5], ids[6], ids[6]] as number[]) {
          store.appendRecord(newRecord(s, "court", `r${n++}`, T0 + n));
        }
        expect(store.countSubjectsWithRecords()).toBe(5);
        expect(store.subjectsWithRecords(0, 100)).toEqual(withRecords);
        // page through two at a time, as re-evaluation does
        const paged: number[] = [];
        let after = 0;
        for (let pages = 0; pages < 10; pages++) {
          const page = store.subjectsWithRecords(after, 2);
          expect(page.length).toBeLessThanOrEqual(2);
          if (page.length === 0) break;
          paged.push(...page);
          after = page[page.length - 1] as number;
        }
        expect(paged).toEqual(withRecords); // 3 pages of at most 2, then an empty one
        expect(store.subjectsWithRecords(ids[3] as number, 100)).toEqual([ids[5], ids[6]]);
        expect(store.subjectsWithRecords(ids[6] as number, 100)).toEqual([]);
      });

      it("given a subject without records, when counted and paged, then no subject has records", () => {
        subjectWith("lonely");
        expect(store.countSubjectsWithRecords()).toBe(0);
        expect(store.subjectsWithRecords(0, 10)).toEqual([]);
      });
    });
  });
}
