// A cluster's one-actor roles on PostgreSQL: a session-level advisory lock per role,
// held on a connection of its own. PostgreSQL releases a session lock the moment the
// session ends, so a leader killed with -9 frees its role as soon as the server sees
// the socket close; a leader whose connection fails hears of it through the client's
// 'error' and 'end' events and stops acting (src/cluster/leader.ts).
import { createHash } from "node:crypto";
import pg from "pg";
import type { LeaderLock } from "../types.js";

/** The class of leadership locks (two int4 keys, apart from the write, subject and migration locks): "SL". */
const LEADER_LOCK_CLASS = 0x534c;

/** The second key of a role's lock: a 31-bit hash of its name. */
export function roleKey(role: string): number {
  return createHash("sha256").update(role).digest().readUInt32BE(0) & 0x7fffffff;
}

export class PgLeaderLock implements LeaderLock {
  private client: pg.Client | undefined;
  private held = false;
  private closed = false;
  private readonly listeners: ((reason: Error) => void)[] = [];

  constructor(
    private readonly url: string,
    readonly role: string,
    private readonly options: { readonly connectTimeoutMs?: number } = {},
  ) {}

  onLost(listener: (reason: Error) => void): void {
    this.listeners.push(listener);
  }

  async tryAcquire(): Promise<boolean> {
    if (this.closed) throw new Error("the leader lock is closed");
    if (this.held) return true;
    const client = this.client ?? (await this.connect());
    const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", [LEADER_LOCK_CLASS, roleKey(this.role)]);
    // The session may have died while the answer was on its way.
    this.held = r.rows[0]?.ok === true && this.client === client;
    return this.held;
  }

  async probe(timeoutMs: number): Promise<void> {
    const client = this.client;
    if (!client || !this.held) throw new Error(`the ${this.role} lock is not held`);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query("SELECT 1"),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the session holding the ${this.role} lock did not answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      // Unsure whether the server still holds it for us: act as if not, and drop the session so that it does not.
      this.drop(client, e as Error);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.held = false;
    // Ending the session releases the lock; no unlock is needed, and none could be trusted on a failing connection.
    if (client) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: `standing ${this.role} lock`,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
    });
    client.on("error", (e) => this.drop(client, e));
    client.on("end", () => this.drop(client, new Error(`the session holding the ${this.role} lock ended`)));
    try {
      await client.connect();
      // The server ends a session whose host vanished (no RST: a power cut, a partition)
      // after about 5 + 3 × 2 s instead of the system's two hours, freeing the role.
      await client.query("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3");
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    this.client = client;
    return client;
  }

  /** The session is gone or in doubt: forget it; tell the listeners if the lock was held on it. */
  private drop(client: pg.Client, reason: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    const wasHeld = this.held;
    this.held = false;
    // Ends the socket even when the server no longer answers: a half-open session must not keep the lock.
    client.connection.stream.destroy();
    if (wasHeld) for (const l of this.listeners) l(reason);
  }
}
