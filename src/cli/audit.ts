// `standing audit verify`, `audit witness`, `journal rotate-key` and `receipt verify`:
// registered by cli/main.ts with its own `common` and `run`.
import type { Command } from "commander";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { openStanding, storeLabel, storeUrl, type CommonOptions, type Output } from "./context.js";
import { StandingError } from "../errors.js";
import { FINGERPRINT, fingerprintOfKey, pinFile, publicKeyPem, readPin, writePin } from "../journal/keys.js";
import { verifyReceipt } from "../journal/receipt.js";
import type { Finding, VerifyReport } from "../journal/report.js";
import { checkAdvance, newWitnessState, parseWitnessState, recordHead, type Head, type WitnessState } from "../journal/witness.js";
import { replayerOf } from "../standing.js";
import { auditStore, storeHead, type AuditFileOptions } from "../store/open.js";

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
  const key = r.publicKey ? `key ${r.publicKey.fingerprint.slice(0, 16)}… (${r.publicKey.source === "pinned" ? "pinned with --public-key or STANDING_JOURNAL_KEY" : r.publicKey.source === "pin" ? "pinned fingerprint" : r.publicKey.source === "key-file" ? "from the key file" : "as stored in the database, not pinned"})` : "no key";
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

function readText(file: string, what: string): string {
  if (!existsSync(file)) throw new StandingError("not-found", `${what} ${file} does not exist`, { file });
  return readFileSync(file, "utf8");
}

/**
 * Where the key audit verify trusts comes from: --public-key, else STANDING_JOURNAL_KEY
 * (a PEM, the key JSON, a fingerprint, or a file holding one), else a witness's pinned
 * key, else the fingerprint pinned for this database outside its folder (recorded on
 * the first run that verifies).
 */
function keyOptions(db: string, o: { publicKey?: string }, witnesses: readonly WitnessState[]): { options: Partial<AuditFileOptions>; pinOnSuccess: boolean } {
  if (o.publicKey !== undefined) return { options: { publicKeyFile: o.publicKey }, pinOnSuccess: false };
  const env = process.env.STANDING_JOURNAL_KEY?.trim();
  if (env) {
    if (FINGERPRINT.test(env)) return { options: { pinnedFingerprint: env.toLowerCase() }, pinOnSuccess: false };
    const text = env.startsWith("-----BEGIN") || env.startsWith("{") ? env : readText(env, "STANDING_JOURNAL_KEY names a file that");
    const t = text.trim();
    return { options: FINGERPRINT.test(t) ? { pinnedFingerprint: t.toLowerCase() } : { publicKeyText: t }, pinOnSuccess: false };
  }
  const w = witnesses[0];
  if (w) return { options: { publicKeyText: w.publicKey }, pinOnSuccess: false };
  const pin = readPin(db);
  if (pin) return { options: { pinnedFingerprint: pin.fingerprint }, pinOnSuccess: false };
  return { options: {}, pinOnSuccess: true };
}

function writeState(file: string, state: WitnessState): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n", { mode: 0o644 });
  renameSync(tmp, file);
}

async function getJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(15_000), headers: { accept: "application/json" } });
  } catch (e) {
    throw new StandingError("storage-unavailable", `${url} cannot be reached: ${(e as Error).message}`, { url });
  }
  if (!res.ok) throw new StandingError("storage-unavailable", `${url} answered ${res.status}`, { url, status: res.status });
  try {
    return await res.json();
  } catch {
    throw new StandingError("bad-request", `${url} did not answer JSON`, { url });
  }
}

function asHead(o: unknown, from: string): Head {
  const h = o as Partial<Head> | null;
  if (!h || !Number.isSafeInteger(h.seq) || typeof h.hash !== "string" || !Number.isFinite(h.at) || !Number.isSafeInteger(h.prev) || typeof h.signature !== "string" || typeof h.fingerprint !== "string") {
    throw new StandingError("bad-request", `${from} did not give a signed head`, { source: from });
  }
  return { seq: h.seq as number, hash: h.hash, at: h.at as number, prev: h.prev as number, signature: h.signature, fingerprint: h.fingerprint };
}

