// A named lease among the processes of one database: a session advisory lock taken on
// a connection of its own, so that it lasts exactly as long as that connection. A
// process that dies, or whose connection the server ends, frees it without anyone's
// help; the next process that asks takes it.
import pg from "pg";
import type { ExclusiveLease } from "../types.js";

/** The advisory lock class of leases ("SR", apart from the leader locks' "SL"); the second key is the lease name's hashtext. */
export const LEASE_CLASS = 0x5352;

export class PgLease implements ExclusiveLease {
  private client: pg.Client | undefined;
  private held = false;

  constructor(
    private readonly url: string,
    private readonly name: string,
  ) {}

  async tryTake(): Promise<boolean> {
    try {
      if (!this.client) {
        const c = new pg.Client({ connectionString: this.url, application_name: `standing lease pid ${process.pid}`.slice(0, 63), connectionTimeoutMillis: 5_000 });
        // A connection that fails ends the lease: the server has freed the lock with the session.
        c.on("error", () => this.drop(c));
        c.on("end", () => this.drop(c));
        this.client = c;
        await c.connect();
      }
      const c = this.client;
      if (this.held) {
        // Still ours only if the connection still answers: a round trip, not a second lock.
        await c.query("SELECT 1");
        return this.held;
      }
      const r = await c.query("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [LEASE_CLASS, this.name]);
      this.held = r.rows[0]?.ok === true;
      return this.held;
    } catch {
      if (this.client) this.drop(this.client);
      return false;
    }
  }

  private drop(c: pg.Client): void {
    if (this.client !== c) return;
    this.client = undefined;
    this.held = false;
    void c.end().catch(() => undefined);
  }

  async release(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.held = false;
    // Ending the session frees the lock; no unlock round trip is needed.
    if (c) await c.end().catch(() => undefined);
  }
}
