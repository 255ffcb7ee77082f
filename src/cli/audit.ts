// `standing audit verify`: registered by cli/main.ts with its own `common` and `run`.
import type { Command } from "commander";
import { storeLabel, storeUrl, type CommonOptions, type Output } from "./context.js";
import type { Finding, VerifyReport } from "../journal/report.js";
import { replayerOf } from "../standing.js";
import { auditStore } from "../store/open.js";

type Run = (json: boolean | undefined, fn: (out: Output) => number | void | Promise<number | void>) => () => Promise<void>;

function line(f: Finding): string {
  // Messages start with their place (the store's verifier); a report made elsewhere may not.
  return f.message.startsWith(f.where) ? f.message : `${f.where}: ${f.message}`;
}

/** The report as an auditor reads it. */
export function renderReport(db: string, r: VerifyReport): string {
  const out: string[] = [`audit verify ${db}`];
  const head = r.head ? `head #${r.head.seq} ${r.head.hash.slice(0, 16)}…` : "empty";
  out.push(`  journal      ${r.entries} entries, ${head}`);
  const key = r.publicKey ? `key ${r.publicKey.fingerprint.slice(0, 16)}… (${r.publicKey.source === "pinned" ? "pinned with --public-key" : r.publicKey.source === "key-file" ? "from the key file" : "as stored in the database, not pinned"})` : "no key";
  const last = r.lastCheckpoint ? `; last good one signs #${r.lastCheckpoint.seq} (${r.lastCheckpoint.at})` : "";
  out.push(`  checkpoints  ${r.checkpoints} signed, ${key}${last}${r.unsignedTail > 0 ? `; ${r.unsignedTail} later entr${r.unsignedTail === 1 ? "y" : "ies"} not signed yet` : ""}`);
  out.push(`  rows         ${r.rows} rows in ${r.tables} tables compared with the journal`);
  out.push(`  states       ${r.states.replayed ? `${r.states.checked} stored states replayed` : "not replayed"}`);
  if (r.warnings.length > 0) {
    out.push("warnings:");
    for (const w of r.warnings) out.push(`  - ${line(w)}`);
  }
  if (r.ok) {
    out.push(
      `OK: the journal chain is intact${r.lastCheckpoint ? ` and signed up to #${r.lastCheckpoint.seq}` : ""}, every row matches its latest journal entry, every record and policy matches its hash, and every stored state equals its replay.`,
    );
  } else {
    const n = r.problems.length + r.omitted;
    out.push(`FAILED: ${n} problem${n === 1 ? "" : "s"}. The first: ${line(r.problems[0] as Finding)}`);
    r.problems.forEach((p, i) => out.push(`  ${i + 1}. [${p.kind}] ${line(p)}`));
    if (r.omitted > 0) out.push(`  … and ${r.omitted} more`);
  }
  return out.join("\n");
}

export function registerAuditCommands(program: Command, common: (cmd: Command) => Command, run: Run): void {
  const audit = program.command("audit").description("check that the database is what the journal says it is");
  common(
    audit
      .command("verify")
      .description(
        "check the journal chain and its signed checkpoints, every row of every table against the journal, and replay every stored state; names the first bad entry, row or subject and exits 1",
      ),
  )
    .option("--public-key <file>", "the published checkpoint key (PEM, or the JSON of GET /v1/journal/key); default: the key file beside the database")
    .action(async (o: CommonOptions & { publicKey?: string }) =>
      run(o.json, async (out) => {
        const path = storeUrl(o);
        const report = await auditStore(path, { replay: replayerOf(), ...(o.publicKey !== undefined ? { publicKeyFile: o.publicKey } : {}) });
        out.result(report, renderReport(storeLabel(o), report));
        if (!report.ok && !o.json) process.stderr.write(`standing: audit verify failed: ${line(report.problems[0] as Finding)}\n`);
        return report.ok ? 0 : 1;
      })(),
    );
}
