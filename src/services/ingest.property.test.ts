// Property test of batched ingest: the set-based path (Ingest.applyAll, what `ingest` and
// `ingestDelivered` run) against the record-at-a-time reference (Ingest.applyOneByOne),
// over random sequences of batches that mix new subjects, repeated identifiers,
// duplicates, conflicts, retractions and corrections (of stored records and of records
// earlier in the same batch), unknown types, records from the future, broken envelopes
// and identifiers that do not register a subject (quarantine). Each sequence goes to two
// fresh stores, one per path, at the same instants: every answer, every state written,
// and what is stored (records, quarantine, subjects and their identifiers, states,
// notices) must be the same, and both journals must verify, states replayed.
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { Standing } from "../standing.js";
import { PgStore } from "../store/postgres/store.js";
import { dropCreated, freshDatabase } from "../store/postgres/test-helpers.js";
import { SqliteStore } from "../store/sqlite/store.js";
import type { Store, StoreTx } from "../store/types.js";
import { ManualClock } from "../time.js";
import type { IngestResult } from "./ingest.js";
import type { Written } from "./evaluation.js";

const POLICY = readFileSync(new URL("../../policies/municipal-credit.yaml", import.meta.url), "utf8");
const T0 = Date.parse("2026-06-01T00:00:00Z");
const DAY = 86_400_000;

type Applied = { results: IngestResult[]; written: Written[] };
interface Paths {
  applyAll(tx: StoreTx, inputs: readonly unknown[], now: number): Promise<Applied>;
  applyOneByOne(tx: StoreTx, inputs: readonly unknown[], now: number): Promise<Applied>;
}
const paths = (s: Standing): Paths => (s as unknown as { ingestService: Paths }).ingestService;

// Small pools, so that ids, identifiers and targets collide often.
const ids = fc.constantFrom("r0", "r1", "r2", "r3", "r4", "r5");
const values = fc.constantFrom("V0", "V1", "V2");
const when = fc.constantFrom(T0 - 30 * DAY, T0 - 2 * DAY, T0 - DAY, T0 + 30 * DAY).map((t) => new Date(t).toISOString());

const fact = fc.record({
  source: fc.constantFrom("traffic-police", "traffic-police", "court"),
  id: ids,
  kind: fc.constantFrom("jaywalking", "jaywalking", "default", "unknown"),
  scheme: fc.constantFrom("national-id", "passport"),
  value: values,
  occurredAt: when,
  supersedes: fc.option(ids, { freq: 2 }),
});

const input = fc.oneof(
  { weight: 6, arbitrary: fact.map(({ kind, scheme, value, supersedes, ...f }) => ({
    ...f,
    type: kind === "jaywalking" ? "traffic.jaywalking" : kind === "default" ? "court.judgment.default" : "no.such.type",
    subject: { scheme, value },
    evidence: "file://e",
    ...(kind === "default" ? { fields: { case: "C-1", amount: 50_000 } } : {}),
    ...(supersedes !== null ? { supersedes } : {}),
  })) },
  { weight: 2, arbitrary: fc.record({ source: fc.constantFrom("traffic-police", "court"), id: ids, retracts: ids, occurredAt: when }).map((r) => ({ ...r, reason: "wrong" })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ id: ids, value: values, supersedes: ids, points: fc.integer({ min: 1, max: 3 }) })
      .map((r) => ({ source: "traffic-police", id: r.id, type: "traffic.jaywalking", subject: { scheme: "national-id", value: r.value }, occurredAt: new Date(T0 - r.points * DAY).toISOString(), evidence: "file://c", supersedes: r.supersedes })),
  },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 7, "text", { source: "traffic-police" }, { source: "traffic-police", id: "r0", occurredAt: "yesterday" }) },
);

/** A line sent again: a copy of an earlier line of the scenario (a duplicate, or the same refusal again). */
interface Resend {
  readonly resend: number;
}
const line = fc.oneof({ weight: 5, arbitrary: input }, { weight: 1, arbitrary: fc.nat().map((n): Resend => ({ resend: n })) });

const scenario = fc.array(fc.array(line, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }).map((batches) => {
  const sent: unknown[] = [];
  return batches.map((b) =>
    b.map((x) => {
      const isResend = typeof x === "object" && x !== null && "resend" in x;
      const out = isResend ? (sent.length > 0 ? structuredClone(sent[(x as Resend).resend % sent.length]) : null) : x;
      sent.push(out);
      return out;
    }),
  );
});

async function opened(store: Store, clock: ManualClock): Promise<Standing> {
  const s = new Standing(store, clock);
  await s.start();
  const { proposal } = await s.proposePolicy(POLICY, "author");
  await s.approvePolicy(proposal.id, "approver");
  return s;
}

