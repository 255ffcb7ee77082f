// The cluster's commands: `standing evaluator` (applies the record stream's partitions)
// and `standing cluster up` (a local cluster of API nodes and evaluators), and what
// `serve --cluster` adds to a server. Registered by cli/main.ts; settings come from the
// environment (src/cluster/settings.ts, docs/cluster.md).
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { StandingError } from "../errors.js";
import { Evaluator } from "../cluster/evaluator.js";
import { openCluster, type Cluster } from "../cluster/nats.js";
import { clusterSettings, type ClusterSettings } from "../cluster/settings.js";
import { publishReevaluation, workReevaluations } from "../cluster/reevaluation.js";
import { runSchedulerWhenLeader, type SchedulerRole } from "../cluster/roles.js";
import type { NoticeChannel } from "../notices/outbox.js";
import type { Standing, StandingOptions } from "../standing.js";
import { parseStoreUrl } from "../store/open.js";
import { openStanding, storeLabel, storeUrl, type CommonOptions, type Output } from "./context.js";
import { noticeChannelsFor } from "./notices.js";
import { whileStorageStarts } from "./serve-options.js";

type Run = (json: boolean | undefined, fn: (out: Output) => number | void | Promise<number | void>) => () => Promise<void>;

/** A cluster needs PostgreSQL: the one store every node shares. */
export function requireSharedStore(o: CommonOptions, what: string): void {
  if (parseStoreUrl(storeUrl(o)).kind !== "postgres") {
    throw new StandingError("bad-request", `${what} needs a PostgreSQL store that every node shares: give --store postgres://… or STANDING_STORE`, { store: storeLabel(o) });
  }
}

/**
 * A process of a cluster: the connection to NATS first, then the Standing, whose full
 * re-evaluations are queued for the evaluators to share instead of run here.
 */
export async function openClusterProcess(
  o: CommonOptions,
  name: string,
  waitMs = 0,
  /** The change feed a checkpoint node follows on JetStream, and its staleness bound (src/cluster/node.ts). */
  feed?: (cluster: Cluster) => Pick<StandingOptions, "feed" | "feedPollMs" | "staleness">,
): Promise<{ cluster: Cluster; standing: Standing; settings: ClusterSettings }> {
  const settings = clusterSettings();
  const cluster = await openCluster(settings, { name, waitMs });
  const standing: Standing = openStanding(o, { ...feed?.(cluster), shareReevaluation: (ref, at) => publishReevaluation(cluster, standing, ref, at) });
  return { cluster, standing, settings };
}

