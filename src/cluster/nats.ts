// The cluster's connection to NATS and the JetStream resources it uses, each named
// from the cluster's name (settings.ts). Setting them up is idempotent: every process
// that starts calls `ensure`, and the first one creates what is missing. Only features
// NATS 2.9 has are used (work-queue streams, pull consumers, KV with a bucket TTL).
import { createHash } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { StandingError } from "../errors.js";
import type { ClusterSettings } from "./settings.js";

/** Names of the streams, subjects and buckets of one cluster. */
export interface ClusterNames {
  /** Records waiting for an evaluator: `<name>.records.<partition>.<record key>`, a work queue. */
  readonly recordsStream: string;
  recordSubject(partition: number, key: string): string;
  /** One record's subject in whichever partition it went to. */
  recordInAnyPartition(key: string): string;
  /** What one partition's consumer takes. */
  partitionFilter(partition: number): string;
  /** The durable consumer of one partition. */
  partitionConsumer(partition: number): string;
  /** The change feed as JetStream carries it: `<name>.changes`. */
  readonly changesStream: string;
  readonly changesSubject: string;
  /** Work shared by evaluators (re-evaluation pages): `<name>.work.>`, a work queue. */
  readonly workStream: string;
  readonly workSubject: string;
  /** KV buckets: partition leases, live evaluators, batch manifests, the cluster's fixed settings. */
  readonly leasesBucket: string;
  readonly membersBucket: string;
  readonly batchesBucket: string;
  readonly configBucket: string;
}

export function clusterNames(name: string): ClusterNames {
  const upper = name.toUpperCase().replace(/-/g, "_");
  return {
    recordsStream: `${upper}_RECORDS`,
    recordSubject: (p, key) => `${name}.records.${p}.${key}`,
    recordInAnyPartition: (key) => `${name}.records.*.${key}`,
    partitionFilter: (p) => `${name}.records.${p}.>`,
    partitionConsumer: (p) => `evaluate-${p}`,
    changesStream: `${upper}_CHANGES`,
    changesSubject: `${name}.changes`,
    workStream: `${upper}_WORK`,
    workSubject: `${name}.work`,
    leasesBucket: `${name}-leases`,
    membersBucket: `${name}-members`,
    batchesBucket: `${name}-batches`,
    configBucket: `${name}-config`,
  };
}

/**
 * The partition of an identifier: records about one identifier always go to one
 * partition, so one evaluator at a time applies them, in the order they were accepted.
 */
export function partitionOf(scheme: string, value: string, partitions: number): number {
  const h = createHash("sha256").update(scheme).update("\u0000").update(value).digest();
  return h.readUInt32BE(0) % partitions;
}

/** A token safe in a NATS subject that names one record of one source (the stream keeps one message per record). */
export function recordKey(source: string, id: string): string {
  return createHash("sha256").update(source).update("\u0000").update(id).digest("hex").slice(0, 32);
}

export interface Cluster {
  readonly settings: ClusterSettings;
  readonly names: ClusterNames;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kvm: Kvm;
  kv(bucket: string): Promise<KV>;
  close(): Promise<void>;
}