/** Everything a batch can change in a store, without the random notice ids. */
async function contents(store: Store): Promise<unknown> {
  const n = await store.countSubjects();
  const subjects = [];
  for (let id = 1; id <= n; id++) {
    subjects.push({
      id,
      identifiers: await store.identifiersOf(id),
      records: await store.recordsOf(id),
      state: await store.getState(id),
      // Notice ids are random, and noticesOf orders by them after the time: compared as a set.
      notices: (await store.noticesOf(id)).map(({ id: _id, ...rest }) => JSON.stringify(rest)).sort(),
    });
  }
  return { subjects, records: await store.countRecords(), quarantine: await store.listQuarantine(10_000) };
}

const view = (w: readonly Written[]): unknown => w.map((x) => ({ subjectId: x.subjectId, identifiers: x.identifiers, measures: x.measures, changed: x.changed, state: x.state() }));

/** Every kind of answer, most of them depending on a line earlier in the same batch: the first example each property runs. */
const tp = (id: string, value: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  source: "traffic-police",
  id,
  type: "traffic.jaywalking",
  subject: { scheme: "national-id", value },
  occurredAt: new Date(T0 - DAY).toISOString(),
  evidence: "file://e",
  ...over,
});
const retract = (id: string, target: string): Record<string, unknown> => ({ source: "traffic-police", id, retracts: target, occurredAt: new Date(T0 - DAY).toISOString(), reason: "wrong" });
const EVERY_KIND: unknown[][] = [
  [
    tp("e0", "N1"),
    tp("e1", "N1"),
    tp("e0", "N1"),
    tp("e0", "N1", { occurredAt: new Date(T0 - 2 * DAY).toISOString() }),
    retract("e2", "e1"),
    tp("e3", "P1", { subject: { scheme: "passport", value: "P1" } }),
    retract("e4", "e3"),
    tp("e5", "N1", { supersedes: "e0" }),
    { source: "court", id: "e6", type: "court.judgment.default", subject: { scheme: "national-id", value: "N2" }, occurredAt: new Date(T0 - DAY).toISOString(), evidence: "file://j", fields: { case: "C-9", amount: 90_000 } },
    tp("e7", "N2", { source: "court" }),
    tp("e8", "N1", { type: "no.such.type" }),
    retract("e9", "nope"),
    null,
    tp("e10", "N3", { occurredAt: new Date(T0 + 30 * DAY).toISOString() }),
  ],
  [tp("e0", "N1"), retract("e11", "e2"), tp("e12", "N2")],
];

/** What the answers covered, across runs: every kind of answer the generator is meant to reach. */
const seen = new Set<string>();

async function sameAnswers(batches: unknown[][], makeStore: () => Promise<Store>): Promise<void> {
  const clock = new ManualClock(T0);
  const batchedStore = await makeStore();
  const referenceStore = await makeStore();
  const batched = await opened(batchedStore, clock);
  const reference = await opened(referenceStore, clock);
  try {
    for (const [i, batch] of batches.entries()) {
      clock.set(T0 + i * 3_600_000);
      const now = clock.now();
      const a = await batchedStore.transaction((tx) => paths(batched).applyAll(tx, batch, now));
      const b = await referenceStore.transaction((tx) => paths(reference).applyOneByOne(tx, batch, now));
      expect(a.results).toEqual(b.results);
      for (const [j, r] of a.results.entries()) {
        const sent = batch[j] as { retracts?: string; supersedes?: string } | null;
        seen.add(r.status === "rejected" ? r.error.code : `${r.status}${sent?.retracts !== undefined ? " retraction" : sent?.supersedes !== undefined ? " correction" : ""}`);
      }
      expect(view(a.written)).toEqual(view(b.written));
    }
    expect(await contents(batchedStore)).toEqual(await contents(referenceStore));
    for (const s of [batched, reference]) {
      const report = await s.verifyJournal();
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
    }
  } finally {
    await batched.close();
    await reference.close();
  }
}

describe("batched ingest equals ingest one record at a time", () => {
  it("on the embedded store: the same answers, states, stored rows and a verifying journal", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, (batches) => sameAnswers(batches, async () => new SqliteStore(":memory:"))),
      { numRuns: 100, examples: [[EVERY_KIND]] },
    );
    for (const kind of ["accepted", "accepted retraction", "accepted correction", "duplicate", "quarantined", "quarantined retraction", "record-conflict", "unknown-retraction-target", "unknown-record-type", "invalid-record", "occurred-in-future", "source-not-allowed"]) {
      expect([...seen], kind).toContain(kind);
    }
  }, 300_000);

  describe("on PostgreSQL", () => {
    afterAll(async () => {
      await dropCreated();
    });

    it("the same answers, states, stored rows and a verifying journal (fewer runs: two databases each)", async () => {
      await fc.assert(
        fc.asyncProperty(scenario, (batches) =>
          sameAnswers(batches, async () => {
            const db = await freshDatabase("batched");
            return new PgStore(db.url, { keyFile: db.keyFile }).open();
          }),
        ),
        { numRuns: 10, examples: [[EVERY_KIND]] },
      );
    }, 600_000);
  });
});
