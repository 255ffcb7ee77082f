#!/usr/bin/env node
// The CLI entry point runs the compiled code (npm install builds it via "prepare").
import { main } from "../dist/cli/main.js";

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`standing: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exitCode = 70;
  },
);
