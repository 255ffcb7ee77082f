// Checks from other clients while one client sends a large batch: the server works a
// batch in slices and yields between them, so a check waits for a slice, not for the
// batch. Measured against the same API server as the HTTP figures (its own process):
// one client sends a screening (and then a record batch) of many lines while another
// asks POST /v1/checks back to back; the checks' latencies during the batch are reported.
import { request } from "node:http";
import { startServer, stopServer } from "./http.js";
import { log, now, percentile } from "./util.js";

export interface BatchLatency {
  readonly kind: "screening" | "records";
  readonly lines: number;
  /** Records: how many subjects the lines are about (lines / subjects records each). */
  readonly subjects?: number;
  readonly batchSeconds: number;
  readonly checks: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly maxms: number;
}

function post(port: number, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let early = "";
    // A connection of its own: building a large body blocks this process for seconds, long
    // enough for the server to close a kept-alive one, which the pool would hand out
    // before it had read the close (EPIPE half way through a 1 M-line batch).
    const req = request({ host: "127.0.0.1", port, method: "POST", path, agent: false, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => {
        parts.push(c);
        if (early.length < 300) early += c.toString("utf8");
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") }));
      res.on("error", reject);
      early = `${res.statusCode} `;
    });
    // A server that answers before the body is sent whole (a refusal) closes the socket under the write: say what it answered.
    req.on("error", (e) => reject(new Error(`${path}: ${e.message}${early ? `; the server had answered ${early.slice(0, 300)}` : ""}`)));
    req.end(body);
  });
}

async function during(port: number, checkpoint: string, batch: () => Promise<unknown>): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let done = false;
  const t0 = now();
  const running = batch().finally(() => (done = true));
  const body = JSON.stringify({ subject: { scheme: "national-id", value: "demo-free-1" }, context: "air-travel" });
  while (!done) {
    const t = now();
    const res = await post(port, "/v1/checks", { authorization: `Bearer ${checkpoint}`, "content-type": "application/json" }, body);
    if (res.status !== 200) throw new Error(`check during a batch: ${res.status} ${res.text.slice(0, 200)}`);
    if (!done) latencies.push(now() - t);
  }
  await running;
  return { seconds: (now() - t0) / 1000, latencies };
}

function figures(kind: BatchLatency["kind"], lines: number, r: { seconds: number; latencies: number[] }, subjects?: number): BatchLatency {
  const sorted = Float64Array.from(r.latencies).sort();
  return { kind, lines, ...(subjects !== undefined ? { subjects } : {}), batchSeconds: r.seconds, checks: sorted.length, p50ms: percentile(sorted, 50), p99ms: percentile(sorted, 99), maxms: sorted.length ? (sorted[sorted.length - 1] as number) : NaN };
}

/**
 * `recordSubjects`: how many people the record lines are about (default: one each). A
 * million-line batch is a source's bulk upload: a million records about fewer people
 * (ten each in the full run), each a court judgment of its own.
 */
export async function runBatchLatency(screeningLines: number, recordLines: number, recordSubjects = recordLines): Promise<BatchLatency[]> {
  const { child, nextLine } = startServer("./http-server.ts", { BENCH_HTTP_RESTRICTED: "100" });
  try {
    const line = await nextLine();
    const info = JSON.parse(line) as { port: number; key: string; sourceKey: string };
    const out: BatchLatency[] = [];
    log(`batch latency: checks during a ${screeningLines.toLocaleString("en")}-line screening`);
    const screening = Array.from({ length: screeningLines }, (_, i) => `"national-id:demo-batch-${i}"`).join("\n");
    out.push(
      figures("screening", screeningLines, await during(info.port, info.key, async () => {
        const r = await post(info.port, "/v1/screenings?context=air-travel", { authorization: `Bearer ${info.key}`, "content-type": "application/x-ndjson" }, screening);
        if (r.status !== 200) throw new Error(`screening: ${r.status}`);
      })),
    );
    log(`batch latency: checks during a ${recordLines.toLocaleString("en")}-line record batch about ${recordSubjects.toLocaleString("en")} subjects`);
    const spread = Math.max(1, Math.min(recordSubjects, recordLines));
    const records = Array.from({ length: recordLines }, (_, i) => JSON.stringify({ source: "court", id: `b-${i}`, type: "court.judgment.default", subject: { scheme: "national-id", value: `demo-batch-${i % spread}` }, occurredAt: "2026-10-01T09:00:00Z", fields: { case: `b-${i}`, amount: 9000 }, evidence: "file://b" })).join("\n");
    let accepted = 0;
    out.push(
      figures("records", recordLines, await during(info.port, info.key, async () => {
        const r = await post(info.port, "/v1/records", { authorization: `Bearer ${info.sourceKey}`, "content-type": "application/x-ndjson" }, records);
        if (r.status !== 200) throw new Error(`records: ${r.status} ${r.text.slice(0, 200)}`);
        // Every line answered, and accepted: a batch refused in part would measure something else.
        for (let at = r.text.indexOf('"status":"accepted"'); at >= 0; at = r.text.indexOf('"status":"accepted"', at + 1)) accepted++;
      }), spread),
    );
    if (accepted !== recordLines) throw new Error(`records: ${accepted} of ${recordLines} lines accepted`);
    return out;
  } finally {
    await stopServer(child);
  }
}

// `tsx bench/batch-latency.ts [screening lines] [record lines]`: this section alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [s, r, subjects] = process.argv.slice(2).map(Number);
  for (const f of await runBatchLatency(s || 20_000, r || 2_000, subjects || r || 2_000)) console.log(JSON.stringify(f));
}
