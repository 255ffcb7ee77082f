// Global setup: builds dist/ once, before any test file runs. The process tests run the
// compiled CLI (bin/standing.js); when each file built it in its own beforeAll, two files
// running at once rewrote dist/ while the other's commands were loading it, and a command
// could read a half-written module.
import { build } from "./pg-process.js";

export default function setup(): void {
  build();
}