/** Connects to NATS (waiting for it, up to `timeoutMs`) and makes sure the cluster's streams and buckets exist. */
export async function openCluster(settings: ClusterSettings, options: { readonly name?: string; readonly timeoutMs?: number; readonly waitMs?: number } = {}): Promise<Cluster> {
  let nc: NatsConnection | undefined;
  // A process that may start before NATS (an evaluator beside a restarting server) waits for it, up to `waitMs`.
  const until = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    nc = await tryConnect(settings, options);
    if (nc || Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (!nc) throw new StandingError("storage-unavailable", `cannot reach NATS at ${settings.natsUrl} (connection refused); start nats-server -js, or set STANDING_NATS_URL`, { nats: settings.natsUrl });
  return openOn(nc, settings, options);
}

async function tryConnect(settings: ClusterSettings, options: { readonly name?: string; readonly timeoutMs?: number }): Promise<NatsConnection | undefined> {
  try {
    return await connect({
      servers: settings.natsUrl.split(",").map((s) => s.trim()),
      name: options.name ?? "standing",
      timeout: options.timeoutMs ?? 5_000,
      // A restarted nats-server is waited for, not given up on: the streams are on its disk.
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
  } catch {
    return undefined;
  }
}

async function openOn(nc: NatsConnection, settings: ClusterSettings, options: { readonly timeoutMs?: number }): Promise<Cluster> {
  const jsm = await jetstreamManager(nc, { timeout: options.timeoutMs ?? 5_000 });
  const js = jetstream(nc, { timeout: options.timeoutMs ?? 5_000 });
  const kvm = new Kvm(nc);
  const names = clusterNames(settings.name);
  const buckets = new Map<string, Promise<KV>>();
  const cluster: Cluster = {
    settings,
    names,
    nc,
    js,
    jsm,
    kvm,
    kv(bucket) {
      let kv = buckets.get(bucket);
      if (!kv) {
        kv = bucket === names.leasesBucket || bucket === names.membersBucket ? kvm.create(bucket, { ttl: settings.leaseMs, history: 1 }) : kvm.create(bucket, { history: 1 });
        buckets.set(bucket, kv);
      }
      return kv;
    },
    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
  try {
    await ensure(cluster);
  } catch (e) {
    await cluster.close();
    throw e;
  }
  return cluster;
}

async function ensureStream(jsm: JetStreamManager, name: string, config: Parameters<JetStreamManager["streams"]["add"]>[0]): Promise<void> {
  try {
    await jsm.streams.info(name);
  } catch {
    try {
      await jsm.streams.add({ ...config, name });
    } catch (e) {
      // Another process created it meanwhile.
      await jsm.streams.info(name).catch(() => {
        throw e;
      });
    }
  }
}

async function ensure(c: Cluster): Promise<void> {
  const { jsm, names, settings } = c;
  // The partition count is fixed when the cluster is set up: records already routed by one count must not be looked for under another.
  const config = await c.kv(names.configBucket);
  // A bucket another process has just created may not answer its first reads at once: asked again.
  const read = async (): Promise<Awaited<ReturnType<typeof config.get>>> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await config.get("partitions");
      } catch (e) {
        if (attempt >= 4) throw e;
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  };
  const fixed = await read();
  if (!fixed || fixed.operation !== "PUT") {
    await config.create("partitions", String(settings.partitions)).catch(() => undefined);
  }
  const agreed = Number((await read())?.string());
  if (agreed !== settings.partitions) {
    throw new StandingError("bad-request", `the cluster "${settings.name}" was set up with ${agreed} partitions; STANDING_PARTITIONS=${settings.partitions} differs`, { partitions: settings.partitions, cluster: agreed });
  }
  await ensureStream(jsm, names.recordsStream, { name: names.recordsStream, subjects: [`${settings.name}.records.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: 120_000_000_000 });
  await ensureStream(jsm, names.changesStream, { name: names.changesStream, subjects: [names.changesSubject, `${names.changesSubject}.>`], retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: 7 * 24 * 3600 * 1_000_000_000 });
  await ensureStream(jsm, names.workStream, { name: names.workStream, subjects: [`${names.workSubject}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  for (let p = 0; p < settings.partitions; p++) {
    const durable = names.partitionConsumer(p);
    const exists = await jsm.consumers.info(names.recordsStream, durable).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    await jsm.consumers
      .add(names.recordsStream, {
        durable_name: durable,
        filter_subject: names.partitionFilter(p),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: settings.ackWaitMs * 1_000_000,
        max_ack_pending: settings.evaluatorBatch,
        max_deliver: -1,
      })
      .catch(async (e: unknown) => {
        if (!(await jsm.consumers.info(names.recordsStream, durable).then(() => true, () => false))) throw e;
      });
  }
}
