// Parallel evaluation for a full re-evaluation (after a policy change). The main thread
// locks each page of subjects in a transaction and writes their states; worker threads
// read the page through the store's page reader (or receive its inputs, for a store
// without one), evaluate it and answer with the states as JSON text. Nothing is shared
// but messages, and the caller simply awaits each page.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { PageReaderSpec, StoredInputs, SubjectId } from "../store/types.js";
import type { Evaluated } from "./inputs.js";
import type { Instant } from "../time.js";

export interface Job {
  readonly id: number;
  /** The version's text, and the catalogue it was compiled under (none: the shipped one). */
  readonly policy: { readonly ref: string; readonly text: string; readonly catalogue?: { readonly version: string; readonly text: string } };
  readonly at: Instant;
  /**
   * The page: what is stored about each subject, read in the caller's transaction; or
   * the ids of subjects that transaction has locked, for the worker to read through the
   * store's page reader (StoreTx.pageReader), which sees what the transaction sees.
   */
  readonly page: { readonly inputs: readonly StoredInputs[] } | { readonly reader: PageReaderSpec; readonly ids: readonly SubjectId[] };
}

export type Answer = { readonly id: number; readonly evaluated: Evaluated[] } | { readonly id: number; readonly error: string };

/** The ESM entry of tsx's API, found through its package's export map (only when running from source). */
function tsxApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { exports: Record<string, { import: { default: string } }> };
  const entry = pkg.exports["./esm/api"]?.import.default;
  if (!entry) throw new Error("tsx has no ./esm/api export; run the built code (dist/) instead");
  return pathToFileURL(join(dirname(manifest), entry)).href;
}

interface Pending {
  resolve(e: Evaluated[]): void;
  reject(e: Error): void;
}

export class EvaluationPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly ready: Promise<void>;
  private nextId = 0;
  private next = 0;
  /** Set when a worker could not start or died: every later page fails at once. */
  private broken: string | undefined;
  private closed = false;

  constructor(readonly size: number) {
    if (!(size >= 1 && size <= 64)) throw new Error(`a pool has 1 to 64 workers, not ${size}`);
    // From source (tests, the bench) the worker is TypeScript and is loaded through tsx,
    // registered inside the worker.
    const fromSource = import.meta.url.endsWith(".ts");
    const entry = new URL(fromSource ? "./worker.ts" : "./worker.js", import.meta.url).href;
    const tsx = fromSource ? tsxApi() : null;
    const bootstrap = `
      const { parentPort } = require("node:worker_threads");
      (async () => {
        const tsx = ${JSON.stringify(tsx)};
        if (tsx) (await import(tsx)).register();
        await import(${JSON.stringify(entry)});
        parentPort.postMessage("ready");
      })().catch((e) => parentPort.postMessage({ id: -1, error: "the worker did not start: " + String((e && e.stack) || e) }));`;
    const started: Promise<void>[] = [];
    try {
      for (let slot = 0; slot < size; slot++) {
        const worker = new Worker(bootstrap, { eval: true });
        worker.unref();
        started.push(
          new Promise<void>((resolve, reject) => {
            worker.on("message", (m: Answer | "ready") => {
              if (m === "ready") return resolve();
              if (m.id === -1 && "error" in m) {
                this.fail(`re-evaluation worker ${slot} failed: ${m.error}`);
                return reject(new Error(this.broken));
              }
              const p = this.pending.get(m.id);
              this.pending.delete(m.id);
              if (!p) return;
              if ("error" in m) p.reject(new Error(`re-evaluation worker ${slot} failed: ${m.error}`));
              else p.resolve(m.evaluated);
            });
            worker.on("error", (e) => {
              this.fail(`re-evaluation worker ${slot} died: ${e.message}`);
              reject(new Error(this.broken));
            });
            worker.on("exit", (code) => {
              if (!this.closed) this.fail(`re-evaluation worker ${slot} exited (code ${code})`);
              reject(new Error(this.broken ?? "the pool was closed"));
            });
          }),
        );
        this.workers.push(worker);
      }
    } catch (e) {
      void this.close();
      throw e;
    }
    this.ready = Promise.all(started).then(() => undefined);
    this.ready.catch(() => undefined); // seen by whoever awaits waitUntilReady or a page
  }

  /** Resolves once every worker has loaded its code: await it before taking locks that other writers wait on. */
  waitUntilReady(): Promise<void> {
    return this.ready;
  }

  /** Evaluates a page on the next worker in turn. */
  evaluate(policy: Job["policy"], at: Instant, page: Job["page"]): Promise<Evaluated[]> {
    if (this.broken) return Promise.reject(new Error(this.broken));
    const worker = this.workers[this.next] as Worker;
    this.next = (this.next + 1) % this.size;
    const id = this.nextId++;
    return new Promise<Evaluated[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const job: Job = { id, policy, at, page };
      worker.postMessage(job);
    });
  }

  private fail(why: string): void {
    this.broken ??= why;
    for (const p of this.pending.values()) p.reject(new Error(this.broken));
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.fail("the pool was closed");
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
