// `npx tsx bench/batched-ingest.mts [pg|sqlite] [records] [batch] [--one-by-one]`: durable
// ingest through Standing.ingest, one transaction per batch, on a fresh store, with the
// journal and signed heads on: records/s and database statements per record (PostgreSQL:
// every query a connection sends, BEGIN and COMMIT included). `--one-by-one` applies each
// batch through the record-at-a-time reference path instead (Ingest.applyOneByOne), for
// the before/after figures in BENCHMARKS.md ("Batched ingest"). Half the records are about
// subjects seen before, as in the cluster probe.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Standing } from "../src/standing.js";
import { PgStore } from "../src/store/postgres/store.js";
import { dropCreated, freshDatabase } from "../src/store/postgres/test-helpers.js";
import { SqliteStore } from "../src/store/sqlite/store.js";
import type { Store } from "../src/store/types.js";
import { systemClock } from "../src/time.js";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const kind = args[0] ?? "pg";
const N = Number(args[1] ?? 20_000);
const B = Number(args[2] ?? 2_000);
const oneByOne = process.argv.includes("--one-by-one");

let statements = 0;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
  statements++;
  return (query as (...x: unknown[]) => unknown).apply(this, a);
} as typeof query;

const dir = mkdtempSync(join(tmpdir(), "standing-batched-"));
let store: Store;
if (kind === "pg") {
  const db = await freshDatabase("batched");
  store = await new PgStore(db.url, { keyFile: db.keyFile }).open();
} else {
  store = new SqliteStore(join(dir, "bench.db"));
}
const standing = new Standing(store, systemClock);
await standing.start();
const { proposal } = await standing.proposePolicy(readFileSync("policies/municipal-credit.yaml", "utf8"), "a");
await standing.approvePolicy(proposal.id, "b");

const day = new Date(Date.now() - 86_400_000).toISOString();
const inputs = Array.from({ length: N }, (_, i) => ({ source: "traffic-police", id: `p-${i}`, type: "traffic.jaywalking", subject: { scheme: "national-id", value: `P${i % (N / 2)}` }, occurredAt: day, evidence: "cam://x" }));
const ingest = (standing as unknown as { ingestService: { applyOneByOne(tx: unknown, inputs: readonly unknown[], now: number): Promise<unknown> } }).ingestService;

statements = 0;
const t = performance.now();
for (let i = 0; i < N; i += B) {
  const batch = inputs.slice(i, i + B);
  if (oneByOne) await store.transaction((tx) => ingest.applyOneByOne(tx, batch, systemClock.now()));
  else await standing.ingest(batch);
}
const ms = performance.now() - t;
const sent = statements;
const report = await standing.verifyJournal();
console.log(
  `${kind}${oneByOne ? " one-by-one" : " batched"}: ${N} records in batches of ${B}: ${Math.round((N / ms) * 1000)} records/s` +
    (kind === "pg" ? `, ${(sent / N).toFixed(3)} statements per record` : "") +
    `; journal verifies: ${report.ok}`,
);
await standing.close();
if (kind === "pg") await dropCreated();
rmSync(dir, { recursive: true, force: true });
