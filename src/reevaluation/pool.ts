// Parallel evaluation for a full re-evaluation (after a policy change): worker threads
// read pages of subjects through their own read-only connections and evaluate them,
// while the main thread only writes the finished states (already JSON text). The shell stays synchronous, because a page's states must be written
// in the same transaction that read its inputs: the main thread waits for an answer
// with Atomics.wait on shared memory and takes it with receiveMessageOnPort, which
// both work without returning to the event loop. Workers have their own event loops,
// so they run while the main thread waits.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { SubjectId } from "../store/types.js";
import type { Evaluated } from "./inputs.js";
import type { Instant } from "../time.js";

export interface Job {
  readonly id: number;
  readonly policy: { readonly ref: string; readonly text: string };
  readonly at: Instant;
  /** The store's file, which the worker reads through its own read-only connection. */
  readonly file: string;
  /** The page: ascending ids of subjects with records. */
  readonly ids: readonly SubjectId[];
}

export type Answer = { readonly id: number; readonly evaluated: Evaluated[] } | { readonly id: number; readonly error: string };

export interface Ticket {
  readonly slot: number;
  readonly id: number;
}

/**
 * How long one page (or a worker's start) may take before the pool gives up on it. A
 * page takes well under a second; a worker that died cannot be seen from a blocked
 * thread, so this bounds how long the write lock is held in that case.
 */
const ANSWER_TIMEOUT_MS = 30_000;

interface Slot {
  readonly worker: Worker;
  readonly port: MessagePort;
  /** Answers taken so far; the shared counter runs ahead of it while answers wait. */
  taken: number;
}

/** The ESM entry of tsx's API, found through its package's export map (only when running from source). */
function tsxApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { exports: Record<string, { import: { default: string } }> };
  const entry = pkg.exports["./esm/api"]?.import.default;
  if (!entry) throw new Error("tsx has no ./esm/api export; run the built code (dist/) instead");
  return pathToFileURL(join(dirname(manifest), entry)).href;
}

export class EvaluationPool {
  private readonly slots: Slot[] = [];
  // Slots 0–63: answers posted by each worker. Slots 64–127: 1 once that worker has loaded (or failed to).
  private readonly signal = new Int32Array(new SharedArrayBuffer(4 * 128));
  private nextId = 0;
  private next = 0;
  /** Set when a worker could not start or died: every later collect fails at once. */
  private broken: string | undefined;
  private closed = false;

  constructor(readonly size: number) {
    if (!(size >= 1 && size <= 64)) throw new Error(`a pool has 1 to 64 workers, not ${size}`);
    // From source (tests, the bench) the worker is TypeScript and is loaded through tsx,
    // registered inside the worker. The bootstrap also reports a worker that fails to
    // load through the same channel as an answer, since an 'error' event cannot reach a
    // main thread that is blocked waiting.
    const fromSource = import.meta.url.endsWith(".ts");
    const entry = new URL(fromSource ? "./worker.ts" : "./worker.js", import.meta.url).href;
    const tsx = fromSource ? tsxApi() : null;
    const bootstrap = `
      const { workerData } = require("node:worker_threads");
      (async () => {
        const tsx = ${JSON.stringify(tsx)};
        if (tsx) (await import(tsx)).register();
        await import(${JSON.stringify(entry)});
      })().catch((e) => {
        const { port, signal, slot } = workerData;
        port.postMessage({ id: -1, error: "the worker did not start: " + String((e && e.stack) || e) });
        Atomics.add(signal, slot, 1);
        Atomics.notify(signal, slot);
      }).finally(() => {
        const { signal, slot } = workerData;
        Atomics.store(signal, 64 + slot, 1);
        Atomics.notify(signal, 64 + slot);
      });`;
    try {
      for (let slot = 0; slot < size; slot++) {
        const { port1, port2 } = new MessageChannel();
        const worker = new Worker(bootstrap, { eval: true, workerData: { port: port2, signal: this.signal, slot }, transferList: [port2] });
        worker.unref();
        // Seen only once the caller returns to the event loop, but then a worker that died
        // (out of memory, say) marks the pool broken instead of crashing the process.
        worker.on("error", (e) => {
          this.broken = `re-evaluation worker ${slot} died: ${e.message}`;
        });
        worker.on("exit", (code) => {
          if (!this.closed) this.broken ??= `re-evaluation worker ${slot} exited (code ${code})`;
        });
        this.slots.push({ worker, port: port1, taken: 0 });
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Waits until every worker has loaded its code (or failed to): call it before taking a
   * lock that other writers wait on, so that the workers' start is not paid holding it.
   */
  waitUntilReady(): void {
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    for (let slot = 0; slot < this.size; slot++) {
      while (Atomics.load(this.signal, 64 + slot) === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`re-evaluation worker ${slot} did not start in ${ANSWER_TIMEOUT_MS / 1000} s`);
        Atomics.wait(this.signal, 64 + slot, 0, left);
      }
    }
  }

  /** Posts a page to the next worker in turn; `collect` waits for its states. */
  submit(policy: Job["policy"], at: Instant, file: string, ids: readonly SubjectId[]): Ticket {
    const slot = this.next;
    this.next = (this.next + 1) % this.size;
    const id = this.nextId++;
    const job: Job = { id, policy, at, file, ids };
    (this.slots[slot] as Slot).port.postMessage(job);
    return { slot, id };
  }

  /** The evaluated subjects of a submitted page, in page order. Tickets of one worker are collected in the order submitted. */
  collect(ticket: Ticket): Evaluated[] {
    if (this.broken) throw new Error(this.broken);
    const s = this.slots[ticket.slot] as Slot;
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    while (Atomics.load(this.signal, ticket.slot) <= s.taken) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`re-evaluation worker ${ticket.slot} gave no answer in ${ANSWER_TIMEOUT_MS / 1000} s`);
      Atomics.wait(this.signal, ticket.slot, s.taken, left);
    }
    if (this.broken) throw new Error(this.broken);
    s.taken++;
    const msg = receiveMessageOnPort(s.port)?.message as Answer | undefined;
    if (msg && "error" in msg) {
      const why = `re-evaluation worker ${ticket.slot} failed: ${msg.error}`;
      if (msg.id === -1) this.broken = why;
      throw new Error(why);
    }
    if (!msg || msg.id !== ticket.id) throw new Error(`re-evaluation worker ${ticket.slot} answered out of turn`);
    return msg.evaluated;
  }

  close(): void {
    this.closed = true;
    for (const s of this.slots) {
      s.port.close();
      void s.worker.terminate();
    }
  }
}
