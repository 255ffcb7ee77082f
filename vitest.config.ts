import { tmpdir } from "node:os";
import { join } from "node:path";
import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // The cluster's fault tests (minutes of real processes killed and restarted) run as a
    // stage of their own (npm run test:faults), not beside the rest, whose timings they would swamp.
    exclude: process.env.STANDING_FAULTS ? configDefaults.exclude : [...configDefaults.exclude, "test/cluster-faults.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // `audit verify` pins a database's journal key outside its folder on the first run:
    // tests keep their pins in a folder of their own, never in the user's config.
    env: { STANDING_PIN_DIR: join(tmpdir(), `standing-test-pins-${process.pid}`) },
    globalSetup: ["test/pg-setup.ts"],
  },
});