/** Fetches the head (and the hash at `since`) from a server's base URL or a database. */
async function fetchHead(source: string, since: number | undefined): Promise<{ head: Head; sinceHash: string | undefined; publicKey: () => Promise<string> }> {
  if (/^https?:\/\//i.test(source)) {
    const base = source.replace(/\/+$/, "").replace(/\/v1\/journal\/head$/, "");
    const o = (await getJson(`${base}/v1/journal/head${since !== undefined ? `?since=${since}` : ""}`)) as { since?: { hash?: unknown } };
    return {
      head: asHead(o, source),
      sinceHash: typeof o.since?.hash === "string" ? o.since.hash : undefined,
      publicKey: async () => {
        const k = (await getJson(`${base}/v1/journal/key`)) as { publicKey?: unknown };
        if (typeof k.publicKey !== "string") throw new StandingError("bad-request", `${base}/v1/journal/key did not give a public key`, { source });
        return publicKeyPem(k.publicKey);
      },
    };
  }
  const r = await storeHead(source, since);
  if (!r.head) throw new StandingError("not-found", `${source} has no signed head yet`, { source });
  return {
    head: r.head,
    sinceHash: r.since?.hash ?? undefined,
    publicKey: async () => {
      if (!r.publicKey) throw new StandingError("not-found", `${source} has no key file beside it: give the published key with --public-key`, { source });
      return r.publicKey;
    },
  };
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
    .option("--public-key <file>", "the published journal key (PEM, or the JSON of GET /v1/journal/key); default: STANDING_JOURNAL_KEY, else the fingerprint pinned for this database on its first verification")
    .option("--witness <file...>", "state files of witnesses (standing audit witness): the journal must still contain every head they recorded")
    .action(async (o: CommonOptions & { publicKey?: string; witness?: string[] }) =>
      run(o.json, async (out) => {
        const path = storeUrl(o);
        const witnesses = (o.witness ?? []).map((f) => {
          try {
            return parseWitnessState(readText(f, "witness state file"), f);
          } catch (e) {
            if (e instanceof StandingError) throw e;
            throw new StandingError("bad-request", (e as Error).message, { file: f });
          }
        });
        const keys = keyOptions(path, o, witnesses);
        const witnessHeads = witnesses.flatMap((w) => w.heads.map((h) => ({ seq: h.seq, hash: h.hash, at: h.at })));
        const report = await auditStore(path, { replay: replayerOf(), ...keys.options, ...(witnessHeads.length > 0 ? { witnessHeads } : {}) });
        let note = "";
        if (report.ok && keys.pinOnSuccess && report.publicKey) {
          const file = writePin(path, report.publicKey.fingerprint, new Date());
          note = `\npinned key ${report.publicKey.fingerprint.slice(0, 16)}… for this database in ${file} (first verification): later runs fail if the journal or its key file is signed by another key`;
        }
        out.result(report, renderReport(storeLabel(o), report) + note);
        if (!report.ok && !o.json) process.stderr.write(`standing: audit verify failed: ${line(report.problems[0] as Finding)}\n`);
        return report.ok ? 0 : 1;
      })(),
    );

  common(
    audit
      .command("witness")
      .argument("<source>", "the server's base URL (https://…) or a database file")
      .description("fetch the latest signed head, check that it extends the last head this witness recorded, and record it"),
  )
    .requiredOption("--state <file>", "the witness's state file (created on the first run, which pins the journal key)")
    .option("--public-key <file>", "pin this key on the first run instead of the one the source publishes")
    .action(async (source: string, o: CommonOptions & { state: string; publicKey?: string }) =>
      run(o.json, async (out) => {
        let state: WitnessState | null = null;
        if (existsSync(o.state)) {
          try {
            state = parseWitnessState(readFileSync(o.state, "utf8"), o.state);
          } catch (e) {
            throw new StandingError("bad-request", (e as Error).message, { file: o.state });
          }
        }
        const last = state?.heads[state.heads.length - 1];
        const got = await fetchHead(source, last?.seq);
        if (!state) state = newWitnessState(source, o.publicKey !== undefined ? publicKeyPem(readText(o.publicKey, "public key file")) : await got.publicKey());
        const verdict = checkAdvance(state, got.head, got.sinceHash);
        if (!verdict.ok) throw new StandingError("journal-inconsistent", `witness: ${verdict.message}`, { source, head: got.head.seq, ...(last ? { last: last.seq } : {}) });
        if (verdict.extended) writeState(o.state, recordHead(state, got.head, new Date()));
        const result = { ok: true, source, head: got.head, previous: last ? { seq: last.seq, hash: last.hash } : null, recorded: verdict.extended, fingerprint: state.fingerprint };
        out.result(
          result,
          `witnessed head #${got.head.seq} ${got.head.hash.slice(0, 16)}… signed ${new Date(got.head.at).toISOString()} by key ${state.fingerprint.slice(0, 16)}…: ${last ? (verdict.extended ? `extends #${last.seq}` : `unchanged since ${last.seenAt}`) : "first head recorded"}`,
        );
        return 0;
      })(),
    );

  const journal = program.command("journal").description("the journal's key");
  common(journal.command("key").description("the journal's public key and fingerprint, and where this machine pins it"))
    .action(async (o: CommonOptions) =>
      run(o.json, async (out) => {
        const s = openStanding(o);
        try {
          const k = s.journalKey();
          const head = await s.journalHead();
          const pin = readPin(storeUrl(o));
          out.result({ ...k, head: head ?? null, pin: pin ?? null, pinFile: pinFile() }, `${k.publicKey.trim()}\nfingerprint ${k.fingerprint}\nhead ${head ? `#${head.seq} ${head.hash}` : "none"}\npin ${pin ? `${pin.fingerprint} (${pin.pinnedAt})` : "none"} in ${pinFile()}`);
        } finally {
          await s.close();
        }
      })(),
    );
  common(journal.command("rotate-key").description("replace the journal key: a journaled event endorsed and signed by the old key; stop the service first"))
    .action(async (o: CommonOptions) =>
      run(o.json, async (out) => {
        const s = openStanding(o);
        try {
          const r = await s.rotateJournalKey();
          out.result(r, `journal key rotated at entry #${r.seq}: ${r.from.slice(0, 16)}… → ${r.to.slice(0, 16)}…; publish the new key (GET /v1/journal/key)`);
        } finally {
          await s.close();
        }
      })(),
    );

  const receipt = program.command("receipt").description("signed receipts of check answers, notices and statements");
  common(receipt.command("verify").argument("<file>", "a receipt, or a check answer, notice or statement that carries one (JSON)").description("check a receipt's signature and print what it states"))
    .option("--public-key <file>", "the published journal key (PEM or the JSON of GET /v1/journal/key); default: STANDING_JOURNAL_KEY")
    .action(async (file: string, o: CommonOptions & { publicKey?: string }) =>
      run(o.json, (out) => {
        const keyText = o.publicKey !== undefined ? readText(o.publicKey, "public key file") : process.env.STANDING_JOURNAL_KEY?.trim();
        if (!keyText) throw new StandingError("bad-request", "receipt verify needs the journal's public key: --public-key FILE or STANDING_JOURNAL_KEY");
        let pem: string;
        try {
          pem = publicKeyPem(keyText.startsWith("-----BEGIN") || keyText.startsWith("{") ? keyText : readText(keyText, "STANDING_JOURNAL_KEY names a file that"));
        } catch (e) {
          if (e instanceof StandingError) throw e;
          throw new StandingError("bad-request", `the public key cannot be read: ${(e as Error).message}`);
        }
        const r = verifyReceipt(readText(file, "receipt file"), pem);
        if (!r.ok) throw new StandingError("invalid-receipt", `receipt ${file}: ${r.message}`, { file });
        const c = r.claims;
        const what = c.type === "check" ? `${c.answer.toUpperCase()} ${c.subject.scheme}:${c.subject.value} in ${c.context}${c.codes.length ? ` (${c.codes.join(", ")})` : ""}, policy ${c.policy}` : `${c.type} ${c.id} for subject #${c.subject}, digest ${c.digest}`;
        out.result({ ok: true, fingerprint: r.fingerprint, claims: c }, `OK: signed by key ${fingerprintOfKey(pem).slice(0, 16)}…\n${c.type} ${c.id} at ${c.at}: ${what}\nunder journal head ${c.head ? `#${c.head.seq} ${c.head.hash}` : "(none known)"}`);
        return 0;
      })(),
    );
}
