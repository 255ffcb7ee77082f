// `audit verify`: checks the journal chain, the checkpoint signatures, every row of
// every table against the journal, the records and policies against themselves, and
// replays every stored subject state. It reports problems; it never repairs, never
// signs and never writes to the database. What this proves, and what it cannot, is
// written down in docs/journal.md.
import type Database from "better-sqlite3";
import { createPublicKey, verify as verifySignature, type KeyObject } from "node:crypto";
import { firstDifference, type ProblemKind, type VerifyReport } from "../../journal/report.js";
import type { Replayer, StoredInputs, WitnessedHead } from "../types.js";
import { pageStatements, readPage } from "./rows.js";
import { checkSchema } from "./schema-check.js";
import { Findings, checkPolicy, describeRow, fmt, iso, keyValues, parsePublicKey, text, type PolicyCheckRow } from "../../journal/verify-core.js";
import { StandingError } from "../../errors.js";
import { BATCH_DIGEST_CHARS, GENESIS, batchEntry, batchRow, checkpointPayload, entryHash, headPayload, rotationPayload, sha256Hex, sortBatch, type SqlValue } from "../../journal/hash.js";
import {
  batchedTables,
  fingerprintOf,
  installJournal,
  journalFor,
  journalTables,
  journaledTables,
  keySql,
  quoteId,
  quoteLit,
  rowHashSql,
  type Journal,
  type JournaledTable,
} from "./journal.js";

type Db = Database.Database;
type Row = Record<string, unknown>;

export interface VerifyOptions {
  /** Replays every stored state with it; without one, replay is skipped (a warning). */
  readonly replay?: Replayer;
  /**
   * The published public key to check signatures against (SPKI PEM, or the JSON served
   * at /v1/journal/key). Without it, the key file beside the database is used.
   */
  readonly publicKey?: string | KeyObject;
  /** The connection's journal (default: the one installed on the connection, if any). */
  readonly journal?: Journal;
  /** Run PRAGMA integrity_check first (default true). */
  readonly integrityCheck?: boolean;
  /** How many problems to list (default 200; the rest are counted in `omitted`). */
  readonly maxProblems?: number;
  /** A key fingerprint pinned elsewhere (sha256 of the DER public key, hex). */
  readonly pinnedFingerprint?: string;
  /** Signed heads a witness recorded: the journal must contain each. */
  readonly witnessHeads?: readonly WitnessedHead[];
}

/** Enough of a hash to tell two apart in a message (16 hex digits, 64 bits). */
function short(hash: unknown): string {
  return typeof hash === "string" ? (hash.length > 16 ? `${hash.slice(0, 16)}…` : hash) : String(hash);
}

