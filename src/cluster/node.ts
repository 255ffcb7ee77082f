// A checkpoint node: an API server of a cluster whose decision index follows the change
// feed on NATS JetStream instead of polling the database (docs/cluster.md, "Checkpoint
// nodes and the change feed"). `serve --cluster` opens one with `openCheckpointNode`
// and starts it with `startCheckpointNode` once the server is loaded.
import { StandingError } from "../errors.js";
import { ChangeRelay, JetStreamChangeFeed, type RelayOptions } from "../feed/jetstream.js";
import { openStanding, type Standing, type StandingConfig, type StandingOptions } from "../standing.js";
import { openStore, parseStoreUrl } from "../store/open.js";
import type { Store } from "../store/types.js";
import { openCluster, type Cluster } from "./nats.js";
import { clusterSettings, type ClusterSettings } from "./settings.js";

/** How often a checkpoint node reads the feed's buffer, in ms: the follower's share of the latency (the relay polls the outbox every 50 ms). */
export const CHECKPOINT_FEED_POLL_MS = 50;

/** An error logger that says a failure once, then at most every ten seconds with how often it recurred (NATS down would otherwise print twenty lines a second). */
function throttled(what: string): (e: unknown) => void {
  let last = 0;
  let quiet = 0;
  return (e) => {
    const now = Date.now();
    if (now - last < 10_000) {
      quiet++;
      return;
    }
    console.error(`standing: ${what} failed${quiet > 0 ? ` (${quiet} more times since the last message)` : ""}; trying again: ${(e as Error).message}`);
    last = now;
    quiet = 0;
  };
}

export interface CheckpointNode {
  readonly standing: Standing;
  readonly cluster: Cluster;
  readonly store: Store;
}

/** The store of a cluster: one that several processes share and that offers a lease (PostgreSQL); anything else is refused. */
function clusterStore(store: string | Store): Store {
  if (typeof store === "string" && parseStoreUrl(store).kind !== "postgres") {
    throw new StandingError("bad-request", `--cluster needs a PostgreSQL store (--store postgres://USER@HOST:PORT/DATABASE or STANDING_STORE); ${store} is an embedded SQLite file, which one process keeps to itself`, { store: "sqlite" });
  }
  const opened = typeof store === "string" ? openStore(store) : store;
  if (!opened.exclusiveLease) throw new StandingError("bad-request", "--cluster needs a PostgreSQL store: this store is not shared between processes", {});
  return opened;
}

/** What a checkpoint node's Standing is opened with: the JetStream feed, read every 50 ms, and the cluster's staleness bound. */
export function checkpointOptions(cluster: Cluster): Pick<StandingOptions, "feed" | "feedPollMs" | "staleness"> {
  return {
    feed: new JetStreamChangeFeed(cluster, { onError: throttled("following the change stream") }),
    feedPollMs: CHECKPOINT_FEED_POLL_MS,
    staleness: { maxMs: cluster.settings.maxStalenessMs, mode: cluster.settings.staleMode },
  };
}

/**
 * Connects to the cluster (settings from the environment unless given) and builds a
 * Standing over the PostgreSQL store that follows the JetStream change feed, with the
 * cluster's staleness bound (STANDING_MAX_STALENESS_MS, STANDING_STALE).
 */
export async function openCheckpointNode(config: StandingConfig, settings: ClusterSettings = clusterSettings()): Promise<CheckpointNode> {
  const store = clusterStore(config.store);
  let cluster: Cluster;
  try {
    cluster = await openCluster(settings, { name: "standing checkpoint node" });
  } catch (e) {
    if (typeof config.store === "string") await store.close();
    throw e;
  }
  const node = checkpointOptions(cluster);
  const standing = openStanding({
    ...config,
    store,
    feed: node.feed,
    feedPollMs: config.feedPollMs ?? CHECKPOINT_FEED_POLL_MS,
    staleness: config.staleness ?? { maxMs: settings.maxStalenessMs, mode: settings.staleMode },
  });
  return { standing, cluster, store };
}

/**
 * Starts a node's part in the feed: a relay candidate (the one holding the lease copies
 * the outbox onto the stream) and the follower. `store` is the node's store, or its URL
 * (the relay then reads the outbox through a store of its own, closed with it). Returns a
 * stop function that stops the relay and gives up its lease; close the NATS connection
 * and the Standing after it.
 */
export async function startCheckpointNode(standing: Standing, cluster: Cluster, store: Store | string, options: RelayOptions = {}): Promise<() => Promise<void>> {
  const own = typeof store === "string" ? clusterStore(store) : undefined;
  const relay = new ChangeRelay(cluster, own ?? (store as Store), { onError: throttled("relaying the outbox to the change stream"), ...options });
  relay.start();
  await standing.follow();
  return async () => {
    await relay.stop();
    await own?.close();
  };
}
