// The cluster's JetStream resources on a real NATS server: set up idempotently by any
// number of processes, the partition count fixed by the first, settings read and
// refused by name.
import { afterAll, describe, expect, it } from "vitest";
import { openCluster, partitionOf } from "./nats.js";
import { clusterSettings } from "./settings.js";
import { dropClusters, freshClusterName, TEST_NATS_URL } from "./test-helpers.js";

afterAll(dropClusters);

describe("cluster settings", () => {
  it("given no environment, when read, then the documented defaults apply", () => {
    const s = clusterSettings({});
    expect(s).toMatchObject({ natsUrl: "nats://127.0.0.1:4222", name: "standing", partitions: 16, staleMode: "refuse" });
  });

  it("given a bad value, when read, then the variable at fault is named", () => {
    expect(() => clusterSettings({ STANDING_PARTITIONS: "0" })).toThrow(/STANDING_PARTITIONS=0/);
    expect(() => clusterSettings({ STANDING_PARTITIONS: "2.5" })).toThrow(/STANDING_PARTITIONS/);
    expect(() => clusterSettings({ STANDING_STALE: "maybe" })).toThrow(/STANDING_STALE=maybe/);
    expect(() => clusterSettings({ STANDING_CLUSTER: "a.b" })).toThrow(/STANDING_CLUSTER=a\.b/);
  });
});

describe("openCluster", () => {
  it("given two processes setting up one cluster at once, then both succeed and every partition has its consumer", async () => {
    const settings = clusterSettings({ STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: freshClusterName("setup"), STANDING_PARTITIONS: "4" });
    const [a, b] = await Promise.all([openCluster(settings), openCluster(settings)]);
    try {
      const consumers = [];
      for await (const c of a.jsm.consumers.list(a.names.recordsStream)) consumers.push(c.name);
      expect(consumers.sort()).toEqual(["evaluate-0", "evaluate-1", "evaluate-2", "evaluate-3"]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("given a cluster set up with 4 partitions, when opened with 8, then it is refused naming both", async () => {
    const name = freshClusterName("parts");
    const a = await openCluster(clusterSettings({ STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: name, STANDING_PARTITIONS: "4" }));
    await a.close();
    await expect(openCluster(clusterSettings({ STANDING_NATS_URL: TEST_NATS_URL, STANDING_CLUSTER: name, STANDING_PARTITIONS: "8" }))).rejects.toThrow(/set up with 4 partitions; STANDING_PARTITIONS=8/);
  });

  it("given no NATS on the address, when opened, then the error names the address and what to do", async () => {
    await expect(openCluster(clusterSettings({ STANDING_NATS_URL: "nats://127.0.0.1:1" }), { timeoutMs: 1000 })).rejects.toThrow(/cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  });

  it("spreads identifiers over every partition and keeps one identifier on one", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(partitionOf("national-id", `demo-${i}`, 16));
    expect(seen.size).toBe(16);
    expect(partitionOf("national-id", "x", 16)).toBe(partitionOf("national-id", "x", 16));
    expect(partitionOf("a", "bc", 1024)).not.toBe(partitionOf("ab", "c", 1024));
  });
});