function tableExists(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

function columnsOf(db: Db, table: string): string[] {
  return (db.prepare(`PRAGMA main.table_info(${quoteId(table)})`).all() as { name: string }[]).map((c) => c.name);
}

/**
 * Verifies a database: its SQLite structure, the journal chain, the signed checkpoints,
 * every row against its latest journal entry, records and policies against themselves,
 * and (with `replay`) every stored subject state against its replay. Problems are listed
 * in that order, so the first names the most basic fault.
 */
export function verifyJournal(target: Db | { readonly db: Db }, options: VerifyOptions = {}): VerifyReport {
  const db: Db = "db" in target && typeof (target as { db?: unknown }).db === "object" ? (target as { db: Db }).db : (target as Db);
  const journal = options.journal ?? journalFor(db) ?? installJournal(db, { readOnly: true });
  const f = new Findings(options.maxProblems ?? 200);
  const guard = (kind: ProblemKind, where: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      f.problem({ kind: "sqlite", where, message: `could not be read (${kind} check stopped): ${(e as Error).message}` });
    }
  };

  let entries = 0;
  let head: { seq: number; hash: string } | null = null;
  let checkpointCount = 0;
  let lastGood: { seq: number; at: number } | null = null;
  let publicKeyInfo: VerifyReport["publicKey"] = null;
  let rows = 0;
  let statesChecked = 0;
  const badPolicies = new Set<string>();

  const started = !db.inTransaction;
  // One read transaction: a consistent snapshot even while a server keeps writing (WAL).
  if (started) db.exec("BEGIN");
  try {
    // ---- 0. the file itself
    if (options.integrityCheck ?? true) {
      guard("sqlite", "database file", () => {
        const res = db.prepare("PRAGMA integrity_check(100)").pluck().all() as string[];
        if (!(res.length === 1 && res[0] === "ok")) {
          for (const r of res) f.problem({ kind: "sqlite", where: "database file", message: `SQLite integrity check: ${r}` });
        }
      });
    }

    const hasJournal = tableExists(db, "journal") && tableExists(db, "journal_checkpoints");
    if (!hasJournal) {
      f.problem({ kind: "journal", where: "journal", message: "the database has no journal (tables journal and journal_checkpoints are missing): nothing it holds can be verified; a journal that was removed cannot be told from one that never existed" });
    }

    let all: JournaledTable[] = [];
    guard("row", "database schema", () => (all = journaledTables(db)));
    const byName = new Map(all.map((t) => [t.name, t]));
    const describeEntry = (tbl: unknown, key: unknown): string => {
      if (key === null || key === undefined) return String(tbl); // a batch entry: the whole table's
      const t = byName.get(String(tbl));
      return t ? describeRow(t, keyValues(String(key))) : `${String(tbl)} ${String(key)}`;
    };

    // ---- 1. the chain; 2. the checkpoints
    if (hasJournal) {
      const cps = db.prepare("SELECT seq, head_hash, at, signature, public_key FROM journal_checkpoints ORDER BY seq").all() as Row[];
      checkpointCount = cps.length;
      const signedSeqs = new Set([...cps.map((c) => Number(c.seq)), ...(options.witnessHeads ?? []).map((w) => w.seq)]);
      const rotations: { seq: number; at: number; from: string; to: string; publicKey: string; endorsement: string }[] = [];
      const hashAt = new Map<number, string>();
      let baselines = 0;
      guard("chain", "journal", () => {
        let expected = 1;
        let prevHash = GENESIS;
        let prevBroken = false;
        for (const e of db.prepare("SELECT seq, kind, tbl, key, row_hash, data, prev, hash FROM journal ORDER BY seq").iterate() as Iterable<Row>) {
          entries++;
          const seq = Number(e.seq);
          const about = e.tbl !== null && e.tbl !== undefined ? ` (${String(e.kind)} ${describeEntry(e.tbl, e.key)})` : ` (${String(e.kind)})`;
          const where = `journal seq=${seq}`;
          let gap = false;
          if (seq !== expected) {
            gap = true;
            f.problem({ kind: "chain", where: `journal seq=${Math.min(seq, expected)}`, seq: Math.min(seq, expected), message: seq > expected ? `entr${seq - expected === 1 ? "y" : "ies"} #${expected}${seq - expected > 1 ? `–#${seq - 1}` : ""} missing before entry #${seq}: deleted from the journal` : `entry #${seq} is out of order` });
          }
          if (!gap && !prevBroken && e.prev !== prevHash) {
            f.problem({ kind: "chain", where, seq, message: `entry #${seq}${about}: its prev (${short(e.prev)}) is not the hash of entry #${seq - 1} (${short(prevHash)}): the chain was cut or rewritten here` });
          }
          const computed = entryHash(String(e.prev), { seq, kind: String(e.kind), tbl: text(e.tbl), key: text(e.key), rowHash: text(e.row_hash), data: text(e.data) });
          prevBroken = computed !== e.hash;
          if (prevBroken) {
            f.problem({ kind: "chain", where, seq, ...(e.tbl ? { table: String(e.tbl), key: keyValues(String(e.key)) } : {}), message: `entry #${seq}${about}: its hash (${short(e.hash)}) is not the hash of its content (${short(computed)}): the entry was changed after it was written` });
          }
          if (signedSeqs.has(seq)) hashAt.set(seq, String(e.hash));
          if (e.kind === "baseline") baselines++;
          if (e.kind === "journal.key-rotated" && e.tbl === null) {
            try {
              const d = JSON.parse(String(e.data)) as Record<string, unknown>;
              rotations.push({ seq, at: Number(d.at), from: String(d.from), to: String(d.to), publicKey: String(d.publicKey), endorsement: String(d.endorsement) });
            } catch {
              f.problem({ kind: "chain", where, seq, message: `entry #${seq} (journal.key-rotated): its data cannot be read` });
            }
          }
          prevHash = String(e.hash);
          expected = seq + 1;
          head = { seq, hash: String(e.hash) };
        }
      });
      if (baselines > 0) {
        f.warn({ kind: "baseline", where: "journal", message: `${baselines} row(s) were journaled as a baseline when the journal started on a database that already held them: their history before that is not covered` });
      }

      // Which keys sign, and which of them is trusted? The journal names its keys: the
      // first, and each one a `journal.key-rotated` event introduced, endorsed by the one
      // before. A key is identified by its fingerprint, so any copy of it (a checkpoint's
      // public_key column, the event, the key file) is that key.
      const keys = new Map<string, KeyObject>();
      const remember = (pem: unknown): string | null => {
        try {
          const k = createPublicKey(String(pem));
          const fp = fingerprintOf(k);
          if (!keys.has(fp)) keys.set(fp, k);
          return fp;
        } catch {
          return null;
        }
      };
      let anchor: { fingerprint: string; source: "pinned" | "pin" | "key-file" } | null = null;
      try {
        if (options.publicKey !== undefined) {
          const k = parsePublicKey(options.publicKey);
          const fp = fingerprintOf(k);
          keys.set(fp, k);
          anchor = { fingerprint: fp, source: "pinned" };
        } else if (options.pinnedFingerprint !== undefined) {
          anchor = { fingerprint: options.pinnedFingerprint.toLowerCase(), source: "pin" };
        } else if (journal.publicKey) {
          anchor = { fingerprint: fingerprintOf(journal.publicKey), source: "key-file" };
        }
      } catch (e) {
        f.problem({ kind: "checkpoint", where: "public key", message: `the public key given cannot be read: ${(e as Error).message}` });
      }
      const keyFilePrint = journal.publicKey ? fingerprintOf(journal.publicKey) : null;
      let legacyHeads = 0;
      if (journal.publicKey && keyFilePrint) keys.set(keyFilePrint, journal.publicKey);
      const cpPrints = cps.map((c) => remember(c.public_key));
      // The keys in force, in order: epochs[i] signs checkpoints after rotations[i-1].
      const firstKey = rotations[0]?.from ?? cpPrints.find((p) => p !== null) ?? anchor?.fingerprint ?? null;
      const epochs: { from: number; fingerprint: string }[] = firstKey ? [{ from: 0, fingerprint: firstKey }] : [];
      for (const r of rotations) {
        const where = `journal seq=${r.seq}`;
        const current = epochs[epochs.length - 1]?.fingerprint;
        if (r.from !== current) {
          f.problem({ kind: "checkpoint", where, seq: r.seq, message: `entry #${r.seq} (journal.key-rotated) rotates away from key ${short(r.from)}, but the key in force was ${short(current)}: the rotation was forged` });
          continue;
        }
        const fromKey = keys.get(r.from);
        const toPrint = remember(r.publicKey);
        let endorsed: boolean;
        try {
          endorsed = fromKey !== undefined && toPrint === r.to && verifySignature(null, Buffer.from(rotationPayload(r.from, r.to, r.publicKey, r.at), "utf8"), fromKey, Buffer.from(r.endorsement, "base64"));
        } catch {
          endorsed = false;
        }
        if (!endorsed) {
          f.problem({ kind: "checkpoint", where, seq: r.seq, message: `entry #${r.seq} (journal.key-rotated) introduces key ${short(r.to)}, but the old key ${short(r.from)} did not endorse it: the rotation was forged` });
          continue;
        }
        epochs.push({ from: r.seq, fingerprint: r.to });
      }
      const epochAt = (seq: number): string | undefined => {
        let fp: string | undefined;
        for (const e of epochs) if (e.from < seq) fp = e.fingerprint;
        return fp;
      };
      const lastKey = epochs[epochs.length - 1]?.fingerprint;
      if (anchor) {
        publicKeyInfo = { fingerprint: anchor.fingerprint, source: anchor.source };
        if (cps.length > 0 && !epochs.some((e) => e.fingerprint === anchor.fingerprint)) {
          const what = anchor.source === "key-file" ? "the key file beside the database" : anchor.source === "pin" ? "the fingerprint pinned for this database" : "the pinned public key";
          f.problem({ kind: "checkpoint", where: "journal key", message: `the journal is signed by key ${short(lastKey)}, not by ${what} (${short(anchor.fingerprint)}): it was re-signed by someone else, or the key was replaced` });
        }
        if (anchor.source !== "key-file" && !keyFilePrint && journal.keyFile) {
          f.warn({ kind: "key", where: "journal key file", message: `there is no key file beside the database (${journal.keyFile}): checked against the pinned key alone; a service opened on this file would make a new key, whose heads then fail verification` });
        }
        if (anchor.source !== "key-file" && keyFilePrint && lastKey && keyFilePrint !== lastKey && epochs.some((e) => e.fingerprint === anchor.fingerprint)) {
          f.problem({ kind: "checkpoint", where: "journal key file", message: `the key file beside the database holds key ${short(keyFilePrint)}, not the journal key ${short(lastKey)}: it was replaced` });
        }
      } else if (cps.length > 0) {
        f.warn({ kind: "key", where: "journal key", message: "no key file beside the database, no --public-key and no pinned fingerprint: signatures were checked against the key each checkpoint carries, which proves nothing against someone who can write the database; pin the published key (GET /v1/journal/key) with --public-key" });
        if (firstKey) publicKeyInfo = { fingerprint: firstKey, source: "database" };
      }
      const headNow = head as { seq: number; hash: string } | null;
      cps.forEach((c, i) => {
        const seq = Number(c.seq);
        const where = `journal_checkpoints seq=${seq}`;
        const expected = epochAt(seq);
        const own = cpPrints[i];
        if (own === null || own === undefined) {
          f.problem({ kind: "checkpoint", where, seq, message: `checkpoint #${seq}: its public key cannot be read` });
          if (!expected) return;
        } else if (expected && own !== expected) {
          f.problem({ kind: "checkpoint", where, seq, message: `checkpoint #${seq} carries key ${short(own)}, not the journal key ${short(expected)}: it was signed by someone else` });
        }
        const key = expected ? keys.get(expected) : undefined;
        // A head signs the seq of the head before it; heads signed before that was so sign {at, headHash, seq}.
        const prev = i > 0 ? Number(cps[i - 1]?.seq) : 0;
        const sig = Buffer.from(String(c.signature), "base64");
        const verifies = (payload: string): boolean => {
          try {
            return key !== undefined && verifySignature(null, Buffer.from(payload, "utf8"), key, sig);
          } catch {
            return false;
          }
        };
        if (verifies(checkpointPayload(seq, String(c.head_hash), Number(c.at)))) {
          legacyHeads++;
        } else if (!verifies(headPayload(seq, String(c.head_hash), Number(c.at), prev))) {
          f.problem({ kind: "checkpoint", where, seq, message: `signed head #${seq} (${iso(c.at)}): the signature does not verify against the journal key${expected ? ` ${short(expected)}` : ""} with #${prev} as the head before it: the head was forged or altered, or a signed head before it was removed` });
          return;
        }
        const actual = hashAt.get(seq);
        if (actual === undefined) {
          f.problem({ kind: "chain", where: `journal seq=${seq}`, seq, message: headNow && seq > headNow.seq ? `the journal ends at entry #${headNow.seq}, but checkpoint #${seq} signed ${seq - headNow.seq} more: entries were removed from the end of the journal` : `entry #${seq}, signed by a checkpoint, is missing` });
          return;
        }
        if (actual !== c.head_hash) {
          f.problem({ kind: "chain", where: `journal seq=${seq}`, seq, message: `entry #${seq} has hash ${short(actual)}, but checkpoint #${seq} signed ${short(c.head_hash)}: the journal up to #${seq} was rewritten after it was signed` });
          return;
        }
        if (!lastGood || seq > lastGood.seq) lastGood = { seq, at: Number(c.at) };
      });

      if (legacyHeads > 0) {
        f.warn({ kind: "legacy-heads", where: "journal_checkpoints", message: `${legacyHeads} checkpoint(s) were signed before heads named the head before them: removing one of those is not detected` });
      }

      // Heads a witness recorded: the journal must still contain each of them.
      for (const w of options.witnessHeads ?? []) {
        const where = `journal seq=${w.seq}`;
        const actual = hashAt.get(w.seq);
        const seen = w.at !== undefined ? ` on ${iso(w.at)}` : "";
        if (headNow === null || w.seq > headNow.seq) {
          f.problem({ kind: "witness", where, seq: w.seq, message: `a witness recorded signed head #${w.seq} (${short(w.hash)})${seen}, but the journal ends at #${headNow?.seq ?? 0}: the store was rolled back` });
        } else if (actual !== w.hash) {
          f.problem({ kind: "witness", where, seq: w.seq, message: `a witness recorded signed head #${w.seq} as ${short(w.hash)}${seen}, but entry #${w.seq} now hashes to ${short(actual)}: the store was rolled back or its history rewritten` });
        }
      }
    }
    const headFinal = head as { seq: number; hash: string } | null;
    const good = lastGood as { seq: number; at: number } | null;
    const unsignedTail = headFinal ? headFinal.seq - (good?.seq ?? 0) : 0;
    // Every commit that journals anything ends with a signed head, so an entry after the
    // last good one was appended outside Standing, or its head was removed.
    if (unsignedTail > 0) {
      const from = (good?.seq ?? 0) + 1;
      f.problem({
        kind: "checkpoint",
        where: `journal seq=${from}`,
        seq: from,
        message: good
          ? `${unsignedTail} entr${unsignedTail === 1 ? "y follows" : "ies follow"} the last signed head (#${good.seq}), but every commit ends with a signed head: entries #${from}–#${headFinal?.seq ?? from} were appended outside Standing, or their head was removed`
          : `the journal has ${unsignedTail} entr${unsignedTail === 1 ? "y" : "ies"} and no valid signed head: nothing in it can be trusted`,
      });
    }

    // ---- 3. every row of every table against its latest journal entry
    const tables = all.length;
    if (hasJournal) {
      guard("row", "journal", () => {
        db.exec(`CREATE TEMP TABLE IF NOT EXISTS journal_verify_latest (tbl TEXT NOT NULL, key TEXT NOT NULL, row_hash TEXT, seq INTEGER NOT NULL, kind TEXT, PRIMARY KEY (tbl, key)) WITHOUT ROWID;
          DELETE FROM temp.journal_verify_latest;
          INSERT INTO temp.journal_verify_latest (tbl, key, row_hash, seq, kind)
            SELECT tbl, key, row_hash, max(seq), kind FROM main.journal WHERE tbl IS NOT NULL AND key IS NOT NULL GROUP BY tbl, key;`);
      });
      const names = new Set(all.map((t) => t.name));
      for (const t of all) {
        guard("row", t.name, () => checkTable(db, t, f, (n) => (rows += n)));
        if (t.batch) guard("row", t.name, () => checkBatches(db, t, f));
      }
      guard("row", "journal", () => {
        const gone = db.prepare("SELECT tbl, count(*) AS n, max(seq) AS seq FROM temp.journal_verify_latest WHERE row_hash IS NOT NULL GROUP BY tbl").all() as Row[];
        for (const g of gone) {
          const name = String(g.tbl);
          if (names.has(name) || journalTables.includes(name)) continue;
          f.problem({ kind: "row", where: `table ${name}`, table: name, seq: Number(g.seq), message: `table ${name} is gone, but the journal says ${String(g.n)} of its rows exist (last entry #${String(g.seq)}): it was dropped outside Standing` });
        }
        for (const [name, b] of Object.entries(batchedTables)) {
          if (names.has(name)) continue;
          const g = db.prepare("SELECT count(*) AS n, max(seq) AS seq FROM main.journal WHERE tbl = ? AND kind = ? AND key IS NULL").get(name, b.kind) as Row;
          if (Number(g.n) > 0) f.problem({ kind: "row", where: `table ${name}`, table: name, seq: Number(g.seq), message: `table ${name} is gone, but the journal holds ${String(g.n)} batch(es) of its rows (last entry #${String(g.seq)}): it was dropped outside Standing` });
        }
        db.exec("DROP TABLE IF EXISTS temp.journal_verify_latest");
      });
    }

    // ---- 3b. the schema: what the file accepts and does on a write, beside what it holds
    guard("schema", "database schema", () => {
      const v = tableExists(db, "meta") ? (db.prepare("SELECT value FROM main.meta WHERE key = 'schema'").pluck().get() as string | undefined) : undefined;
      for (const d of checkSchema(db, v === undefined ? null : Number(v))) f.problem({ kind: "schema", where: d.where, message: d.message });
    });

    // ---- 4. records and policies against themselves
    guard("record", "records", () => checkRecords(db, f));
    guard("policy", "policies", () => checkPolicies(db, f, badPolicies));

    // ---- 5. replay every stored state
    if (!options.replay) {
      f.warn({ kind: "replay-skipped", where: "states", message: "stored states were not replayed (no policy engine was given)" });
    } else if (tableExists(db, "states")) {
      guard("replay", "states", () => (statesChecked = replayStates(db, options.replay as Replayer, f, badPolicies)));
    }
    if (tableExists(db, "states") && tableExists(db, "meta")) guard("replay", "states", () => checkActiveVersion(db, f));

    return {
      ok: f.problems.length === 0 && f.omitted === 0,
      at: new Date().toISOString(),
      entries,
      head: headFinal,
      checkpoints: checkpointCount,
      lastCheckpoint: lastGood ? { seq: (lastGood as { seq: number }).seq, at: iso((lastGood as { at: number }).at) } : null,
      unsignedTail,
      publicKey: publicKeyInfo,
      tables,
      rows,
      states: { checked: statesChecked, replayed: options.replay !== undefined },
      problems: f.problems,
      warnings: f.warnings,
      omitted: f.omitted,
    };
  } finally {
    if (started && db.inTransaction) db.exec("COMMIT");
  }
}

/** SQL: the seqs of a batched table's batch entries. */
function batchSeqsSql(t: JournaledTable): string {
  return `SELECT seq FROM main.journal WHERE tbl = ${quoteLit(t.name)} AND kind = ${quoteLit(t.batch?.kind ?? "")} AND key IS NULL`;
}

function checkTable(db: Db, t: JournaledTable, f: Findings, count: (n: number) => void): void {
  const cols = new Set(t.columns);
  const label = cols.has("source") && cols.has("record_id") ? ", source AS l_source, record_id AS l_id" : "";
  const labelOf = (r: Row): string => (label && r.l_source !== undefined ? ` (${fmt(r.l_source)}/${fmt(r.l_id)})` : "");
  count(db.prepare(`SELECT count(*) FROM main.${quoteId(t.name)}`).pluck().get() as number);
  // In a batched table, the rows of a batch entry are checked by checkBatches; the rest
  // (logged before batches, or baselined) must match entries of their own.
  const bcol = t.batch ? quoteId(t.batch.column) : "";
  const own = t.batch ? `WHERE ${bcol} IS NULL OR ${bcol} NOT IN (${batchSeqsSql(t)})` : "";
  const changed = db.prepare(
    `SELECT c.k AS k, c.h AS h, l.row_hash AS jh, l.seq AS jseq, l.kind AS jkind${label ? ", c.l_source AS l_source, c.l_id AS l_id" : ""}${t.batch ? ", c.b AS b" : ""}
     FROM (SELECT ${keySql(t)} AS k, ${rowHashSql(t)} AS h${label}${t.batch ? `, ${bcol} AS b` : ""} FROM main.${quoteId(t.name)} ${own}) AS c
     LEFT JOIN temp.journal_verify_latest AS l ON l.tbl = ${quoteLit(t.name)} AND l.key = c.k
     WHERE l.row_hash IS NOT c.h
     ORDER BY l.seq IS NULL, l.seq, c.k`,
  );
  for (const r of changed.iterate() as Iterable<Row>) {
    const key = keyValues(String(r.k));
    const where = describeRow(t, key) + labelOf(r);
    if ((r.jseq === null || r.jseq === undefined) && r.b !== null && r.b !== undefined) {
      f.problem({ kind: "row", where, table: t.name, key, message: `${where}: this row is not in the journal: its batch column names entry #${String(r.b)}, which is no batch of ${t.name}: it was inserted outside Standing` });
    } else if (r.jseq === null || r.jseq === undefined) {
      f.problem({ kind: "row", where, table: t.name, key, message: `${where}: this row is not in the journal: it was inserted outside Standing` });
    } else if (r.jh === null) {
      f.problem({ kind: "row", where, table: t.name, key, seq: Number(r.jseq), message: `${where}: the journal says this row was deleted (entry #${String(r.jseq)}), yet it exists: it was put back outside Standing` });
    } else {
      f.problem({ kind: "row", where, table: t.name, key, seq: Number(r.jseq), message: `${where}: the row differs from what journal entry #${String(r.jseq)} (${String(r.jkind)}) recorded: it was changed outside Standing` });
    }
  }
  const keyMatch = t.key.map((c, i) => `${c === "rowid" ? "x.rowid" : `x.${quoteId(c)}`} = json_extract(l.key, '$[${i}]')`).join(" AND ");
  const deleted = db.prepare(
    `SELECT l.key AS k, l.seq AS jseq, l.kind AS jkind FROM temp.journal_verify_latest AS l
     WHERE l.tbl = ${quoteLit(t.name)} AND l.row_hash IS NOT NULL AND json_valid(l.key)
       AND NOT EXISTS (SELECT 1 FROM main.${quoteId(t.name)} AS x WHERE ${keyMatch})
     ORDER BY l.seq`,
  );
  for (const r of deleted.iterate() as Iterable<Row>) {
    const key = keyValues(String(r.k));
    const where = describeRow(t, key);
    f.problem({ kind: "row", where, table: t.name, key, seq: Number(r.jseq), message: `${where}: the row is missing, but journal entry #${String(r.jseq)} (${String(r.jkind)}) says it exists: it was deleted outside Standing` });
  }
}

/**
 * Every batch entry of a batched table against the rows that name it: their batch
 * hash is recomputed from the rows; when it differs, the per-row digests in the
 * entry's data say which row was changed, deleted or added.
 */
function checkBatches(db: Db, t: JournaledTable, f: Findings): void {
  const b = t.batch as NonNullable<JournaledTable["batch"]>;
  const entries = new Map<number, { rowHash: string; data: string | null }>();
  for (const e of db.prepare(`SELECT seq, row_hash, data FROM main.journal WHERE seq IN (${batchSeqsSql(t)})`).all() as Row[]) {
    entries.set(Number(e.seq), { rowHash: String(e.row_hash), data: text(e.data) });
  }
  if (entries.size === 0) return;
  const keyAt = t.key.map((k) => t.columns.indexOf(k));
  const exists = db.prepare(`SELECT 1 FROM main.${quoteId(t.name)} WHERE ${t.key.map((c) => `${quoteId(c)} = ?`).join(" AND ")}`).pluck();
  // One pass, grouped by batch: a sort, not an index the writer would pay for on every row.
  const stmt = db
    .prepare(`SELECT ${quoteId(b.column)}, ${t.columns.map(quoteId).join(", ")} FROM main.${quoteId(t.name)} WHERE ${quoteId(b.column)} IN (${batchSeqsSql(t)}) ORDER BY 1`)
    .raw(true)
    .safeIntegers(true);
  type Got = { key: string; row: string; values: SqlValue[] };
  const check = (seq: number, got: Got[]): void => {
    const e = entries.get(seq) as { rowHash: string; data: string | null };
    entries.delete(seq);
    if (got.length > 0 && batchEntry(sortBatch(got)).rowHash === e.rowHash) return;
    let recorded: Map<string, string> | null;
    try {
      const rows = (JSON.parse(e.data ?? "") as { rows: [unknown[], string][] }).rows;
      recorded = new Map(rows.map(([k, d]) => [JSON.stringify(k), d]));
    } catch {
      recorded = null;
    }
    const whereBatch = `${t.name} batch=${seq}`;
    let named = 0;
    if (recorded) {
      const seen = new Set<string>();
      for (const g of got) {
        const key = keyAt.map((i) => fromSql(g.values[i + 1] ?? null));
        const where = describeRow(t, key);
        seen.add(g.key);
        const digest = recorded.get(g.key);
        if (digest === undefined) {
          named++;
          f.problem({ kind: "row", where, table: t.name, key, seq, message: `${where}: this row is not in the journal: it names batch entry #${seq}, which does not list it: it was inserted outside Standing` });
        } else if (sha256Hex(g.row).slice(0, BATCH_DIGEST_CHARS) !== digest) {
          named++;
          f.problem({ kind: "row", where, table: t.name, key, seq, message: `${where}: the row differs from what journal entry #${seq} (${b.kind}) recorded: it was changed outside Standing` });
        }
      }
      for (const k of recorded.keys()) {
        if (seen.has(k)) continue;
        named++;
        const key = keyValues(k);
        const where = describeRow(t, key);
        const still = exists.get(...key.map((v) => v as SqlValue)) !== undefined;
        f.problem({ kind: "row", where, table: t.name, key, seq, message: still ? `${where}: journal entry #${seq} (${b.kind}) lists this row, but the row no longer names that batch: its batch column was changed outside Standing` : `${where}: the row is missing, but journal entry #${seq} (${b.kind}) says it exists: it was deleted outside Standing` });
      }
    }
    if (named === 0) {
      f.problem({ kind: "row", where: whereBatch, table: t.name, seq, message: `${whereBatch}: the ${got.length} row(s) naming journal entry #${seq} (${b.kind}) do not hash to what it recorded: they were changed outside Standing` });
    }
  };
  let current: number | null = null;
  let group: Got[] = [];
  for (const r of stmt.iterate() as Iterable<SqlValue[]>) {
    const seq = Number(r[0]);
    if (seq !== current) {
      if (current !== null) check(current, group);
      current = seq;
      group = [];
    }
    group.push({ ...batchRow(t.columns, t.key, r, 1), values: r });
  }
  if (current !== null) check(current, group);
  // Batches none of whose rows are left.
  for (const seq of [...entries.keys()].sort((a, z) => a - z)) check(seq, []);
}

/** A value read with safe integers, as a plain JSON value for a Finding's key. */
function fromSql(v: SqlValue): unknown {
  return typeof v === "bigint" ? (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : String(v)) : v;
}

/** Records and quarantined records must hash to their stored hash and agree with their own body. */
function checkRecords(db: Db, f: Findings): void {
  const need = (table: string, cols: string[]): boolean => tableExists(db, table) && cols.every((c) => columnsOf(db, table).includes(c));
  const jx = (path: string) => `CASE WHEN json_valid(body) THEN json_extract(body, '${path}') END`;
  if (need("records", ["seq", "source", "record_id", "subject_id", "occurred_at", "retracts", "body", "hash"])) {
    const canResolve = need("identifiers", ["scheme", "value", "subject_id"]);
    const stmt = db.prepare(
      `SELECT seq, source, record_id, subject_id, occurred_at, retracts, body, hash, json_valid(body) AS valid,
              ${jx("$.source")} AS b_source, ${jx("$.id")} AS b_id, ${jx("$.occurredAt")} AS b_at, ${jx("$.retracts")} AS b_retracts,
              ${jx("$.subject.scheme")} AS b_scheme, ${jx("$.subject.value")} AS b_value
              ${canResolve ? `, (SELECT i.subject_id FROM main.identifiers AS i WHERE i.scheme = ${jx("$.subject.scheme")} AND i.value = ${jx("$.subject.value")}) AS resolved` : ""}
       FROM main.records ORDER BY seq`,
    );
    for (const r of stmt.iterate() as Iterable<Row>) {
      const where = `records seq=${String(r.seq)} (${fmt(r.source)}/${fmt(r.record_id)})`;
      const base = { kind: "record", where, table: "records", key: [r.seq] };
      if (typeof r.body !== "string" || sha256Hex(r.body) !== r.hash) {
        f.problem({ ...base, message: `${where}: the body does not hash to the record's stored hash: the record was altered after it was received` });
        continue;
      }
      if (!r.valid) {
        f.problem({ ...base, message: `${where}: the body is not valid JSON` });
        continue;
      }
      const wrong: string[] = [];
      if (r.b_source !== r.source) wrong.push(`source (body ${fmt(r.b_source)}, row ${fmt(r.source)})`);
      if (r.b_id !== r.record_id) wrong.push(`id (body ${fmt(r.b_id)}, row ${fmt(r.record_id)})`);
      if (typeof r.b_at !== "string" || Date.parse(r.b_at) !== Number(r.occurred_at)) wrong.push(`occurredAt (body ${fmt(r.b_at)}, row ${iso(r.occurred_at)})`);
      if ((r.b_retracts ?? null) !== (r.retracts ?? null)) wrong.push(`retracts (body ${fmt(r.b_retracts ?? null)}, row ${fmt(r.retracts ?? null)})`);
      if (canResolve && r.b_scheme !== null && r.b_scheme !== undefined && r.resolved !== r.subject_id) {
        wrong.push(`subject (the body names ${fmt(r.b_scheme)}:${fmt(r.b_value)}, ${r.resolved === null ? "which is linked to no subject" : `which is subject #${String(r.resolved)}`}, but the record is filed under subject #${String(r.subject_id)})`);
      }
      if (wrong.length > 0) f.problem({ ...base, message: `${where}: the row disagrees with the record as submitted: ${wrong.join("; ")}` });
    }
  }
  if (need("quarantine", ["seq", "source", "record_id", "body", "hash"])) {
    const stmt = db.prepare(`SELECT seq, source, record_id, body, hash, ${jx("$.source")} AS b_source, ${jx("$.id")} AS b_id FROM main.quarantine ORDER BY seq`);
    for (const r of stmt.iterate() as Iterable<Row>) {
      const where = `quarantine seq=${String(r.seq)} (${fmt(r.source)}/${fmt(r.record_id)})`;
      const base = { kind: "record", where, table: "quarantine", key: [r.seq] };
      if (typeof r.body !== "string" || sha256Hex(r.body) !== r.hash) f.problem({ ...base, message: `${where}: the body does not hash to the record's stored hash: the record was altered after it was received` });
      else if (r.b_source !== r.source || r.b_id !== r.record_id) f.problem({ ...base, message: `${where}: the row's source/id disagree with the record as submitted` });
    }
  }
}

/** A published policy must still compile to the version, hash and effective date it was published with. */
/**
 * A version that was in force by the time of the latest stored state, but that not every
 * subject was re-evaluated under: a publish (or an activation) whose re-evaluation did
 * not finish. Its states replay equal to themselves under the older versions they name,
 * so only the versions in force tell.
 */
function checkActiveVersion(db: Db, f: Findings): void {
  const latest = db.prepare("SELECT max(evaluated_at) FROM main.states").pluck().get() as number | null;
  if (latest === null) return;
  let due: { ref: string; effective: number } | undefined;
  for (const p of db.prepare("SELECT ref, effective, published_at FROM main.policies ORDER BY seq").all() as Row[]) {
    if (Number(p.effective) <= Math.max(Number(p.published_at), latest)) due = { ref: String(p.ref), effective: Number(p.effective) };
  }
  if (!due) return;
  const active = db.prepare("SELECT value FROM main.meta WHERE key = 'active_policy'").pluck().get() as string | undefined;
  if (active === due.ref) return;
  const behind = db.prepare("SELECT count(*) FROM main.states WHERE policy_ref <> ?").pluck().get(due.ref) as number;
  f.problem({
    kind: "replay",
    where: "states",
    table: "states",
    message: `${due.ref} is in force, but its re-evaluation did not finish (the active version recorded is ${active ?? "none"}): ${behind} stored state(s) still name an older version; \`standing tick\` (or publishing the same file again) finishes it`,
  });
}

/** The adopted catalogue in force at an instant (undefined: the one shipped with Standing). */
function cataloguesOf(db: Db): (at: number) => { version: string; text: string } | undefined {
  const adopted = tableExists(db, "catalogues") ? (db.prepare("SELECT version, text, adopted_at FROM main.catalogues ORDER BY seq").all() as { version: string; text: string; adopted_at: number }[]) : [];
  return (at) => {
    let c: { version: string; text: string } | undefined;
    for (const a of adopted) if (Number(a.adopted_at) <= at) c = { version: a.version, text: a.text };
    return c;
  };
}

function checkPolicies(db: Db, f: Findings, bad: Set<string>): void {
  if (!tableExists(db, "policies")) return;
  const cols = columnsOf(db, "policies");
  if (!["seq", "ref", "text", "hash", "effective", "published_at"].every((c) => cols.includes(c))) return;
  const catalogueAt = cataloguesOf(db);
  // Each compiled under the catalogue it was published under, as the PostgreSQL verifier does.
  for (const p of db.prepare("SELECT seq, ref, text, hash, effective, published_at FROM main.policies ORDER BY seq").all() as PolicyCheckRow[]) checkPolicy(f, p, catalogueAt, bad);
}

function replayStates(db: Db, replayer: Replayer, f: Findings, badPolicies: Set<string>): number {
  const page = db.prepare("SELECT subject_id, policy_ref, evaluated_at, next_change_at, has_measures, state FROM main.states WHERE subject_id > ? ORDER BY subject_id LIMIT 500");
  const published = db.prepare("SELECT ref, text, effective, published_at FROM main.policies ORDER BY seq").all() as { ref: string; text: string; effective: number; published_at: number }[];
  // Each version is replayed under the catalogue it was published under (the shipped one before any was adopted).
  const catalogueFor = cataloguesOf(db);
  const texts = new Map(published.map((p) => [p.ref, { text: p.text, catalogue: catalogueFor(Number(p.published_at)) }]));
  // The version in force at an instant: the latest published by then whose effective date had come.
  const inForceAt = (t: number): string | null => {
    let ref: string | null = null;
    for (const p of published) if (Number(p.published_at) <= t && Number(p.effective) <= t) ref = p.ref;
    return ref;
  };
  const inputs = pageStatements(db);
  let after = Number.MIN_SAFE_INTEGER;
  let n = 0;
  const notReplayed = new Map<string, number[]>();
  for (;;) {
    const batch = page.all(after) as Row[];
    if (batch.length === 0) break;
    for (const s of batch) {
      n++;
      const subject = Number(s.subject_id);
      after = subject;
      const where = `subject #${subject} (states subject_id=${subject})`;
      const base = { kind: "replay", where, table: "states", key: [subject], subject };
      const ref = String(s.policy_ref);
      // A state left on an older version (a publish cut off during its re-evaluation, say)
      // replays equal to itself, so it is found by the version it names.
      const inForce = inForceAt(Number(s.evaluated_at));
      if (inForce !== null && inForce !== ref) {
        f.problem({ ...base, message: `the state was evaluated at ${iso(s.evaluated_at)} under ${ref}, but ${inForce} was in force then (a re-evaluation that did not finish: run \`standing tick\` to complete it)` });
      }
      let stored: unknown;
      try {
        stored = JSON.parse(String(s.state));
      } catch {
        f.problem({ ...base, message: `the stored state is not valid JSON` });
        continue;
      }
      if (badPolicies.has(ref)) {
        const skipped = notReplayed.get(ref);
        if (skipped) skipped.push(subject);
        else notReplayed.set(ref, [subject]);
        continue;
      }
      let replayed: unknown;
      try {
        const version = texts.get(ref);
        if (version === undefined) throw new StandingError("not-found", `no published policy ${ref}`, { policy: ref });
        const [found] = readPage(inputs, [subject]);
        const policy = { ref, text: version.text, ...(version.catalogue ? { catalogue: version.catalogue } : {}) };
        replayed = JSON.parse(JSON.stringify(replayer.replay(policy, { ...(found as StoredInputs), state: undefined }, Number(s.evaluated_at))));
      } catch (e) {
        f.problem({ ...base, message: `the state cannot be replayed under ${ref} at ${iso(s.evaluated_at)}: ${(e as Error).message}` });
        continue;
      }
      const diff = firstDifference(stored, replayed);
      if (diff) {
        f.problem({ ...base, message: `the stored state differs from its replay under ${ref} at ${iso(s.evaluated_at)}: ${diff}` });
        continue;
      }
      const r = replayed as { nextChangeAt?: unknown; measures?: unknown };
      if (typeof r.nextChangeAt === "string" || r.nextChangeAt === null) {
        const expect = r.nextChangeAt === null ? null : Date.parse(r.nextChangeAt);
        if ((s.next_change_at ?? null) !== expect) f.problem({ ...base, message: `next_change_at is ${s.next_change_at === null ? "null" : iso(s.next_change_at)}, the state says ${String(r.nextChangeAt)}` });
      }
      if (Array.isArray(r.measures) && Number(s.has_measures) !== (r.measures.length > 0 ? 1 : 0)) {
        f.problem({ ...base, message: `has_measures is ${String(s.has_measures)}, but the state has ${r.measures.length} measure(s)` });
      }
    }
  }
  for (const [ref, subjects] of notReplayed) {
    const list = subjects.slice(0, 10).map((s) => `#${s}`).join(", ") + (subjects.length > 10 ? ", …" : "");
    f.problem({ kind: "replay", where: `states policy_ref=${ref}`, table: "states", message: `${subjects.length} stored state(s) evaluated under ${ref} were not replayed, because that policy is damaged (subjects ${list})` });
  }
  return n;
}

