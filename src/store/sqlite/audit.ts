// Verifying a database file, as `standing audit verify` does: the journal, the rows, the
// records, the policies and every stored state's replay, through one read-only
// connection, in one read transaction. Nothing is created or upgraded: the file is
// judged as it was found.
import { existsSync, readFileSync } from "node:fs";
import type Database from "better-sqlite3";
import { StandingError } from "../../errors.js";
import type { VerifyReport } from "../../journal/report.js";
import type { AuditOptions } from "../types.js";
import { installJournal } from "./journal.js";
import { verifyJournal } from "./verify.js";
import { openReadOnlyDatabase } from "./readonly.js";

export interface AuditFileOptions extends Omit<AuditOptions, "publicKey"> {
  /** A file holding the published public key (SPKI PEM, or the JSON of GET /v1/journal/key). */
  readonly publicKeyFile?: string;
}

export function auditSqliteFile(path: string, options: AuditFileOptions = {}): VerifyReport {
  if (!existsSync(path)) throw new StandingError("not-found", `no database at ${path}`, { db: path });
  let publicKey: string | undefined;
  if (options.publicKeyFile !== undefined) {
    if (!existsSync(options.publicKeyFile)) throw new StandingError("not-found", `public key file ${options.publicKeyFile} does not exist`, { file: options.publicKeyFile });
    publicKey = readFileSync(options.publicKeyFile, "utf8");
  }
  const raw: Database.Database = openReadOnlyDatabase(path);
  try {
    const journal = installJournal(raw, { readOnly: true, path });
    return verifyJournal(raw, {
      journal,
      maxProblems: options.maxProblems ?? 200,
      ...(publicKey !== undefined ? { publicKey } : {}),
      ...(options.replay ? { replay: options.replay } : {}),
    });
  } finally {
    raw.close();
  }
}
