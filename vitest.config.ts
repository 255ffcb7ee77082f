import { tmpdir } from "node:os";
import { join } from "node:path";
import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // The fault tests that kill and restart real processes and connections (the cluster's,
    // and PostgreSQL's killed connections) run as a stage of their own, one file at a time
    // (npm run test:faults): beside the other suites they starve each other of the two cores.
    exclude: process.env.STANDING_FAULTS ? configDefaults.exclude : [...configDefaults.exclude, "test/cluster-faults.test.ts", "test/failures-postgres.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two files at a time even on two cores: most suites wait on processes, PostgreSQL or
    // NATS, so two workers halve the run (one worker per core less one would mean one here).
    maxWorkers: 2,
    // `audit verify` pins a database's journal key outside its folder on the first run:
    // tests keep their pins in a folder of their own, never in the user's config.
    env: { STANDING_PIN_DIR: join(tmpdir(), `standing-test-pins-${process.pid}`) },
    globalSetup: ["test/build-setup.ts", "test/pg-setup.ts"],
  },
});
