// For process tests: the built CLI run as an operator runs it, and `standing serve`
// started as a real process on a PostgreSQL test database. Servers that end without being
// told to are remembered with what they printed, so that a test can say "no storage
// failure ended a server" instead of waiting on a process already gone (`exited`, which
// any test's child process may use).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join, resolve } from "node:path";

export const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin", "standing.js");

/** Builds dist/ (the processes run the built CLI); a beforeAll. */
export function build(): void {
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
}

export function cli(args: string[], env: Record<string, string>): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Publishes the example policy as an operator does: one person proposes it, another approves it. */
export function publish(url: string, env: Record<string, string>): number {
  const p = cli(["policy", "propose", "policies/municipal-credit.yaml", "--by", "test author", "--store", url, "--json"], env);
  if (p.code !== 0) return p.code;
  const id = (JSON.parse(p.stdout) as { proposal: { id: string } }).proposal.id;
  return cli(["policy", "approve", id, "--by", "test approver", "--store", url, "--json"], env).code;
}

/** Resolves when the child has exited, also when it had exited before the call. */
export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((res) => child.once("exit", () => res()));
}

export interface Server {
  readonly base: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** Sends the signal and waits for the exit; a server already gone is not waited for. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const children: ChildProcess[] = [];
/** Servers that ended without being told to, each with its exit and what it printed on stderr. */
export const unexpectedExits: string[] = [];

/**
 * `whileStarting`: run once the process is started and before waiting for it to serve,
 * with its stderr so far (a test that opens the database only once the server has said
 * it cannot reach it).
 */
export async function serve(url: string, env: Record<string, string>, startWithinMs = 30_000, whileStarting?: (stderr: () => string) => Promise<void>): Promise<Server> {
  const child = spawn(process.execPath, [bin, "serve", "--store", url, "--port", "0", "--log-level", "warn"], { cwd: root, env: { ...process.env, ...env } });
  children.push(child);
  let out = "";
  let err = "";
  let told = false;
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (d: string) => (out += d));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  child.once("exit", (code, signal) => {
    if (!told) unexpectedExits.push(`exit ${code ?? signal}: ${err}`);
  });
  if (whileStarting) await whileStarting(() => err);
  const deadline = Date.now() + startWithinMs;
  while (!/serving at (http:\/\/\S+)/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  const base = /serving at (http:\/\/\S+)/.exec(out)?.[1];
  if (!base) throw new Error(`serve did not start: ${out}${err}`);
  return {
    base,
    child,
    stderr: () => err,
    stop: async (signal = "SIGTERM") => {
      told = true;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited(child);
    },
  };
}

/** Kills what is still running; an afterAll. */
export function killServers(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}
