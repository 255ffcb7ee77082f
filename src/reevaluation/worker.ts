// A re-evaluation worker: compiles each policy version it is sent once, reads each page
// through the store's page reader (opened once per store) or takes the inputs it is
// sent, evaluates them, and answers with the states as JSON text.
import { parentPort } from "node:worker_threads";
import { catalogueOrThrow, defaultCatalogue } from "../policy/catalogue.js";
import { compilePolicy } from "../policy/compile.js";
import type { CompiledPolicy } from "../policy/types.js";
import type { StoredInputs, SubjectId } from "../store/types.js";
import { evaluateForStore } from "./inputs.js";
import type { Job, Answer } from "./pool.js";

const compiled = new Map<string, CompiledPolicy>();

function policyFor(job: Job): CompiledPolicy {
  let p = compiled.get(job.policy.ref);
  if (!p) {
    const catalogue = job.policy.catalogue ? catalogueOrThrow(job.policy.catalogue.text, `catalogue ${job.policy.catalogue.version}`) : defaultCatalogue;
    const r = compilePolicy(job.policy.text, job.policy.ref, catalogue);
    if (!r.ok) throw new Error(`policy ${job.policy.ref} does not compile in the worker: ${r.errors[0]?.message ?? "?"}`);
    p = r.policy;
    compiled.set(job.policy.ref, p);
  }
  return p;
}

interface PageReader {
  read(ids: readonly SubjectId[]): StoredInputs[];
}
const readers = new Map<string, Promise<PageReader>>();

function readerFor(spec: { module: string; args: unknown }): Promise<PageReader> {
  const key = JSON.stringify(spec);
  let r = readers.get(key);
  if (!r) {
    r = import(spec.module).then((m: { openReader(args: unknown): PageReader }) => m.openReader(spec.args));
    readers.set(key, r);
  }
  return r;
}

parentPort?.on("message", (job: Job) => {
  void (async (): Promise<Answer> => {
    try {
      const policy = policyFor(job);
      const inputs = "inputs" in job.page ? job.page.inputs : (await readerFor(job.page.reader)).read(job.page.ids);
      return { id: job.id, evaluated: inputs.map((p) => evaluateForStore(policy, p, job.at)) };
    } catch (e) {
      return { id: job.id, error: e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e) };
    }
  })().then((answer) => parentPort?.postMessage(answer));
});
