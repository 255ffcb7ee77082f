// The limit the HTTP check path is measured against: a bare Fastify POST route that
// parses the same JSON body and returns a small JSON answer, with Fastify's defaults
// (no logger, no schema, no hooks). Run in its own process, as the API server is, and
// loaded by the same autocannon settings. Prints one JSON line ({port}) when listening;
// exits when stdin closes.
import Fastify from "fastify";

const app = Fastify();
app.post("/v1/checks", async (req) => {
  const body = req.body as { subject?: { value?: string }; context?: string };
  return { decision: "allow", subject: body.subject?.value ?? null, context: body.context ?? null };
});
await app.listen({ port: 0, host: "127.0.0.1" });
const addr = app.server.address();
process.stdout.write(JSON.stringify({ port: typeof addr === "object" && addr ? addr.port : 0 }) + "\n");
process.stdin.resume();
process.stdin.on("end", () => void app.close().then(() => process.exit(0)));
