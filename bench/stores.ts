// `npm run bench:stores` (a few minutes; `-- --quick` under one): the same run on the
// embedded store and on PostgreSQL, side by side: durable ingest (batches of 1,000,
// each acknowledged only once committed), a full re-evaluation after a policy change,
// and a cold start (the decision index loaded from the store). PostgreSQL runs on the
// server the machine provides ($STANDING_BENCH_PG, default the loopback one), in a
// database made for the run and dropped after it. Results: bench/results/stores.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpus, loadavg } from "node:os";
import pg from "pg";
import { runDurable, type DurableResult } from "./durable.js";
import { PgStore } from "../src/store/postgres/store.js";
import { log } from "./util.js";

const quick = process.argv.includes("--quick");
const cfg = quick ? { subjects: 500, records: 5_000, budget: 30 } : { subjects: 4_000, records: 40_000, budget: 240 };
const admin = process.env.STANDING_BENCH_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";
const name = `standing_bench_${process.pid}`;
const url = (() => {
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
})();

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const rows: { store: string; r: DurableResult }[] = [];
log(`stores: ${cfg.records} records about ${cfg.subjects} subjects on each store`);
log("sqlite: durable ingest, re-evaluation, cold start");
rows.push({ store: "sqlite", r: await runDurable(cfg.subjects, cfg.records, cfg.budget) });
await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
try {
  log("postgres: durable ingest, re-evaluation, cold start");
  rows.push({ store: "postgres", r: await runDurable(cfg.subjects, cfg.records, cfg.budget, { makeStore: async (dir) => new PgStore(url, { keyFile: join(dir, "bench.pem") }).open() }) });
} finally {
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

const fmt = (n: number, d = 0): string => n.toLocaleString("en", { maximumFractionDigits: d, minimumFractionDigits: d });
const table = [
  "| | " + rows.map((x) => x.store).join(" | ") + " |",
  "|---|" + rows.map(() => "---:").join("|") + "|",
  "| durable ingest, records/s | " + rows.map((x) => fmt(x.r.ingestPerSecond)).join(" | ") + " |",
  "| full re-evaluation, subjects/s | " + rows.map((x) => fmt(x.r.reevalSubjectsPerSecond)).join(" | ") + " |",
  "| cold start (index from the store), s | " + rows.map((x) => fmt(x.r.buildIndexSeconds, 2)).join(" | ") + " |",
  "| records ingested | " + rows.map((x) => fmt(x.r.records)).join(" | ") + " |",
  "| subjects re-evaluated | " + rows.map((x) => fmt(x.r.reevalSubjects)).join(" | ") + " |",
].join("\n");
process.stdout.write(table + "\n");
const results = new URL("./results/", import.meta.url);
mkdirSync(results, { recursive: true });
writeFileSync(new URL(`stores${quick ? "-quick" : ""}.json`, results), JSON.stringify({ at: new Date().toISOString(), cpus: cpus().length, load: loadavg(), cfg, rows }, null, 2) + "\n");
