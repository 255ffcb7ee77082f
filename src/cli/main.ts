// The `standing` command line. Every command takes --json and --db; exit code 0 means
// success, 1 a refused input (with a readable message), 2 a usage error.
import { readFileSync, existsSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import cliProgress from "cli-progress";
import { compilePolicy, formatDiagnostic } from "../policy/compile.js";
import { StandingError } from "../errors.js";
import { parseIdentifier, type Progress, type PublishResult, type Standing } from "../standing.js";
import { renderStatement } from "../statement/statement.js";
import { loadDemo } from "../demo/load.js";
import { buildServer } from "../api/server.js";
import { Scheduler } from "../scheduler/scheduler.js";
import { humanDate } from "../time.js";
import { ingestFile } from "./ingest.js";
import { Output, dbPath, storeLabel, storeUrl, openStanding, parseAt, seedPolicyPath, type CommonOptions } from "./context.js";
import type { PolicyDiagnostic } from "../policy/types.js";
import { roles } from "../auth/principals.js";
import { DecisionLog } from "../decision-log.js";
import { Outbox } from "../notices/outbox.js";
import { demoKeys, printWelcome } from "./welcome.js";
import { registerAuditCommands } from "./audit.js";
import { registerStoreCommands } from "./store.js";
import { forOperator, hoistCommonOptions } from "./failure.js";
import { claimForDemo } from "../demo/guard.js";
import { LOG_LEVELS } from "../api/hardening.js";
import { DEFAULT_LIMITS } from "../api/limits.js";
import { indexSnapshotFile, keepIndexSnapshots, serveLimits, whileStorageStarts, type ServeLimitOptions } from "./serve-options.js";
import { checkpointOptions, startCheckpointNode } from "../cluster/node.js";
import { leaderRoles, openClusterProcess, registerClusterCommands, requireSharedStore } from "./cluster.js";
import { noticeChannels, noticeChannelsFor } from "./notices.js";
import { ClusterIntake } from "../cluster/intake.js";

function common(cmd: Command): Command {
  return cmd
    .option("--json", "print machine-readable JSON")
    .option("--db <path>", "database file (default ./data/standing.db or $STANDING_DB)")
    .option("--store <url>", "the store: sqlite:PATH or postgres://USER@HOST:PORT/DATABASE (default $STANDING_STORE, else --db)");
}

function progressBar(label: string, enabled: boolean): { progress: Progress; stop: () => void } {
  if (!enabled || !process.stderr.isTTY) return { progress: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    progress: (done, total) => {
      if (!started) {
        bar.start(Math.max(total, 1), done);
        started = true;
      } else bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}

function readPolicyFile(file: string): string {
  if (!existsSync(file)) throw new StandingError("not-found", `policy file ${file} does not exist`, { file });
  return readFileSync(file, "utf8");
}

function printDiagnostics(errors: readonly PolicyDiagnostic[], kind: "error" | "warning"): void {
  for (const e of errors) process.stderr.write(formatDiagnostic(e, kind) + "\n");
}

/** Actors of the demo's first policy: one proposes it, another approves it, as anywhere else. */
export const DEMO_POLICY_ACTORS = { author: "demo policy author", approver: "demo policy approver" } as const;

/** A demo store's first policy, through the same two steps as any other. */
export async function publishWithProgress(standing: Standing, file: string, json: boolean): Promise<PublishResult> {
  const bar = progressBar("re-evaluating", !json);
  try {
    const { proposal } = await standing.proposePolicy(readPolicyFile(file), DEMO_POLICY_ACTORS.author, file);
    return await standing.approvePolicy(proposal.id, DEMO_POLICY_ACTORS.approver, bar.progress);
  } finally {
    bar.stop();
  }
}

async function withStanding<T>(o: CommonOptions, fn: (s: Standing) => Promise<T>, mode: { readOnly?: boolean } = {}): Promise<T> {
  const s = openStanding(o, mode);
  try {
    await s.start();
    return await fn(s);
  } finally {
    await s.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command("standing")
    .description("Standing: an open, accountable social-credit engine")
    .exitOverride()
    .showHelpAfterError();

  const run = (json: boolean | undefined, fn: (out: Output) => number | void | Promise<number | void>) => async () => {
    const out = new Output(json ?? false);
    try {
      exitCode = (await fn(out)) ?? 0;
    } catch (e) {
      exitCode = out.error(forOperator(e));
    }
  };

  const policy = program.command("policy").description("lint, propose and approve policies (an author proposes, someone else approves)");
  common(policy.command("lint").argument("<files...>", "policy YAML files").description("check policies against the language and the guardrails"))
    .action(async (files: string[], o: CommonOptions) =>
      run(o.json, (out) => {
        let failed = 0;
        const report: unknown[] = [];
        for (const f of files) {
          const r = compilePolicy(readPolicyFile(f), f);
          if (r.ok) {
            report.push({ file: f, ok: true, policy: r.policy.ref, warnings: r.warnings });
            if (!o.json) {
              printDiagnostics(r.warnings, "warning");
              process.stdout.write(`${f}: ok (${r.policy.ref})\n`);
            }
          } else {
            failed++;
            report.push({ file: f, ok: false, errors: r.errors });
            if (!o.json) printDiagnostics(r.errors, "error");
          }
        }
        if (o.json) out.result(report, "");
        else if (failed > 0) process.stderr.write(`${failed} of ${files.length} polic${files.length === 1 ? "y" : "ies"} refused\n`);
        return failed > 0 ? 1 : 0;
      })(),
    );
  const showResult = (r: PublishResult): string =>
    `${r.policy}: ${r.status} (effective ${r.effective}); re-evaluated ${r.reevaluated} subjects: ${r.changed.tier} changed tier, ${r.changed.lists} changed lists, ${r.changed.measures} changed measures`;
  const withDiagnostics = async <T>(json: boolean | undefined, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StandingError && e.code === "invalid-policy" && !json) {
        const errors = (e.details as { errors?: PolicyDiagnostic[] }).errors;
        if (errors) printDiagnostics(errors, "error");
      }
      throw e;
    }
  };
  common(policy.command("propose").argument("<file>", "policy YAML file").description("propose a new policy version; another person publishes it with `policy approve`"))
    .requiredOption("--by <who>", "who proposes it (its author; kept in the journal)")
    .action(async (file: string, o: CommonOptions & { by: string }) =>
      run(o.json, (out) =>
        withStanding(o, (s) =>
          withDiagnostics(o.json, async () => {
            const r = await s.proposePolicy(readPolicyFile(file), o.by, file);
            if (!o.json) printDiagnostics(r.warnings, "warning");
            out.result(r, `${r.proposal.ref}: ${r.status === "proposed" ? "proposed" : "already proposed"} by ${r.proposal.proposedBy} (proposal ${r.proposal.id}); a policy approver other than its author publishes it with: standing policy approve ${r.proposal.ref} --by NAME`);
          }),
        ),
      )(),
    );
  common(policy.command("approve").argument("<proposal>", "proposal id, or the version's ref (id@version)").description("approve a proposal: publishes it and re-evaluates every subject (its author may not)"))
    .requiredOption("--by <who>", "who approves it (a policy approver, not its author)")
    .action(async (ref: string, o: CommonOptions & { by: string }) =>
      run(o.json, (out) =>
        withStanding(o, (s) =>
          withDiagnostics(o.json, async () => {
            const bar = progressBar("re-evaluating", !o.json);
            let r: Awaited<ReturnType<Standing["approvePolicy"]>>;
            try {
              r = await s.approvePolicy(ref, o.by, bar.progress);
            } finally {
              bar.stop();
            }
            if (!o.json) printDiagnostics(r.warnings, "warning");
            out.result(r, `${showResult(r)}\nproposed by ${r.proposal.proposedBy}, approved by ${r.proposal.decidedBy ?? o.by}`);
          }),
        ),
      )(),
    );
  common(policy.command("reject").argument("<proposal>", "proposal id, or the version's ref (id@version)").description("reject a proposal with a reason (its author may not)"))
    .requiredOption("--by <who>", "who rejects it")
    .requiredOption("--reason <text>", "why")
    .action(async (ref: string, o: CommonOptions & { by: string; reason: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const r = await s.rejectPolicy(ref, o.by, o.reason);
          out.result(r, `${r.ref}: proposal ${r.id} rejected by ${r.decidedBy ?? o.by}`);
        }),
      )(),
    );
  common(policy.command("proposals").description("policy proposals: who proposed what, and who approved or rejected it"))
    .action(async (o: CommonOptions) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const rows = s.policyProposals().map(({ text: _text, ...p }) => ({ ...p, proposedAt: new Date(p.proposedAt).toISOString(), decidedAt: p.decidedAt === null ? null : new Date(p.decidedAt).toISOString() }));
          out.result(rows, rows.length === 0 ? "no proposals" : rows.map((p) => `${p.proposedAt}  ${p.ref}  ${p.status.padEnd(8)} proposed by ${p.proposedBy}${p.decidedBy ? `; ${p.status} by ${p.decidedBy}` : ""}  (${p.id})`).join("\n"));
        }),
      )(),
    );
  common(policy.command("publish", { hidden: true }).argument("<file>", "policy YAML file"))
    .action(async (_file: string, o: CommonOptions) =>
      run(o.json, () => {
        throw new StandingError("bad-request", "a policy is published by approving a proposal: `standing policy propose FILE --by AUTHOR`, then `standing policy approve REF --by APPROVER` (someone else)");
      })(),
    );

  common(program.command("ingest").argument("<file>", "NDJSON or CSV file of records").description("ingest records durably; rejected lines are written out with reasons"))
    .addOption(new Option("--format <format>", "input format (default: from the file name)").choices(["ndjson", "csv"]))
    .option("--rejects <file>", "where to write rejected lines (default FILE.rejected.ndjson)")
    .option("--batch <n>", "records per transaction", (v) => Number.parseInt(v, 10), 1000)
    .option("--no-progress", "no progress output")
    .action(async (file: string, o: CommonOptions & { format?: "ndjson" | "csv"; rejects?: string; batch: number; progress: boolean }) =>
      run(o.json, async (out) => {
        if (!existsSync(file)) throw new StandingError("not-found", `input file ${file} does not exist`, { file });
        const s = openStanding(o);
        try {
          // The policy in force types CSV columns: load the registry first; and a publish
          // cut off during its re-evaluation is finished before new records arrive.
          await s.start();
          await s.finishPending();
          const r = await ingestFile(s, file, { ...(o.format ? { format: o.format } : {}), ...(o.rejects ? { rejects: o.rejects } : {}), batch: o.batch, progress: o.progress && !o.json });
          out.result(r, `${r.file}: ${r.lines} lines: ${r.accepted} accepted, ${r.duplicate} duplicate, ${r.quarantined} quarantined, ${r.rejected} rejected${r.rejects ? ` (reasons in ${r.rejects})` : ""}`);
          return r.rejected > 0 ? 1 : 0;
        } finally {
          await s.close();
        }
      })(),
    );

  common(program.command("check").argument("<subject>", "SCHEME:VALUE").argument("<context>", "context, e.g. air-travel").description("may this subject do this here, now?"))
    .option("--at <instant>", "ask about another instant (ISO 8601)")
    .action(async (subject: string, context: string, o: CommonOptions & { at?: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const d = s.check(parseIdentifier(subject), context, parseAt(o.at));
          await s.receipts.refresh();
          const receipt = s.receipts.check({ id: d.id, subject: d.subject, context, answer: d.decision, codes: d.reasons.map((x) => x.code), policy: d.policy, at: d.at });
          const tz = s.requirePolicy().timezone;
          const lines = [`${d.decision.toUpperCase()}: ${subject} in ${context} (policy ${d.policy}, decision ${d.id})`];
          for (const r of d.reasons) lines.push(`  ${r.code} ${r.measure} until ${r.until ? humanDate(Date.parse(r.until), tz) : "open-ended"}\n    basis: ${r.basis ?? "-"}`);
          for (const p of d.privileges) lines.push(`  privilege ${p.code} ${p.measure}`);
          out.result(receipt ? { ...d, receipt } : d, lines.join("\n"));
        }),
      )(),
    );

  common(program.command("statement").argument("<subject>", "SCHEME:VALUE").description("the subject's whole file, readable by a person"))
    .option("--at <instant>", "as of another instant (ISO 8601)")
    .action(async (subject: string, o: CommonOptions & { at?: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const at = parseAt(o.at) ?? s.now();
          const id = parseIdentifier(subject);
          const st = await s.statement(await s.resolveSubject(id), at);
          out.result(st, renderStatement(st));
        }, { readOnly: true }),
      )(),
    );

  common(program.command("link").argument("<known>", "SCHEME:VALUE the subject already has").argument("<extra>", "SCHEME:VALUE to link to it").description("link an identifier to a subject and release records waiting in quarantine for it"))
    .action(async (known: string, extra: string, o: CommonOptions) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const r = await s.link(parseIdentifier(known), parseIdentifier(extra));
          out.result(r, `linked ${extra} to subject #${r.subject}; ${r.released.length} quarantined record(s) released`);
        }),
      )(),
    );

  common(program.command("quarantine").description("records waiting for an identifier to be linked"))
    .option("--limit <n>", "how many to list", (v) => Number.parseInt(v, 10), 100)
    .action(async (o: CommonOptions & { limit: number }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const rows = (await s.reads.listQuarantine(o.limit)).map((q) => ({ source: q.source, id: q.recordId, identifier: `${q.scheme}:${q.value}`, receivedAt: new Date(q.receivedAt).toISOString(), reason: q.reason }));
          out.result(rows, rows.length === 0 ? "quarantine is empty" : rows.map((r) => `${r.receivedAt}  ${r.source}/${r.id}  waits for ${r.identifier}`).join("\n"));
        }),
      )(),
    );

  common(program.command("tick").description("advance every subject whose state changes by now (what the scheduler does)"))
    .action(async (o: CommonOptions) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const r = await new Scheduler(s).tick(true);
          out.result(r, `advanced ${r.advanced} subject(s)${r.policyActivated ? `; activated ${r.policyActivated}` : ""}`);
        }),
      )(),
    );

  // ---- due process: disputes, retractions, notices, recovery
  const dispute = program.command("dispute").description("contest a record, answer for a source, decide as a reviewer");
  const subjectOf = (s: Standing, text: string): Promise<number> => s.resolveSubject(parseIdentifier(text));
  const showDispute = (d: { id: string; status: string; recordId: string; source: string; deadlineAt: number }): string =>
    `dispute ${d.id}: ${d.status}, record ${d.recordId} from ${d.source}, source must answer by ${new Date(d.deadlineAt).toISOString()}`;
  common(dispute.command("open").argument("<subject>", "SCHEME:VALUE of the subject").description("dispute one of the subject's records"))
    .requiredOption("--source <id>", "the source that submitted the record")
    .requiredOption("--record <id>", "the record's id")
    .requiredOption("--grounds <text>", "why the record is wrong")
    .option("--evidence <ref>", "a reference to supporting evidence")
    .option("--by <who>", "who files it (the subject, or an operator on their behalf)", "the subject")
    .action(async (subject: string, o: CommonOptions & { source: string; record: string; grounds: string; evidence?: string; by: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const d = await s.openDispute({ subjectId: await subjectOf(s, subject), source: o.source, recordId: o.record, grounds: o.grounds, ...(o.evidence ? { evidence: o.evidence } : {}), openedBy: o.by });
          out.result(d, showDispute(d));
        }),
      )(),
    );
  common(dispute.command("answer").argument("<dispute>", "dispute id").description("the source confirms, withdraws or corrects the record"))
    .requiredOption("--source <id>", "the answering source (must be the record's source)")
    .addOption(new Option("--answer <answer>", "confirm, withdraw or correct").choices(["confirm", "withdraw", "correct"]).makeOptionMandatory())
    .requiredOption("--note <text>", "the source's explanation")
    .option("--correction <json>", "with --answer correct: the corrected record as JSON (id, type, subject, occurredAt, fields…)")
    .action(async (id: string, o: CommonOptions & { source: string; answer: "confirm" | "withdraw" | "correct"; note: string; correction?: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          let correction: unknown;
          if (o.correction !== undefined) {
            try {
              correction = JSON.parse(o.correction);
            } catch {
              throw new StandingError("bad-request", "--correction must be a JSON record");
            }
          }
          const r = await s.answerDispute(id, o.source, o.answer, o.note, correction);
          out.result(r, showDispute(r.dispute));
        }),
      )(),
    );
  common(dispute.command("decide").argument("<dispute>", "dispute id").description("a reviewer decides, with a written reason"))
    .addOption(new Option("--decision <decision>", "upheld (the record stops counting) or dismissed").choices(["upheld", "dismissed"]).makeOptionMandatory())
    .requiredOption("--reason <text>", "the written reason")
    .option("--reviewer <who>", "who decides", "reviewer")
    .action(async (id: string, o: CommonOptions & { decision: "upheld" | "dismissed"; reason: string; reviewer: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const d = await s.decideDispute(id, o.reviewer, o.decision, o.reason);
          out.result(d, showDispute(d));
        }),
      )(),
    );
  common(dispute.command("list").description("disputes, soonest deadline first"))
    .option("--status <status>", "only this status (open, confirmed, withdrawn, corrected, upheld, dismissed, expired)")
    .option("--source <id>", "only disputes this source must answer")
    .action(async (o: CommonOptions & { status?: string; source?: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const rows = await s.reads.listDisputes({ ...(o.status ? { status: o.status as never } : {}), ...(o.source ? { source: o.source } : {}), limit: 1000 });
          out.result(rows, rows.length === 0 ? "no disputes" : rows.map(showDispute).join("\n"));
        }),
      )(),
    );

  common(program.command("retract").description("a source retracts its own record: its effects are recomputed as if it never counted"))
    .requiredOption("--source <id>", "the source that submitted the record")
    .requiredOption("--record <id>", "the record's id")
    .requiredOption("--reason <text>", "why")
    .option("--id <id>", "id of the retraction record (default: RECORD-retraction)")
    .action(async (o: CommonOptions & { source: string; record: string; reason: string; id?: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const [r] = await s.ingest([{ source: o.source, id: o.id ?? `${o.record}-retraction`, retracts: o.record, occurredAt: new Date(s.now()).toISOString(), reason: o.reason }]);
          if (r?.status === "rejected") throw new StandingError(r.error.code, r.error.message, r.error.details);
          out.result(r, `${o.source}/${o.record}: retracted (${r?.status})`);
        }),
      )(),
    );

  common(program.command("apply").argument("<subject>", "SCHEME:VALUE").argument("<list>", "the list to leave").description("recovery by rule: apply to leave a list once its early-exit period has passed"))
    .action(async (subject: string, list: string, o: CommonOptions) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const r = await s.applyEarlyExit(await subjectOf(s, subject), list, "the subject");
          out.result(r, `applied to leave ${list}: ${r.until === null ? "left the list" : `still listed until ${r.until}`}`);
        }),
      )(),
    );

  const notices = program.command("notices").description("notices to subjects and their delivery");
  common(notices.command("list").argument("<subject>", "SCHEME:VALUE").description("notices issued to a subject"))
    .action(async (subject: string, o: CommonOptions) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const rows = [];
          for (const n of await s.reads.noticesOf(await subjectOf(s, subject))) rows.push({ ...n, body: JSON.parse(n.body) as { what: string }, outbox: (await s.reads.outboxOf(n.id)) ?? null });
          out.result(rows, rows.length === 0 ? "no notices" : rows.map((n) => `${new Date(n.createdAt).toISOString()}  ${n.body.what}${n.outbox?.deliveredAt ? " (delivered)" : " (not yet delivered)"}`).join("\n"));
        }),
      )(),
    );
  common(notices.command("deliver").description("deliver due notices once (serve does this continuously)"))
    .option("--log <file>", "append notices to this file (default: notices.ndjson beside the database)")
    .option("--webhook <url>", "also POST each notice here")
    .action(async (o: CommonOptions & { log?: string; webhook?: string }) =>
      run(o.json, async (out) => {
        const s = openStanding(o);
        try {
          const r = await new Outbox(s.noticeOutbox(), noticeChannels(dbPath(o), o.log, o.webhook ?? process.env.STANDING_NOTICE_WEBHOOK)).deliverDue(s.now());
          out.result(r, `delivered ${r.delivered} notice(s), ${r.failed} failed (retried later)`);
          return r.failed > 0 ? 1 : 0;
        } finally {
          await s.close();
        }
      })(),
    );

  const catalogue = program.command("catalogue").description("the catalogue of permitted record categories, which every policy's record types must come from");
  common(catalogue.command("show").description("the catalogue in force: its version, fingerprint and categories"))
    .action(async (o: CommonOptions) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const view = s.catalogueDocument();
          const lines = [`catalogue ${view.catalogue} ${view.version} (${view.hash.slice(0, 16)}…), ${view.adoptedAt === null ? "as shipped with Standing" : `adopted ${view.adoptedAt} by ${view.adoptedBy}`}`];
          for (const k of view.categories) lines.push(`  ${k.category.padEnd(28)} ${k.subjects.join(", ").padEnd(21)} ${k.description}`);
          out.result(view, lines.join("\n"));
        }),
      )(),
    );
  common(catalogue.command("adopt").argument("<file>", "catalogue YAML (see catalogue/categories.yaml)").description("adopt a new version of the catalogue; journaled, and refused if a policy in force would no longer compile"))
    .requiredOption("--by <who>", "who adopts it (kept in the journal)")
    .action(async (file: string, o: CommonOptions & { by: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          if (!existsSync(file)) throw new StandingError("not-found", `catalogue file ${file} does not exist`, { file });
          try {
            const r = await s.adoptCatalogue(readFileSync(file, "utf8"), file, o.by);
            const c = r.change;
            out.result(r, `${c.to.version}: ${r.status}${r.status === "adopted" ? ` (from ${c.from.version}: ${c.added.length} added, ${c.removed.length} removed, ${c.changed.length} changed)` : ""}`);
          } catch (e) {
            const errors = e instanceof StandingError ? (e.details as { errors?: PolicyDiagnostic[] }).errors : undefined;
            if (errors && !o.json) printDiagnostics(errors, "error");
            throw e;
          }
        }),
      )(),
    );

  const keys = program.command("keys").description("API keys for sources, checkpoints, operators and subjects");
  common(keys.command("create").description("create a key; it is printed once and stored hashed"))
    .requiredOption("--role <role>", `one of ${roles.join(", ")}`)
    .option("--source <id>", "role source: the source it submits as")
    .option("--contexts <list>", "role checkpoint: comma-separated contexts it may ask about")
    .option("--subject <identifier>", "role subject: SCHEME:VALUE of the subject whose file it reads")
    .option("--label <text>", "who holds the key (shown to subjects who were looked up)")
    .action(async (o: CommonOptions & { role: string; source?: string; contexts?: string; subject?: string; label?: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          let subjectId: number | undefined;
          if (o.subject !== undefined) {
            const ident = parseIdentifier(o.subject);
            subjectId = await s.reads.resolve(ident);
            if (subjectId === undefined) throw new StandingError("not-found", `no subject has ${o.subject}`, { identifier: ident });
          }
          const contexts = o.contexts?.split(",").map((c) => c.trim()).filter(Boolean);
          const { key, row } = await s.createKey({ role: o.role, ...(o.label ? { label: o.label } : {}), ...(o.source ? { source: o.source } : {}), ...(contexts ? { contexts } : {}), ...(subjectId !== undefined ? { subjectId } : {}) });
          out.result({ key, keyId: row.keyId, role: row.role, source: row.source, contexts: row.contexts, subjectId: row.subjectId, label: row.label }, `${key}\n(${row.role} key ${row.keyId}; shown once, stored hashed — keep it now)`);
        }),
      )(),
    );
  common(keys.command("revoke").argument("<keyId>", "the key id (the 12 hex digits after stk_)").description("revoke a key at once"))
    .action(async (keyId: string, o: CommonOptions) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const ok = await s.revokeKey(keyId);
          if (!ok) throw new StandingError("not-found", `no active key ${keyId}`, { keyId });
          out.result({ keyId, revoked: true }, `revoked ${keyId}`);
        }),
      )(),
    );
  common(keys.command("list").description("list keys (never the keys themselves)"))
    .action(async (o: CommonOptions) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          const rows = (await s.listKeys()).map((k) => ({ keyId: k.keyId, role: k.role, label: k.label, source: k.source, contexts: k.contexts, subjectId: k.subjectId, createdAt: new Date(k.createdAt).toISOString(), revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString() }));
          out.result(rows, rows.length === 0 ? "no keys" : rows.map((k) => `${k.keyId}  ${k.role.padEnd(13)} ${k.revokedAt ? "REVOKED " : ""}${k.label}${k.source ? ` source=${k.source}` : ""}${k.contexts.length ? ` contexts=${k.contexts.join(",")}` : ""}${k.subjectId !== null ? ` subject=#${k.subjectId}` : ""}`).join("\n"));
        }),
      )(),
    );

  registerAuditCommands(program, common, run); // `audit verify` (./audit.ts)
  registerStoreCommands(program, run); // `store copy` (./store.ts)

  common(program.command("demo").description("load a synthetic demo population (deterministic with --seed)"))
    .option("--subjects <n>", "how many subjects", (v) => Number.parseInt(v, 10), 10_000)
    .option("--seed <n>", "random seed", (v) => Number.parseInt(v, 10), 42)
    .option("--policy <file>", "publish this policy first if none is published", seedPolicyPath)
    .action(async (o: CommonOptions & { subjects: number; seed: number; policy: string }) =>
      run(o.json, (out) =>
        withStanding(o, async (s) => {
          if (!Number.isInteger(o.subjects) || o.subjects < 1) throw new StandingError("bad-request", "--subjects must be a positive whole number");
          await claimForDemo(s, dbPath(o));
          if (!s.activePolicy()) await publishWithProgress(s, o.policy, o.json ?? false);
          const r = await loadDemo(s, o.subjects, o.seed);
          out.result(r, `demo: ${r.subjects} subjects, ${r.accepted} records accepted, ${r.quarantined} quarantined, ${r.rejected} rejected`);
        }),
      )(),
    );

  common(program.command("serve").description("serve checks over HTTP and run the scheduler"))
    .option("--port <n>", "port (default $PORT or 8080)", (v) => Number.parseInt(v, 10))
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--demo", "on an empty database: publish the example policy and load a demo population")
    .option("--subjects <n>", "demo population size", (v) => Number.parseInt(v, 10), 10_000)
    .addOption(new Option("--log-level <level>", "request log level (one JSON line per request on stdout)").choices(LOG_LEVELS).default("info"))
    .option("--key-rate <n>", "requests per second one key may send (default: no limit)", Number)
    .option("--key-inflight-bytes <n>", "bytes of request bodies one key may have in flight (default: no limit)", Number)
    .option("--request-timeout <ms>", `a request must have arrived whole within this (default ${DEFAULT_LIMITS.requestTimeout})`, Number)
    .option("--trust-proxy", "behind a TLS-terminating proxy: trust X-Forwarded-Proto/-For (session cookies get Secure over https); also STANDING_TRUST_PROXY=1")
    .option("--session-idle-minutes <n>", "a web session unused this long ends (default 120)", Number)
    .option("--session-hours <n>", "a web session ends this long after sign-in (default 12)", Number)
    .option("--index-snapshot <file>", "keep the decision index in FILE between runs, so a restart need not read every state (default: beside an embedded database; also STANDING_INDEX_SNAPSHOT; off: none)")
    .option("--cluster", "a node of a cluster: records go through NATS JetStream to evaluators, and the index follows the change feed there within a staleness bound (docs/cluster.md); needs a PostgreSQL store")
    .action(async (o: CommonOptions & ServeLimitOptions & { port?: number; host: string; demo?: boolean; subjects: number; cluster?: boolean; indexSnapshot?: string }) =>
      run(o.json, async () => {
        if (o.cluster) requireSharedStore(o, "serve --cluster");
        const node = o.cluster ? await openClusterProcess(o, "standing-api", 0, checkpointOptions) : undefined;
        // A cluster node's index follows JetStream, whose positions a file here could not name.
        const snapshotFile = node ? undefined : indexSnapshotFile(o.indexSnapshot, storeUrl(o));
        const s = node?.standing ?? openStanding(o, snapshotFile === undefined ? {} : { indexSnapshot: snapshotFile });
        await whileStorageStarts("loading the index", () => s.start());
        const intake = node ? new ClusterIntake(node.cluster, s) : undefined;
        if (o.demo) {
          await claimForDemo(s, dbPath(o));
          if (!s.activePolicy() && s.publishedPolicies().length === 0) {
            const r = await publishWithProgress(s, seedPolicyPath, o.json ?? false);
            console.log(`published ${r.policy}`);
          }
          if ((await s.reads.countSubjects()) === 0) {
            const t0 = Date.now();
            const r = await loadDemo(s, o.subjects, 42);
            console.log(`loaded a demo population: ${r.subjects} subjects, ${r.accepted} records, ${r.quarantined} quarantined (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
          }
        }
        // Starting after a crash: finish what a killed publish left (no other server can be mid-way in it for long).
        await whileStorageStarts("finishing a publish left under way", () => s.advance(undefined, true));
        // Follow what other processes commit (the CLI beside this server): see ARCHITECTURE.md.
        await s.follow();
        const stopNode = node ? await startCheckpointNode(s, node.cluster, storeUrl(o)) : undefined;
        const indexed = s.indexedSubjects;
        const snapshots = snapshotFile === undefined ? undefined : keepIndexSnapshots(s);
        const keysForDemo = o.demo ? await demoKeys(s, dbPath(o)) : undefined;
        // One process runs the scheduler and notice delivery: in a cluster, the elected leader; else this one.
        const role = node ? leaderRoles(s, o, node.settings, noticeChannelsFor(o)) : undefined;
        const scheduler = node ? undefined : new Scheduler(s);
        scheduler?.start();
        const outbox = new Outbox(s.noticeOutbox(), noticeChannelsFor(o));
        let delivering = false;
        const deliverTimer = setInterval(() => {
          if (delivering || node) return;
          delivering = true;
          outbox.deliverDue(s.now()).catch((e: unknown) => console.error("standing outbox:", e)).finally(() => (delivering = false));
        }, 5_000);
        deliverTimer.unref();
        const decisionLog = new DecisionLog(s);
        const app = buildServer(s, { decisionLog, ...serveLimits(o, keysForDemo), ...(intake ? { intake } : {}) });
        const port = o.port ?? (process.env.PORT ? Number.parseInt(process.env.PORT, 10) : 8080);
        await app.listen({ port, host: o.host });
        const addr = app.server.address();
        const url = `http://${o.host}:${typeof addr === "object" && addr ? addr.port : port}`;
        const where = storeUrl(o);
        await printWelcome(s, url, where.includes("://") ? storeLabel(o) : dbPath(o), indexed, keysForDemo);
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            scheduler?.stop();
            clearInterval(deliverTimer);
            void app
              .close()
              .then(() => decisionLog.flush())
              .then(() => snapshots?.stop())
              .then(() => stopNode?.())
              .then(() => role?.stop())
              .then(() => node?.cluster.close())
              .then(() => s.close())
              .finally(resolve);
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
      })(),
    );

  registerClusterCommands(program, common, run);

  try {
    await program.parseAsync(hoistCommonOptions(argv));
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : 2;
    }
    throw e;
  }
  return exitCode;
}

