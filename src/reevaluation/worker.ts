// A re-evaluation worker: compiles each policy version it is sent once, evaluates each
// page of stored inputs it is sent, and answers with the states as JSON text.
import { parentPort } from "node:worker_threads";
import { compilePolicy } from "../policy/compile.js";
import type { CompiledPolicy } from "../policy/types.js";
import { evaluateForStore } from "./inputs.js";
import type { Job, Answer } from "./pool.js";

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

parentPort?.on("message", (job: Job) => {
  let answer: Answer;
  try {
    const policy = policyFor(job);
    answer = { id: job.id, evaluated: job.inputs.map((p) => evaluateForStore(policy, p, job.at)) };
  } catch (e) {
    answer = { id: job.id, error: e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e) };
  }
  parentPort?.postMessage(answer);
});
