// Every setting of a cluster, read from the environment in this one place, with its
// default. docs/cluster.md lists them for operators; `standing cluster up` passes them on.
import { StandingError } from "../errors.js";

export type StaleMode = "refuse" | "serve";

export interface ClusterSettings {
  /** NATS servers, comma-separated (STANDING_NATS_URL). */
  readonly natsUrl: string;
  /**
   * The cluster's name (STANDING_CLUSTER): the prefix of its streams, consumers, buckets
   * and subjects, so that two clusters (or two test runs) can share one NATS server.
   */
  readonly name: string;
  /** How many partitions records are spread over (STANDING_PARTITIONS); fixed when the cluster is first set up. */
  readonly partitions: number;
  /** How long an evaluator may hold a message before JetStream gives it to another (STANDING_ACK_WAIT_MS). */
  readonly ackWaitMs: number;
  /** How long a partition lease lasts without renewal (STANDING_LEASE_MS): a dead evaluator's partitions are free after it. */
  readonly leaseMs: number;
  /** Records an evaluator applies in one transaction, at most (STANDING_EVALUATOR_BATCH). */
  readonly evaluatorBatch: number;
  /** How far behind the change feed a checkpoint node may fall before it says so (STANDING_MAX_STALENESS_MS). */
  readonly maxStalenessMs: number;
  /** What a node behind by more than that does with checks: refuse them (503) or serve and flag them (STANDING_STALE). */
  readonly staleMode: StaleMode;
  /**
   * How often a process that is not the leader of a one-actor role (the scheduler) tries
   * to become it, and how often the leader checks that it still is (STANDING_LEADER_RETRY_MS).
   */
  readonly leaderRetryMs: number;
}

export const CLUSTER_DEFAULTS = {
  natsUrl: "nats://127.0.0.1:4222",
  name: "standing",
  partitions: 16,
  ackWaitMs: 30_000,
  leaseMs: 6_000,
  evaluatorBatch: 2_000,
  maxStalenessMs: 5_000,
  staleMode: "refuse",
  leaderRetryMs: 1_000,
} as const satisfies ClusterSettings;

/** The environment variables, by setting (docs/cluster.md is generated from the same list by hand: keep them in step). */
export const CLUSTER_ENV = {
  natsUrl: "STANDING_NATS_URL",
  name: "STANDING_CLUSTER",
  partitions: "STANDING_PARTITIONS",
  ackWaitMs: "STANDING_ACK_WAIT_MS",
  leaseMs: "STANDING_LEASE_MS",
  evaluatorBatch: "STANDING_EVALUATOR_BATCH",
  maxStalenessMs: "STANDING_MAX_STALENESS_MS",
  staleMode: "STANDING_STALE",
  leaderRetryMs: "STANDING_LEADER_RETRY_MS",
} as const satisfies Record<keyof ClusterSettings, string>;

function positive(env: NodeJS.ProcessEnv, key: keyof ClusterSettings, max: number): number {
  const name = CLUSTER_ENV[key];
  const text = env[name];
  if (text === undefined || text === "") return CLUSTER_DEFAULTS[key] as number;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new StandingError("bad-request", `${name}=${text}: give a whole number from 1 to ${max}`, { [name]: text });
  return n;
}

/** The settings from the environment (default: this process's), overridden by `overrides`; throws bad-request naming the variable at fault. */
export function clusterSettings(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ClusterSettings> = {}): ClusterSettings {
  const name = env[CLUSTER_ENV.name] || CLUSTER_DEFAULTS.name;
  // The name becomes part of NATS subjects and stream names: letters, digits, - and _ only.
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) throw new StandingError("bad-request", `${CLUSTER_ENV.name}=${name}: use 1 to 32 letters, digits, - or _`, { [CLUSTER_ENV.name]: name });
  const stale = env[CLUSTER_ENV.staleMode] || CLUSTER_DEFAULTS.staleMode;
  if (stale !== "refuse" && stale !== "serve") throw new StandingError("bad-request", `${CLUSTER_ENV.staleMode}=${stale}: refuse or serve`, { [CLUSTER_ENV.staleMode]: stale });
  return {
    natsUrl: env[CLUSTER_ENV.natsUrl] || CLUSTER_DEFAULTS.natsUrl,
    name,
    partitions: positive(env, "partitions", 1024),
    ackWaitMs: positive(env, "ackWaitMs", 3_600_000),
    leaseMs: positive(env, "leaseMs", 600_000),
    evaluatorBatch: positive(env, "evaluatorBatch", 100_000),
    maxStalenessMs: positive(env, "maxStalenessMs", 86_400_000),
    staleMode: stale,
    leaderRetryMs: positive(env, "leaderRetryMs", 60_000),
    ...overrides,
  };
}
