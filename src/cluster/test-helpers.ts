// For tests of the cluster: a cluster name of their own on the machine's NATS server
// (STANDING_TEST_NATS, default the loopback one), dropped afterwards, and, for tests
// that kill or restart NATS, a nats-server of their own on another port in a
// temporary folder.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { clusterNames } from "./nats.js";

export const TEST_NATS_URL = process.env.STANDING_TEST_NATS ?? "nats://127.0.0.1:4222";

let n = 0;
const names: { url: string; name: string }[] = [];

/** A cluster name no other test uses. */
export function freshClusterName(label = "t", url = TEST_NATS_URL): string {
  const name = `${label.replace(/[^A-Za-z0-9]/g, "").slice(0, 8)}${process.pid}${Date.now().toString(36)}${n++}`.toLowerCase();
  names.push({ url, name });
  return name;
}

/** Deletes the streams and buckets of every cluster name this process handed out. */
export async function dropClusters(): Promise<void> {
  for (const { url, name } of names.splice(0)) {
    const nc = await connect({ servers: url, timeout: 2_000 }).catch(() => undefined);
    if (!nc) continue;
    try {
      const jsm = await jetstreamManager(nc);
      const c = clusterNames(name);
      const streams = [c.recordsStream, c.changesStream, c.workStream, ...[c.leasesBucket, c.membersBucket, c.batchesBucket, c.configBucket].map((b) => `KV_${b}`)];
      for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
    } finally {
      await nc.close();
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const port = typeof a === "object" && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface OwnNats {
  readonly url: string;
  readonly port: number;
  /** Stops it (SIGTERM, waiting for it to exit). */
  stop(): Promise<void>;
  /** kill -9. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store folder. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
}

/** A nats-server with JetStream of this test's own, on a free port, storing in a temporary folder. */
export async function startOwnNats(): Promise<OwnNats> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "standing-nats-"));
  const url = `nats://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const exited = (c: ChildProcess): Promise<void> => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once("exit", () => resolve())));
  const ready = async (): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const nc = await connect({ servers: url, timeout: 500 }).catch(() => undefined);
      if (nc) {
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          return;
        } catch {
          // JetStream not up yet
        } finally {
          await nc.close();
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`nats-server on ${url} did not start`);
  };
  const own: OwnNats = {
    url,
    port,
    async start() {
      child = spawn(process.env.STANDING_NATS_SERVER ?? "nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], { stdio: "ignore" });
      await ready();
    },
    async stop() {
      if (!child) return;
      const c = child;
      child = undefined;
      c.kill("SIGTERM");
      await exited(c);
    },
    async kill() {
      if (!child) return;
      const c = child;
      child = undefined;
      c.kill("SIGKILL");
      await exited(c);
    },
    async dispose() {
      await own.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await own.start();
  return own;
}
