// `audit verify` on PostgreSQL: the same checks, in the same order, with the same
// findings as the embedded store's verifier (../sqlite/verify.ts), on one snapshot
// (REPEATABLE READ, READ ONLY) taken while servers go on writing:
//   1. the chain; 2. the signed heads; 3. every row of every table against its latest
//   entry (and each decision batch against its entry); 4. records and policies against
//   themselves; 5. every stored state against its replay.
// The pure parts (wording, chain walk, signatures, record/policy/state checks) are
// src/journal/verify-core.ts, shared with nothing engine-specific.
import type pg from "pg";
import type { KeyObject } from "node:crypto";
import { BATCH_DIGEST_CHARS, batchEntry, batchRow, sha256Hex, sortBatch } from "../../journal/hash.js";
import type { ProblemKind, VerifyReport } from "../../journal/report.js";
import {
  ChainWalk,
  Findings,
  catalogueAt,
  checkCheckpoints,
  checkPolicy,
  checkQuarantined,
  checkRecord,
  checkState,
  describeRow,
  fmt,
  iso,
  keyValues,
  noSuchPolicy,
  type CatalogueVersion,
  type CheckpointRowData,
  type EntryRow,
  type PolicyCheckRow,
  type StateCheckRow,
} from "../../journal/verify-core.js";
import type { AuditOptions, Replayer, StoredInputs } from "../types.js";
import { batchedTables, hashRow, journaledTables, keyOf, sqlValue, type JournaledTable, type PgJournal } from "./journal.js";
import { readPage } from "./reader.js";
import { machineryTables } from "./schema.js";

type Row = Record<string, unknown>;
type Queryable = Pick<pg.PoolClient, "query">;

export interface PgVerifyOptions {
  readonly replay?: Replayer;
  readonly publicKey?: string | KeyObject;
  readonly journal: Pick<PgJournal, "publicKey">;
  readonly maxProblems?: number;
  readonly pinnedFingerprint?: string;
  readonly witnessHeads?: AuditOptions["witnessHeads"];
}

/** Pages through a query ordered by an increasing key: national tables are never read whole. */
async function* paged(db: Queryable, sql: (after: string) => string, first: unknown, next: (r: Row) => unknown, size = 5000): AsyncGenerator<Row> {
  let after: unknown = first;
  for (;;) {
    const rows = (await db.query<Row>(`${sql("$1")} LIMIT ${size}`, [after])).rows;
    for (const r of rows) yield r;
    if (rows.length < size) return;
    after = next(rows[rows.length - 1] as Row);
  }
}

async function tableExists(db: Queryable, name: string): Promise<boolean> {
  return (await db.query("SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = to_regnamespace(current_schema())", [name])).rows.length > 0;
}

const qi = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export async function verifyPostgres(pool: pg.Pool, options: PgVerifyOptions): Promise<VerifyReport> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    try {
      return await verifySnapshot(client, options);
    } finally {
      await client.query("COMMIT");
    }
  } finally {
    client.release();
  }
}