/** The one-actor work every process of a cluster contends for: the scheduler and notice delivery, on the leader only. */
export function leaderRoles(s: Standing, o: CommonOptions, settings: ClusterSettings, channels: readonly NoticeChannel[]): SchedulerRole {
  return runSchedulerWhenLeader(s, storeUrl(o), { channels, settings, onChange: (leader) => process.stdout.write(`${new Date().toISOString()} ${leader ? "leads" : "no longer leads"} the scheduler and notice delivery\n`) });
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
        // An evaluator may start before NATS does (or while it restarts): it waits a minute for it.
        const { cluster, standing: s, settings } = await openClusterProcess(o, "standing-evaluator", 60_000);
        await whileStorageStarts("loading the index", () => s.start());
        const log = (line: string): void => {
          process.stdout.write(`${new Date().toISOString()} ${line}\n`);
        };
        const ev = new Evaluator(cluster, s, {
          ...(o.partitions !== undefined ? { partitions: parsePartitions(o.partitions, settings.partitions) } : {}),
          onLease: (e) => log(`${e.held ? "took" : "gave up"} partition ${e.partition} (epoch ${e.epoch})`),
          onError: (p, e) => log(`partition ${p}: ${(e as Error).message} (handed back; it comes again)`),
        });
        await ev.start();
        // Pages of full re-evaluations, shared by every evaluator; and the leader's work, if this one leads.
        const pages = new AbortController();
        const reevaluating = workReevaluations(cluster, s, { signal: pages.signal, onError: (e) => log(`re-evaluation: ${(e as Error).message}`) });
        const role = leaderRoles(s, o, settings, noticeChannelsFor(o));
        log(`evaluator ${ev.id} on cluster "${settings.name}" (${settings.partitions} partitions), store ${storeLabel(o)}, NATS ${settings.natsUrl}`);
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            pages.abort();
            void ev
              .stop()
              .then(() => reevaluating)
              .then(() => role.stop())
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

  const cluster = program.command("cluster").description("a local cluster: API nodes and evaluators on one PostgreSQL database and the local NATS");
  common(cluster.command("up"))
    .description("start API nodes and evaluators against the store and NATS (settings from the environment, docs/cluster.md), with the demo loaded; Ctrl-C stops them all")
    .option("--api <n>", "API nodes", (v) => Number.parseInt(v, 10), 2)
    .option("--evaluators <n>", "evaluators", (v) => Number.parseInt(v, 10), 2)
    .option("--port <n>", "the first API node's port; the others follow it", (v) => Number.parseInt(v, 10), 8080)
    .option("--host <host>", "interface the API nodes listen on", "127.0.0.1")
    .option("--subjects <n>", "demo population size (on a new database)", (v) => Number.parseInt(v, 10), 2_000)
    .option("--no-demo", "no demo: the database must have a policy already")
    .action(async (o: CommonOptions & { api: number; evaluators: number; port: number; host: string; subjects: number; demo: boolean }) =>
      run(o.json, async () => {
        requireSharedStore(o, "cluster up");
        for (const [name, n] of [["--api", o.api], ["--evaluators", o.evaluators]] as const) {
          if (!Number.isInteger(n) || n < 0 || n > 32) throw new StandingError("bad-request", `${name} ${String(n)}: give 0 to 32`, { [name]: n });
        }
        if (o.api < 1) throw new StandingError("bad-request", "--api: a cluster needs at least one API node", {});
        const settings = clusterSettings();
        // Reachable before anything starts, so a missing NATS is said once, plainly.
        await (await openCluster(settings, { name: "standing-cluster-up" })).close();
        const url = storeUrl(o);
        const children: { name: string; child: ChildProcess }[] = [];
        let stopping = false;
        const start = (name: string, args: string[]): ChildProcess => {
          const child = spawn(process.execPath, [BIN, ...args, "--store", url], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
          children.push({ name, child });
          const prefix = (chunk: Buffer, to: NodeJS.WriteStream): void => {
            for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") to.write(`${name.padEnd(12)}| ${line}\n`);
          };
          child.stdout?.on("data", (d: Buffer) => prefix(d, process.stdout));
          child.stderr?.on("data", (d: Buffer) => prefix(d, process.stderr));
          child.once("exit", (code, signal) => {
            if (!stopping) process.stderr.write(`${name.padEnd(12)}| exited (${signal ?? `code ${code}`})\n`);
          });
          return child;
        };
        const serving = (child: ChildProcess): Promise<string> =>
          new Promise((resolve, reject) => {
            let seen = "";
            child.stdout?.on("data", (d: Buffer) => {
              seen += d.toString("utf8");
              const m = /serving at (http:\/\/\S+)/.exec(seen);
              if (m) resolve(m[1] as string);
            });
            child.once("exit", () => reject(new StandingError("storage-unavailable", "an API node stopped before it served: see its lines above", {})));
          });
        const urls: string[] = [];
        try {
          // The first node loads the demo (on a new database) before the others start.
          const first = start("api-1", ["serve", "--cluster", "--port", String(o.port), "--host", o.host, "--log-level", "warn", ...(o.demo ? ["--demo", "--subjects", String(o.subjects)] : [])]);
          urls.push(await serving(first));
          const rest = [];
          for (let i = 2; i <= o.api; i++) rest.push(serving(start(`api-${i}`, ["serve", "--cluster", "--port", String(o.port + i - 1), "--host", o.host, "--log-level", "warn"])));
          for (let i = 1; i <= o.evaluators; i++) start(`evaluator-${i}`, ["evaluator"]);
          urls.push(...(await Promise.all(rest)));
        } catch (e) {
          stopping = true;
          for (const c of children) c.child.kill("SIGTERM");
          throw e;
        }
        process.stdout.write(
          [
            "",
            `cluster "${settings.name}" is up: ${o.api} API node${o.api === 1 ? "" : "s"}, ${o.evaluators} evaluator${o.evaluators === 1 ? "" : "s"}, ${settings.partitions} partitions`,
            ...urls.map((u, i) => `  api-${i + 1}: ${u}   (health ${u}/healthz, records POST ${u}/v1/records answer 202 with a receipt)`),
            `  store: ${storeLabel(o)}   NATS: ${settings.natsUrl}`,
            "  keys: printed by api-1 above (the demo's), or create them with standing keys create --store …",
            "  Ctrl-C stops every node.",
            "",
          ].join("\n"),
        );
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            stopping = true;
            const exits = children.map((c) => (c.child.exitCode !== null || c.child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.child.once("exit", () => r()))));
            for (const c of children) c.child.kill("SIGTERM");
            void Promise.all(exits).then(() => resolve());
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
      })(),
    );
}

/** The CLI's own entry point, which cluster up starts again for each node. */
const BIN = fileURLToPath(new URL("../../bin/standing.js", import.meta.url));
