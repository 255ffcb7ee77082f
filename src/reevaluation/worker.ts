// A re-evaluation worker: compiles each policy version it is sent once, evaluates the
// pages the pool posts to it, and answers on its own channel. It signals each answer
// through shared memory too, because the pool waits for it synchronously (see pool.ts).
import { parentPort, workerData } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import { compilePolicy } from "../policy/compile.js";
import type { CompiledPolicy } from "../policy/types.js";
import { evaluateStored } from "./inputs.js";
import type { Job, Answer } from "./pool.js";

const { port, signal, slot } = workerData as { port: MessagePort; signal: Int32Array; slot: number };
const compiled = new Map<string, CompiledPolicy>();

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
    answer = { id: job.id, states: job.page.map((p) => evaluateStored(policy, p, job.at)) };
  } catch (e) {
    answer = { id: job.id, error: e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e) };
  }
  port.postMessage(answer);
  Atomics.add(signal, slot, 1);
  Atomics.notify(signal, slot);
});
parentPort?.postMessage("ready");
