// `npm run bench:cluster` (a few minutes; `-- --quick` for a short run): a cluster of
// real processes on the machine's PostgreSQL and NATS, beside the single-process
// figures of the same run:
// - durable ingest through JetStream with 1 and with 2 evaluators (records/s from the
//   first batch sent to the last line applied), and the API node's publish rate;
// - the same records ingested by one process on the same PostgreSQL (Standing.ingest);
// - checks/s against one API node and against two at once;
// - the sizing for 1.4 bn subjects recomputed from these figures.
// Results: bench/results/cluster.json.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import autocannon from "autocannon";
import { Standing } from "../src/standing.js";
import { PgStore } from "../src/store/postgres/store.js";
import { dropCreated, freshDatabase } from "../src/store/postgres/test-helpers.js";
import { dropClusters } from "../src/cluster/test-helpers.js";
import { systemClock } from "../src/time.js";
import { build, judgment, post, settled, testCluster, type Proc, type TestCluster } from "../test/cluster-process.js";
import { log } from "./util.js";

const quick = process.argv.includes("--quick");
const RECORDS = quick ? 4_000 : 20_000;
const SUBJECTS = RECORDS / 4;
const BATCH = 2_000;
const CHECK_SECONDS = quick ? 5 : 10;

function bodies(prefix: string): string[] {
  const out: string[] = [];
  for (let from = 0; from < RECORDS; from += BATCH) {
    const lines: string[] = [];
    for (let i = from; i < Math.min(RECORDS, from + BATCH); i++) lines.push(JSON.stringify(judgment(`${prefix}-${i}`, `B${i % SUBJECTS}`)));
    out.push(lines.join("\n") + "\n");
  }
  return out;
}

interface IngestFigure {
  readonly evaluators: number;
  readonly recordsPerSecond: number;
  readonly publishPerSecond: number;
  readonly seconds: number;
}

async function clusterIngest(c: TestCluster, api: Proc, evaluators: number): Promise<IngestFigure> {
  for (let i = 1; i <= evaluators; i++) await c.evaluatorReady(`ev-${i}`);
  const t0 = performance.now();
  const receipts: string[] = [];
  for (const body of bodies(`e${evaluators}`)) {
    const r = await post(api.base as string, c.keys.source, "/v1/records", body);
    if (r.status !== 202) throw new Error(`batch refused: ${r.status} ${r.text}`);
    receipts.push((r.json as { receipt: string }).receipt);
  }
  const published = performance.now();
  for (const r of receipts) {
    const s = await settled(api.base as string, c.keys.source, r, 1_800_000);
    if (!s.done) throw new Error(`batch ${r} not done`);
  }
  const t1 = performance.now();
  return { evaluators, recordsPerSecond: RECORDS / ((t1 - t0) / 1000), publishPerSecond: RECORDS / ((published - t0) / 1000), seconds: (t1 - t0) / 1000 };
}

async function singleProcessIngest(): Promise<number> {
  const db = await freshDatabase("bench-single");
  const s = new Standing(await new PgStore(db.url, { keyFile: db.keyFile }).open(), systemClock);
  try {
    await s.start();
    const { proposal } = await s.proposePolicy(readFileSync("policies/municipal-credit.yaml", "utf8"), "bench author");
    await s.approvePolicy(proposal.id, "bench approver");
    const t0 = performance.now();
    for (const body of bodies("single")) await s.ingest(body.trim().split("\n").map((l) => JSON.parse(l) as unknown));
    return RECORDS / ((performance.now() - t0) / 1000);
  } finally {
    await s.close();
  }
}

async function checksPerSecond(c: TestCluster, nodes: readonly Proc[]): Promise<number> {
  const request = (i: number) => ({ method: "POST" as const, path: "/v1/checks", headers: { authorization: `Bearer ${c.keys.checkpoint}`, "content-type": "application/json" }, body: JSON.stringify({ subject: { scheme: "national-id", value: `B${i % SUBJECTS}` }, context: "air-travel" }) });
  const runs = nodes.map((n) => autocannon({ url: n.base as string, connections: 20, duration: CHECK_SECONDS, pipelining: 1, requests: Array.from({ length: 16 }, (_, i) => request(i * 97)) }));
  const results = await Promise.all(runs);
  return results.reduce((sum, r) => sum + r.requests.average, 0);
}