async function verifySnapshot(db: Queryable, options: PgVerifyOptions): Promise<VerifyReport> {
  const f = new Findings(options.maxProblems ?? 200);
  const guard = async (kind: ProblemKind, where: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      f.problem({ kind: "sqlite", where, message: `could not be read (${kind} check stopped): ${(e as Error).message}` });
    }
  };
  let rows = 0;
  let statesChecked = 0;
  const badPolicies = new Set<string>();

  const hasJournal = (await tableExists(db, "journal")) && (await tableExists(db, "journal_checkpoints"));
  if (!hasJournal) {
    f.problem({ kind: "journal", where: "journal", message: "the database has no journal (tables journal and journal_checkpoints are missing): nothing it holds can be verified; a journal that was removed cannot be told from one that never existed" });
  }
  let all: JournaledTable[] = [];
  await guard("row", "database schema", async () => {
    all = await journaledTables(db);
  });
  const byName = new Map(all.map((t) => [t.name, t]));
  const describeEntry = (tbl: string, key: string | null): string => {
    if (key === null) return tbl;
    const t = byName.get(tbl);
    return t ? describeRow(t, keyValues(key)) : `${tbl} ${key}`;
  };

  // ---- 1. the chain; 2. the signed heads
  let cps: CheckpointRowData[] = [];
  let walk = new ChainWalk(f, new Set(), describeEntry);
  let keyCheck: ReturnType<typeof checkCheckpoints> = { lastGood: null, publicKey: null, unsignedTail: 0 };
  if (hasJournal) {
    cps = (await db.query<CheckpointRowData>("SELECT seq, head_hash, at, signature, public_key FROM journal_checkpoints ORDER BY seq")).rows;
    walk = new ChainWalk(f, new Set(cps.map((c) => Number(c.seq))), describeEntry);
    await guard("chain", "journal", async () => {
      for await (const e of paged(db, (p) => `SELECT seq, kind, tbl, key, row_hash, data, prev, hash FROM journal WHERE seq > ${p} ORDER BY seq`, 0, (r) => r.seq)) walk.push(e as unknown as EntryRow);
    });
    // Every commit signs its head, so any unsigned entry means a head was removed: an interval of 1.
    keyCheck = checkCheckpoints(f, cps, walk, { ...(options.publicKey !== undefined ? { pinned: options.publicKey } : {}), own: options.journal.publicKey }, 1);
    // A fingerprint pinned outside the data folder: the journal must be signed by that key.
    const signedBy = keyCheck.publicKey?.fingerprint;
    if (options.pinnedFingerprint !== undefined && signedBy !== undefined && signedBy !== options.pinnedFingerprint.toLowerCase()) {
      f.problem({ kind: "key", where: "journal key", message: `the journal is signed by key ${signedBy.slice(0, 16)}…, not the pinned key ${options.pinnedFingerprint.slice(0, 16)}…: the key was replaced and the journal re-signed` });
    }
    // Heads a witness recorded: the journal must still contain each of them.
    const now = walk.head;
    for (const w of options.witnessHeads ?? []) {
      const where = `journal seq=${w.seq}`;
      const actual = walk.hashAt.get(w.seq);
      if (!now || w.seq > now.seq) {
        f.problem({ kind: "witness", where, seq: w.seq, message: `a witness recorded signed head #${w.seq} (${w.hash.slice(0, 16)}…), but the journal ends at #${now?.seq ?? 0}: the store was rolled back` });
      } else if (actual !== w.hash) {
        f.problem({ kind: "witness", where, seq: w.seq, message: `a witness recorded signed head #${w.seq} as ${w.hash.slice(0, 16)}…, but entry #${w.seq} now hashes to ${(actual ?? "nothing").slice(0, 16)}…: the store was rolled back or its history rewritten` });
      }
    }
  }

  // ---- 3. every row of every table against its latest journal entry
  if (hasJournal) {
    for (const t of all) {
      await guard("row", t.name, async () => {
        rows += await checkTable(db, t, f);
      });
      if (t.batch) await guard("row", t.name, async () => checkBatches(db, t, f));
    }
    await guard("row", "journal", async () => {
      const names = new Set(all.map((t) => t.name));
      const gone = await db.query<Row>(
        `SELECT tbl, count(*) AS n, max(seq) AS seq FROM (SELECT DISTINCT ON (tbl, key) tbl, key, row_hash, seq FROM journal WHERE key IS NOT NULL ORDER BY tbl, key, seq DESC) l
         WHERE row_hash IS NOT NULL GROUP BY tbl`,
      );
      for (const g of gone.rows) {
        const name = String(g.tbl);
        if (names.has(name) || machineryTables.includes(name)) continue;
        f.problem({ kind: "row", where: `table ${name}`, table: name, seq: Number(g.seq), message: `table ${name} is gone, but the journal says ${String(g.n)} of its rows exist (last entry #${String(g.seq)}): it was dropped outside Standing` });
      }
      for (const [name, b] of Object.entries(batchedTables)) {
        if (names.has(name)) continue;
        const g = (await db.query<Row>("SELECT count(*) AS n, max(seq) AS seq FROM journal WHERE tbl = $1 AND kind = $2 AND key IS NULL", [name, b.kind])).rows[0] as Row;
        if (Number(g.n) > 0) f.problem({ kind: "row", where: `table ${name}`, table: name, seq: Number(g.seq), message: `table ${name} is gone, but the journal holds ${String(g.n)} batch(es) of its rows (last entry #${String(g.seq)}): it was dropped outside Standing` });
      }
      const triggers = await db.query<Row>(
        "SELECT t.tgname AS name, c.relname AS tbl FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema()) ORDER BY 1",
      );
      for (const tr of triggers.rows) {
        f.warn({ kind: "trigger", where: `trigger ${String(tr.name)}`, message: `a trigger stored in the database runs on every write to ${String(tr.tbl)}; Standing installs none there: check who put it there and what it does` });
      }
    });
  }

  // ---- 4. records and policies against themselves
  await guard("record", "records", async () => {
    if (!byName.has("records")) return;
    const resolveStmt = async (scheme: string, value: string): Promise<number | null> => {
      const r = (await db.query<Row>("SELECT subject_id FROM identifiers WHERE scheme = $1 AND value = $2", [scheme, value])).rows[0];
      return r ? Number(r.subject_id) : null;
    };
    for await (const r of paged(db, (p) => `SELECT seq, source, record_id, subject_id, occurred_at, retracts, body, hash FROM records WHERE seq > ${p} ORDER BY seq`, 0, (x) => x.seq)) {
      // The subject the body names, resolved now (one indexed lookup per record).
      let resolved: number | null | undefined;
      try {
        const b = JSON.parse(String(r.body)) as { subject?: { scheme?: unknown; value?: unknown } };
        if (typeof b.subject?.scheme === "string" && typeof b.subject.value === "string") resolved = await resolveStmt(b.subject.scheme, b.subject.value);
      } catch {
        // checkRecord reports the body
      }
      checkRecord(f, {
        seq: Number(r.seq),
        source: String(r.source),
        record_id: String(r.record_id),
        subject_id: Number(r.subject_id),
        occurred_at: Number(r.occurred_at),
        retracts: (r.retracts as string | null) ?? null,
        body: r.body as string,
        hash: r.hash as string,
        ...(resolved !== undefined ? { resolve: () => resolved as number | null } : {}),
      });
    }
    if (byName.has("quarantine")) {
      for await (const r of paged(db, (p) => `SELECT seq, source, record_id, body, hash FROM quarantine WHERE seq > ${p} ORDER BY seq`, 0, (x) => x.seq)) {
        checkQuarantined(f, { seq: Number(r.seq), source: String(r.source), record_id: String(r.record_id), body: r.body as string, hash: r.hash as string });
      }
    }
  });
  const catalogues: CatalogueVersion[] = byName.has("catalogues") ? ((await db.query<Row>("SELECT version, text, adopted_at FROM catalogues ORDER BY seq")).rows as unknown as CatalogueVersion[]) : [];
  const catalogueFor = catalogueAt(catalogues.map((c) => ({ ...c, adopted_at: Number(c.adopted_at) })));
  const published = byName.has("policies")
    ? ((await db.query<Row>("SELECT seq, ref, text, hash, effective, published_at FROM policies ORDER BY seq")).rows.map((p) => ({
        seq: Number(p.seq),
        ref: String(p.ref),
        text: String(p.text),
        hash: String(p.hash),
        effective: Number(p.effective),
        published_at: Number(p.published_at),
      })) as PolicyCheckRow[])
    : [];
  await guard("policy", "policies", async () => {
    for (const p of published) checkPolicy(f, p, catalogueFor, badPolicies);
  });

  // ---- 5. replay every stored state
  if (!options.replay) {
    f.warn({ kind: "replay-skipped", where: "states", message: "stored states were not replayed (no policy engine was given)" });
  } else if (byName.has("states")) {
    const replayer = options.replay;
    await guard("replay", "states", async () => {
      const texts = new Map(published.map((p) => [p.ref, { text: p.text, catalogue: catalogueFor(p.published_at) }]));
      const inForceAt = (t: number): string | null => {
        let ref: string | null = null;
        for (const p of published) if (p.published_at <= t && p.effective <= t) ref = p.ref;
        return ref;
      };
      const notReplayed = new Map<string, number[]>();
      for await (const s of paged(db, (p) => `SELECT subject_id, policy_ref, evaluated_at, next_change_at, has_measures, state FROM states WHERE subject_id > ${p} ORDER BY subject_id`, -1, (x) => x.subject_id, 500)) {
        statesChecked++;
        const row: StateCheckRow = {
          subject_id: Number(s.subject_id),
          policy_ref: String(s.policy_ref),
          evaluated_at: Number(s.evaluated_at),
          next_change_at: s.next_change_at === null ? null : Number(s.next_change_at),
          has_measures: Number(s.has_measures),
          state: String(s.state),
        };
        const [found] = await readPage(db, [row.subject_id]);
        const replayed = checkState(f, row, inForceAt, badPolicies, () => {
          const version = texts.get(row.policy_ref);
          if (version === undefined) throw noSuchPolicy(row.policy_ref);
          const policy = { ref: row.policy_ref, text: version.text, ...(version.catalogue ? { catalogue: version.catalogue } : {}) };
          return replayer.replay(policy, { ...(found as StoredInputs), state: undefined }, row.evaluated_at);
        });
        if (!replayed) {
          const list = notReplayed.get(row.policy_ref);
          if (list) list.push(row.subject_id);
          else notReplayed.set(row.policy_ref, [row.subject_id]);
        }
      }
      for (const [ref, subjects] of notReplayed) {
        const list = subjects.slice(0, 10).map((s) => `#${s}`).join(", ") + (subjects.length > 10 ? ", …" : "");
        f.problem({ kind: "replay", where: `states policy_ref=${ref}`, table: "states", message: `${subjects.length} stored state(s) evaluated under ${ref} were not replayed, because that policy is damaged (subjects ${list})` });
      }
    });
  }
  if (byName.has("states") && byName.has("meta")) await guard("replay", "states", async () => checkActiveVersion(db, f, published));

  const lastGood = keyCheck.lastGood;
  return {
    ok: f.problems.length === 0 && f.omitted === 0,
    at: new Date().toISOString(),
    entries: walk.entries,
    head: walk.head,
    checkpoints: cps.length,
    lastCheckpoint: lastGood ? { seq: lastGood.seq, at: iso(lastGood.at) } : null,
    unsignedTail: keyCheck.unsignedTail,
    publicKey: keyCheck.publicKey,
    tables: all.length,
    rows,
    states: { checked: statesChecked, replayed: options.replay !== undefined },
    problems: f.problems,
    warnings: f.warnings,
    omitted: f.omitted,
  };
}

