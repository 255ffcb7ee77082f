import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // `audit verify` pins a database's journal key outside its folder on the first run:
    // tests keep their pins in a folder of their own, never in the user's config.
    env: { STANDING_PIN_DIR: join(tmpdir(), `standing-test-pins-${process.pid}`) },
    globalSetup: ["test/pg-setup.ts"],
  },
});