const fmt = (n: number, d = 0): string => n.toLocaleString("en", { maximumFractionDigits: d, minimumFractionDigits: d });

build();
const clusters: TestCluster[] = [];
try {
  log(`cluster: ${RECORDS} records about ${SUBJECTS} subjects, batches of ${BATCH}`);
  log("single process on PostgreSQL");
  const single = await singleProcessIngest();
  const ingest: IngestFigure[] = [];
  let checks1 = 0;
  let checks2 = 0;
  for (const n of [1, 2]) {
    log(`cluster ingest with ${n} evaluator${n === 1 ? "" : "s"}`);
    const c = await testCluster(`bench${n}`, { STANDING_PARTITIONS: "16", STANDING_LEASE_MS: "6000", STANDING_ACK_WAIT_MS: "30000" });
    clusters.push(c);
    const a = await c.api("api-1");
    ingest.push(await clusterIngest(c, a, n));
    if (n === 2) {
      const b = await c.api("api-2");
      log("checks against one API node, then two at once");
      checks1 = await checksPerSecond(c, [a]);
      checks2 = await checksPerSecond(c, [a, b]);
    }
    await c.stopAll();
  }

  // Sizing for 1.4 bn subjects and 5 bn records a year, from what was measured here.
  const perYear = 5e9;
  const average = perYear / (365 * 86_400);
  const burst = average * 20;
  const perEvaluator = ingest[0]?.recordsPerSecond ?? 1;
  const partitions = 256;
  const sizing = {
    averageRecordsPerSecond: average,
    burstRecordsPerSecond: burst,
    // Evaluators write through one PostgreSQL primary's write lock: the write rate, not the evaluator count, bounds ingest.
    databasesAtMeasuredRate: Math.ceil(burst / Math.max(perEvaluator, ingest[1]?.recordsPerSecond ?? 0)),
    evaluatorsPerDatabase: 2,
    partitions,
    checkpointNodesFor100kChecksPerSecond: Math.ceil(100_000 / Math.max(1, checks1)),
    indexBytesPerRestrictedSubject: 200,
  };

  const table = [
    "| | records/s |",
    "|---|---:|",
    `| one process, Standing.ingest on PostgreSQL | ${fmt(single)} |`,
    ...ingest.map((f) => `| cluster, ${f.evaluators} evaluator${f.evaluators === 1 ? "" : "s"} (sent → every line applied) | ${fmt(f.recordsPerSecond)} |`),
    ...ingest.map((f) => `| cluster, API node publishing (${f.evaluators} evaluator${f.evaluators === 1 ? "" : "s"} running) | ${fmt(f.publishPerSecond)} |`),
    "",
    "| checks over HTTP | checks/s |",
    "|---|---:|",
    `| one API node | ${fmt(checks1)} |`,
    `| two API nodes at once | ${fmt(checks2)} |`,
    "",
    `sizing (5 bn records a year, bursts of 20× the average): ${fmt(average)} records/s on average, ${fmt(burst)} in a burst;`,
    `  at the measured rate that is ${sizing.databasesAtMeasuredRate} PostgreSQL primaries (subjects sharded by partition) with ${sizing.evaluatorsPerDatabase} evaluators each, ${partitions} partitions;`,
    `  ${sizing.checkpointNodesFor100kChecksPerSecond} checkpoint nodes per 100 k checks/s at the measured per-node rate.`,
  ].join("\n");
  process.stdout.write(table + "\n");
  const results = new URL("./results/", import.meta.url);
  mkdirSync(results, { recursive: true });
  writeFileSync(new URL(`cluster${quick ? "-quick" : ""}.json`, results), JSON.stringify({ at: new Date().toISOString(), cpus: cpus().length, load: loadavg(), records: RECORDS, single, ingest, checks: { one: checks1, two: checks2 }, sizing }, null, 2) + "\n");
} finally {
  for (const c of clusters) await c.stopAll();
  await dropClusters();
  await dropCreated();
}