/** Seqs of a batched table's batch entries. */
async function batchSeqs(db: Queryable, t: JournaledTable): Promise<Set<number>> {
  const r = await db.query<Row>("SELECT seq FROM journal WHERE tbl = $1 AND kind = $2 AND key IS NULL", [t.name, t.batch?.kind ?? ""]);
  return new Set(r.rows.map((x) => Number(x.seq)));
}

/**
 * Every row of a table against its latest journal entry: a merge of the table's rows
 * (in key order) with the journal's latest entries for that table, a page at a time.
 */
async function checkTable(db: Queryable, t: JournaledTable, f: Findings): Promise<number> {
  const latest = new Map<string, { rowHash: string | null; seq: number; kind: string }>();
  for await (const l of paged(
    db,
    (p) => `SELECT DISTINCT ON (key) key, row_hash, seq, kind FROM journal WHERE tbl = '${t.name.replace(/'/g, "''")}' AND key IS NOT NULL AND key > ${p} ORDER BY key, seq DESC`,
    "",
    (x) => x.key,
  )) {
    latest.set(String(l.key), { rowHash: (l.row_hash as string | null) ?? null, seq: Number(l.seq), kind: String(l.kind) });
  }
  const batches = t.batch ? await batchSeqs(db, t) : new Set<number>();
  const label = t.columns.includes("source") && t.columns.includes("record_id");
  let n = 0;
  const order = t.key.map(qi).join(", ");
  const cols = [...t.columns, ...(t.batch ? [t.batch.column] : [])].map(qi).join(", ");
  // Keyset paging over the primary key.
  let after: unknown[] | null = null;
  for (;;) {
    const where = after ? `WHERE (${order}) > (${after.map((_, i) => `$${i + 1}`).join(", ")})` : "";
    const page = (await db.query<Row>(`SELECT ${cols} FROM ${qi(t.name)} ${where} ORDER BY ${order} LIMIT 5000`, after ?? [])).rows;
    for (const row of page) {
      n++;
      const b = t.batch ? row[t.batch.column] : null;
      if (t.batch && b !== null && b !== undefined && batches.has(Number(b))) continue; // checkBatches' to check
      const k = keyOf(t, row);
      const key = keyValues(k);
      const whereRow = describeRow(t, key) + (label ? ` (${fmt(row.source)}/${fmt(row.record_id)})` : "");
      const l = latest.get(k);
      latest.delete(k);
      const h = hashRow(t, row);
      if (l && l.rowHash === h) continue;
      if (!l && b !== null && b !== undefined) {
        f.problem({ kind: "row", where: whereRow, table: t.name, key, message: `${whereRow}: this row is not in the journal: its batch column names entry #${String(b)}, which is no batch of ${t.name}: it was inserted outside Standing` });
      } else if (!l) {
        f.problem({ kind: "row", where: whereRow, table: t.name, key, message: `${whereRow}: this row is not in the journal: it was inserted outside Standing` });
      } else if (l.rowHash === null) {
        f.problem({ kind: "row", where: whereRow, table: t.name, key, seq: l.seq, message: `${whereRow}: the journal says this row was deleted (entry #${l.seq}), yet it exists: it was put back outside Standing` });
      } else {
        f.problem({ kind: "row", where: whereRow, table: t.name, key, seq: l.seq, message: `${whereRow}: the row differs from what journal entry #${l.seq} (${l.kind}) recorded: it was changed outside Standing` });
      }
    }
    if (page.length < 5000) break;
    const last = page[page.length - 1] as Row;
    after = t.key.map((c) => last[c]);
  }
  // Latest entries whose row was not met: deleted behind the store's back, unless the
  // row sits in a batch (then its batch entry speaks for it) or the entry says deleted.
  const gone = [...latest.entries()].filter(([, l]) => l.rowHash !== null).sort((a, b) => a[1].seq - b[1].seq);
  for (const [k, l] of gone) {
    const key = keyValues(k);
    if (t.batch) {
      const still = await db.query(`SELECT 1 FROM ${qi(t.name)} WHERE ${t.key.map((c, i) => `${qi(c)} = $${i + 1}`).join(" AND ")}`, key);
      if (still.rows.length > 0) continue;
    }
    const where = describeRow(t, key);
    f.problem({ kind: "row", where, table: t.name, key, seq: l.seq, message: `${where}: the row is missing, but journal entry #${l.seq} (${l.kind}) says it exists: it was deleted outside Standing` });
  }
  return n;
}

