// Verifying a database file, as `standing audit verify` does: first the journal, the
// rows, the records and the policies, through a read-only connection that changes
// nothing; then, if the store opens, every stored state is replayed through it. The
// order matters: opening a store may create missing tables, so the file is judged as
// it was found before anything else touches it.
import { existsSync, readFileSync } from "node:fs";
import Database from "better-sqlite3";
import { StandingError } from "../errors.js";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { systemClock, type Clock } from "../time.js";
import { installJournal } from "./journal.js";
import { replayStoredStates, verifyJournal, type VerifyReport } from "./verify.js";

export interface AuditOptions {
  /** A file holding the published public key (SPKI PEM, or the JSON of GET /v1/journal/key). */
  readonly publicKeyFile?: string;
  readonly clock?: Clock;
  readonly maxProblems?: number;
}

export function auditDatabase(path: string, options: AuditOptions = {}): VerifyReport {
  if (!existsSync(path)) throw new StandingError("not-found", `no database at ${path}`, { db: path });
  let publicKey: string | undefined;
  if (options.publicKeyFile !== undefined) {
    if (!existsSync(options.publicKeyFile)) throw new StandingError("not-found", `public key file ${options.publicKeyFile} does not exist`, { file: options.publicKeyFile });
    publicKey = readFileSync(options.publicKeyFile, "utf8");
  }
  const max = options.maxProblems ?? 200;
  let report: VerifyReport;
  let raw: Database.Database;
  try {
    raw = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new StandingError("bad-request", `${path} cannot be opened as a database: ${(e as Error).message}`, { db: path });
  }
  try {
    const journal = installJournal(raw, { readOnly: true, path });
    report = verifyJournal(raw, { journal, maxProblems: max, ...(publicKey !== undefined ? { publicKey } : {}) });
  } finally {
    raw.close();
  }

  let store: SqliteStore | undefined;
  try {
    store = new SqliteStore(path, { journal: { readOnly: true } });
  } catch (e) {
    return {
      ...report,
      ok: false,
      problems: [...report.problems, { kind: "open", where: "database", message: `database: the store refuses to open this database, so no state was replayed: ${(e as Error).message}` }],
    };
  }
  try {
    const standing = new Standing(store, options.clock ?? systemClock);
    let replay: ReturnType<typeof replayStoredStates>;
    try {
      replay = replayStoredStates(store.db, standing, max);
    } catch (e) {
      replay = { checked: 0, problems: [{ kind: "sqlite", where: "states", message: `states: the stored states could not be read for replay: ${(e as Error).message}` }], omitted: 0 };
    }
    return {
      ...report,
      ok: report.ok && replay.problems.length === 0 && replay.omitted === 0,
      states: { checked: replay.checked, replayed: true },
      problems: [...report.problems, ...replay.problems],
      warnings: report.warnings.filter((w) => w.kind !== "replay-skipped"),
      omitted: report.omitted + replay.omitted,
    };
  } finally {
    store.close();
  }
}
