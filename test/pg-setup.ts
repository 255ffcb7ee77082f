// Global setup of a test run on PostgreSQL (STANDING_TEST_STORE=postgres): names the
// run, so that every database its tests create shares one prefix, and drops them all
// when the run ends.
import pg from "pg";

export default function setup(): () => Promise<void> {
  const run = `${process.pid}${Date.now().toString(36)}`;
  process.env.STANDING_TEST_RUN = run;
  return async () => {
    if (process.env.STANDING_TEST_STORE !== "postgres") return;
    const c = new pg.Client({ connectionString: process.env.STANDING_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/postgres" });
    await c.connect();
    try {
      const dbs = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [`standing_t_${run}_%`]);
      for (const d of dbs.rows) await c.query(`DROP DATABASE IF EXISTS "${d.datname}" WITH (FORCE)`);
    } finally {
      await c.end();
    }
  };
}
