// One section of the bench alone, for profiling:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --expose-gc --import tsx bench/profile.ts index|durable
//   node --expose-gc --import tsx bench/profile.ts reeval [subjects]    (profiles only the re-evaluation)
//   node --expose-gc --import tsx bench/profile.ts reeval-scale [subjects]    (figures, no profile)
//   BENCH_SERVER_PROF=/tmp/prof-http node --import tsx bench/profile.ts http
//     (the server writes checks.cpuprofile and screenings.cpuprofile, one per phase)
// then: npx tsx bench/profile-top.ts /tmp/prof/<file>.cpuprofile
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { compilePolicy } from "../src/policy/compile.js";
import { AT, buildIndex, measureCalls, queries } from "./index-bench.js";
import { POLICY_FILE, runDurable, runReevaluation } from "./durable.js";
import { runHttp } from "./http.js";

const what = process.argv[2];
const compiled = compilePolicy(readFileSync(POLICY_FILE, "utf8"), "policies/municipal-credit.yaml");
if (!compiled.ok) throw new Error("policy does not compile");
if (what === "index") {
  const b = buildIndex(1_000_000, compiled.policy.measures);
  const q = queries(1_000_000, 1 << 20, 0.5, 7);
  console.log(measureCalls((s, v) => b.index.denies(s, v, "air-travel", AT), q, 3));
  console.log(measureCalls((s, v) => b.index.check(s, v, "air-travel", AT, compiled.policy.ref).decision === "deny", q, 3));
} else if (what === "durable") {
  console.log(await runDurable(2_000, 20_000, 60));
} else if (what === "reeval") {
  // Only the re-evaluation is profiled (the ingest that sets it up is not):
  //   node --expose-gc --import tsx bench/profile.ts reeval [subjects] → /tmp/prof-reeval/reeval.cpuprofile
  const subjects = Number(process.argv[3] ?? 4000);
  // A same-thread inspector session answers synchronously, so the profile wraps exactly the re-evaluation.
  const { Session } = await import("node:inspector");
  const session = new Session();
  session.connect();
  const post = (method: string): unknown => {
    let out: unknown;
    session.post(method, (err, res) => {
      if (err) throw err;
      out = res;
    });
    return out;
  };
  const r = await runDurable(subjects, subjects * 10, 600, {
    aroundReevaluation: async (work) => {
      post("Profiler.enable");
      post("Profiler.start");
      await work();
      const { profile } = post("Profiler.stop") as { profile: unknown };
      mkdirSync("/tmp/prof-reeval", { recursive: true });
      writeFileSync("/tmp/prof-reeval/reeval.cpuprofile", JSON.stringify(profile));
    },
  });
  console.log(r);
} else if (what === "reeval-scale") {
  // Seeded store, serial and parallel re-evaluation: bench/profile.ts reeval-scale [subjects]
  console.log(await runReevaluation(Number(process.argv[3] ?? 20_000)));
} else if (what === "http") {
  console.log(await runHttp(10, 10, 20_000));
} else {
  throw new Error("usage: profile.ts index|durable|reeval [subjects]|reeval-scale [subjects]|http");
}
process.exit(0);