/** Every batch entry of a batched table against the rows that name it (see the embedded verifier). */
async function checkBatches(db: Queryable, t: JournaledTable, f: Findings): Promise<void> {
  const b = t.batch as NonNullable<JournaledTable["batch"]>;
  const entries = new Map<number, { rowHash: string; data: string | null }>();
  for (const e of (await db.query<Row>("SELECT seq, row_hash, data FROM journal WHERE tbl = $1 AND kind = $2 AND key IS NULL ORDER BY seq", [t.name, b.kind])).rows) {
    entries.set(Number(e.seq), { rowHash: String(e.row_hash), data: (e.data as string | null) ?? null });
  }
  if (entries.size === 0) return;
  type Got = { key: string; row: string; values: Row };
  const check = async (seq: number, got: Got[]): Promise<void> => {
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
        const key = keyValues(g.key);
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
        const still = (await db.query(`SELECT 1 FROM ${qi(t.name)} WHERE ${t.key.map((c, i) => `${qi(c)} = $${i + 1}`).join(" AND ")}`, key)).rows.length > 0;
        f.problem({ kind: "row", where, table: t.name, key, seq, message: still ? `${where}: journal entry #${seq} (${b.kind}) lists this row, but the row no longer names that batch: its batch column was changed outside Standing` : `${where}: the row is missing, but journal entry #${seq} (${b.kind}) says it exists: it was deleted outside Standing` });
      }
    }
    if (named === 0) {
      f.problem({ kind: "row", where: whereBatch, table: t.name, seq, message: `${whereBatch}: the ${got.length} row(s) naming journal entry #${seq} (${b.kind}) do not hash to what it recorded: they were changed outside Standing` });
    }
  };
  const cols = t.columns.map(qi).join(", ");
  let current: number | null = null;
  let group: Got[] = [];
  for await (const r of paged(db, (p) => `SELECT ${qi(b.column)} AS batch__, ${cols} FROM ${qi(t.name)} WHERE ${qi(b.column)} >= ${p} AND ${qi(b.column)} IN (SELECT seq FROM journal WHERE tbl = '${t.name.replace(/'/g, "''")}' AND kind = '${b.kind.replace(/'/g, "''")}' AND key IS NULL) ORDER BY 1, ${t.key.map(qi).join(", ")}`, 0, (x) => x.batch__, 1_000_000_000)) {
    const seq = Number(r.batch__);
    if (seq !== current) {
      if (current !== null) await check(current, group);
      current = seq;
      group = [];
    }
    const br = batchRow(t.columns, t.key, t.columns.map((c) => sqlValue(t, c, r[c])));
    group.push({ ...br, values: r });
  }
  if (current !== null) await check(current, group);
  for (const seq of [...entries.keys()].sort((a, z) => a - z)) await check(seq, []);
}

/** A version in force by the latest stored state whose re-evaluation did not finish (see the embedded verifier). */
async function checkActiveVersion(db: Queryable, f: Findings, published: readonly PolicyCheckRow[]): Promise<void> {
  const latest = (await db.query<Row>("SELECT max(evaluated_at) AS m FROM states")).rows[0]?.m;
  if (latest === null || latest === undefined) return;
  let due: { ref: string } | undefined;
  for (const p of published) if (p.effective <= Math.max(p.published_at, Number(latest))) due = { ref: p.ref };
  if (!due) return;
  const active = (await db.query<Row>("SELECT value FROM meta WHERE key = 'active_policy'")).rows[0]?.value as string | undefined;
  if (active === due.ref) return;
  const behind = Number((await db.query<Row>("SELECT count(*) AS n FROM states WHERE policy_ref <> $1", [due.ref])).rows[0]?.n ?? 0);
  f.problem({
    kind: "replay",
    where: "states",
    table: "states",
    message: `${due.ref} is in force, but its re-evaluation did not finish (the active version recorded is ${active ?? "none"}): ${behind} stored state(s) still name an older version; \`standing tick\` (or publishing the same file again) finishes it`,
  });
}
