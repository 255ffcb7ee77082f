// The API server for the HTTP figures, in its own process so the load generator does
// not share its event loop. It runs the compiled product (dist/, built by the bench
// first), as `npm start` does. A temp SQLite file (WAL), the municipal policy, a few
// hundred restricted subjects ingested through Standing, one checkpoint key. Prints one
// JSON line (port, key, identifiers) on stdout when listening; exits when stdin closes.
// With BENCH_SERVER_PROF=DIR, the lines "profile NAME" and "profile-end" on stdin start
// and stop the V8 profiler and write DIR/NAME.cpuprofile (answered "profiled" on
// stdout), so each phase is profiled alone, without start-up and the ingest of the set-up.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RecordInput } from "../src/ingest/input.js";
import { NOW, POLICY_FILE } from "./durable.js";
import { product } from "./product.js";

// The product as `npm start` runs it: compiled (dist/), not transformed on load.
const { Standing } = await product<typeof import("../src/standing.js")>("standing.js");
const { SqliteStore } = await product<typeof import("../src/store/sqlite/store.js")>("store/sqlite/store.js");
const { ManualClock } = await product<typeof import("../src/time.js")>("time.js");
const { buildServer } = await product<typeof import("../src/api/server.js")>("api/server.js");

const DAY = 86_400_000;
const RESTRICTED = Number(process.env.BENCH_HTTP_RESTRICTED ?? 500);
const dir = mkdtempSync(join(tmpdir(), "standing-bench-http-"));
const clock = new ManualClock(NOW - 30 * DAY);
const standing = new Standing(new SqliteStore(join(dir, "http.db")), clock);
await standing.publish(readFileSync(POLICY_FILE, "utf8"), "policies/municipal-credit.yaml");
const recs: RecordInput[] = [];
for (let i = 1; i <= RESTRICTED; i++) {
  recs.push({ source: "court", id: `h${i}`, type: "court.judgment.default", subject: { scheme: "national-id", value: `demo-h${String(i).padStart(7, "0")}` }, occurredAt: new Date(NOW - 40 * DAY).toISOString(), fields: { case: `hc-${i}`, amount: 20000 }, evidence: `court-file://hc-${i}` });
}
await standing.ingest(recs);
clock.set(NOW); // the notice period has run: the measures are in force
await standing.advance(NOW);
const { key } = await standing.createKey({ role: "checkpoint", label: "bench", contexts: ["air-travel"] });
// The record batch of bench/batch-latency.ts is sent as the court.
const sourceKey = (await standing.createKey({ role: "source", label: "bench court", source: "court" })).key;
// A record batch's body is read whole (within the one-minute request limit) and then
// worked slice by slice, its answer streamed as each slice commits; a 1 M-line batch
// takes many minutes here. The bench server allows two hours for the connection, as an
// operator would with `serve --request-timeout` for such uploads.
// BENCH_RECEIPTS=off: answers without signed receipts, to measure what they cost.
const app = buildServer(standing, { limits: { requestTimeout: 7_200_000, connectionTimeout: 7_200_000 }, receipts: process.env.BENCH_RECEIPTS !== "off" });
await app.listen({ port: 0, host: "127.0.0.1" });
const addr = app.server.address();
const port = typeof addr === "object" && addr ? addr.port : 0;
process.stdout.write(JSON.stringify({ port, key, sourceKey, restricted: RESTRICTED, indexed: standing.indexedSubjects }) + "\n");
const profDir = process.env.BENCH_SERVER_PROF;
const session = profDir ? new Session() : undefined;
let profName = "";
if (session) {
  mkdirSync(profDir as string, { recursive: true });
  session.connect();
  await session.post("Profiler.enable");
}
createInterface({ input: process.stdin }).on("line", (cmd) => {
  void (async () => {
    if (!session) return;
    if (cmd.startsWith("profile ")) {
      profName = cmd.slice("profile ".length);
      await session.post("Profiler.start");
    } else if (cmd === "profile-end") {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(join(profDir as string, `${profName}.cpuprofile`), JSON.stringify(profile));
    }
    process.stdout.write("profiled\n");
  })();
});
process.stdin.on("end", () => {
  void app.close().then(async () => {
    await standing.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
