// A re-evaluation worker: compiles each policy version it is sent once, reads each page
// it is sent through its own read-only connection, evaluates it, and answers on its own
// channel with the states as JSON text. It signals each answer through shared memory
// too, because the pool waits for it synchronously (see pool.ts).
import { parentPort, workerData } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import { compilePolicy } from "../policy/compile.js";
import type { CompiledPolicy } from "../policy/types.js";
import { SqlitePageReader } from "../store/sqlite/pages.js";
import { evaluateForStore } from "./inputs.js";
import type { Job, Answer } from "./pool.js";

const { port, signal, slot } = workerData as { port: MessagePort; signal: Int32Array; slot: number };
const compiled = new Map<string, CompiledPolicy>();
const readers = new Map<string, SqlitePageReader>();

function readerFor(file: string): SqlitePageReader {
  let r = readers.get(file);
  if (!r) {
    r = new SqlitePageReader(file);
    readers.set(file, r);
  }
  return r;
}

function policyFor(job: Job): CompiledPolicy {
  let p = compiled.get(job.policy.ref);
  if (!p) {
    const r = compilePolicy(job.policy.text, job.policy.ref);
    if (!r.ok) throw new Error(`policy ${job.policy.ref} does not compile in the worker: ${r.errors[0]?.message ?? "?"}`);
    p = r.policy;
    compiled.set(job.policy.ref, p);
  }
  return p;
}

port.on("message", (job: Job) => {
  let answer: Answer;
  try {
    const policy = policyFor(job);
    const page = readerFor(job.file).page(job.ids);
    answer = { id: job.id, evaluated: page.map((p) => evaluateForStore(policy, p, job.at)) };
  } catch (e) {
    answer = { id: job.id, error: e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e) };
  }
  port.postMessage(answer);
  Atomics.add(signal, slot, 1);
  Atomics.notify(signal, slot);
});
parentPort?.postMessage("ready");
