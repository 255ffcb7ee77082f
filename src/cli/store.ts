// `standing store copy`: registered by cli/main.ts with its own `run`.
import type { Command } from "commander";
import cliProgress from "cli-progress";
import type { Output } from "./context.js";
import { redactUrl } from "./context.js";
import { copyStore } from "../store/open.js";

type Run = (json: boolean | undefined, fn: (out: Output) => number | void | Promise<number | void>) => () => Promise<void>;

export function registerStoreCommands(program: Command, run: Run): void {
  const store = program.command("store").description("move a store from one engine to another");
  store
    .command("copy")
    .description("copy everything an embedded database holds, the journal and its key included, into a PostgreSQL database; run it again to finish a copy that was cut off")
    .requiredOption("--from <url>", "the source: sqlite:PATH")
    .requiredOption("--to <url>", "the target: postgres://USER@HOST:PORT/DATABASE (created if missing)")
    .option("--key-file <file>", "where the copy's journal key goes (default $STANDING_JOURNAL_KEY_FILE, else under ./data)")
    .option("--batch <n>", "rows per insert", (v) => Number.parseInt(v, 10), 1000)
    .option("--no-progress", "no progress bar")
    .option("--json", "print machine-readable JSON")
    .action(async (o: { from: string; to: string; keyFile?: string; batch: number; progress: boolean; json?: boolean }) =>
      run(o.json, async (out) => {
        const showBar = o.progress && !o.json && process.stderr.isTTY;
        const bar = showBar ? new cliProgress.SingleBar({ format: "copying {table} [{bar}] {value}/{total} rows", stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
        let started = false;
        const trace = process.env.STANDING_COPY_TRACE !== undefined;
        const r = await copyStore(o.from, o.to, {
          ...(o.keyFile !== undefined ? { keyFile: o.keyFile } : {}),
          batch: o.batch,
          onProgress: (p) => {
            if (trace) process.stderr.write(`copy: ${p.table} ${p.done}/${p.total}\n`);
            if (!bar) return;
            if (!started) {
              bar.start(Math.max(p.total, 1), p.done, { table: p.table });
              started = true;
            } else bar.update(p.done, { table: p.table });
          },
        });
        if (started) bar?.stop();
        out.result(
          { ...r, to: redactUrl(o.to) },
          `copied ${r.rows} rows in ${Object.keys(r.tables).length} tables to ${redactUrl(o.to)}; journal key ${r.keyFile}\nnext: standing audit verify --store ${redactUrl(o.to)}`,
        );
      })(),
    );
}
