// The cluster's commands: `standing evaluator` (applies the record stream's partitions)
// and `standing cluster up` (a local cluster of API nodes and evaluators), and what
// `serve --cluster` adds to a server. Registered by cli/main.ts; settings come from the
// environment (src/cluster/settings.ts, docs/cluster.md).
import type { Command } from "commander";
import { StandingError } from "../errors.js";
import { Evaluator } from "../cluster/evaluator.js";
import { ClusterIntake } from "../cluster/intake.js";
import { openCluster, type Cluster } from "../cluster/nats.js";
import { clusterSettings } from "../cluster/settings.js";
import type { Standing } from "../standing.js";
import { parseStoreUrl } from "../store/open.js";
import { openStanding, storeLabel, storeUrl, type CommonOptions, type Output } from "./context.js";

type Run = (json: boolean | undefined, fn: (out: Output) => number | void | Promise<number | void>) => () => Promise<void>;

/** A cluster needs PostgreSQL: the one store every node shares. */
export function requireSharedStore(o: CommonOptions, what: string): void {
  if (parseStoreUrl(storeUrl(o)).kind !== "postgres") {
    throw new StandingError("bad-request", `${what} needs a PostgreSQL store that every node shares: give --store postgres://… or STANDING_STORE`, { store: storeLabel(o) });
  }
}

/** What `serve --cluster` opens beside its server: the connection to NATS and the record intake. */
export async function openClusterNode(s: Standing): Promise<{ cluster: Cluster; intake: ClusterIntake }> {
  const cluster = await openCluster(clusterSettings(), { name: "standing-api" });
  return { cluster, intake: new ClusterIntake(cluster, s) };
}

/** Parses "0-3,8,10-11" into partitions. */
function parsePartitions(text: string, count: number): number[] {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const lo = m ? Number(m[1]) : Number.NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo > hi || hi >= count) throw new StandingError("bad-request", `--partitions ${text}: give partitions from 0 to ${count - 1}, e.g. 0-3,8`, { partitions: text });
    for (let p = lo; p <= hi; p++) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}

export function registerClusterCommands(program: Command, common: (c: Command) => Command, run: Run): void {
  common(program.command("evaluator"))
    .description("apply records from the cluster's stream to the store: takes a fair share of the partitions, and a dead evaluator's")
    .option("--partitions <list>", "only these partitions, e.g. 0-7 (default: any)")
    .action(async (o: CommonOptions & { partitions?: string }) =>
      run(o.json, async () => {
        requireSharedStore(o, "an evaluator");
        const settings = clusterSettings();
        const s = openStanding(o);
        await s.start();
        const cluster = await openCluster(settings, { name: "standing-evaluator" });
        const log = (line: string): void => {
          process.stdout.write(`${new Date().toISOString()} ${line}\n`);
        };
        const ev = new Evaluator(cluster, s, {
          ...(o.partitions !== undefined ? { partitions: parsePartitions(o.partitions, settings.partitions) } : {}),
          onLease: (e) => log(`${e.held ? "took" : "gave up"} partition ${e.partition} (epoch ${e.epoch})`),
          onError: (p, e) => log(`partition ${p}: ${(e as Error).message} (handed back; it comes again)`),
        });
        await ev.start();
        log(`evaluator ${ev.id} on cluster "${settings.name}" (${settings.partitions} partitions), store ${storeLabel(o)}, NATS ${settings.natsUrl}`);
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            void ev
              .stop()
              .then(() => cluster.close())
              .then(() => s.close())
              .finally(resolve);
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
        const st = ev.statistics();
        log(`stopped: ${st.applied} lines applied in ${st.batches} batches, ${st.redelivered} redelivered lines recognised`);
      })(),
    );
}
