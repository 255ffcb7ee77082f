// Verifying a database file, as `standing audit verify` does: the journal, the rows, the
// records, the policies and every stored state's replay, through one read-only
// connection, in one read transaction. Nothing is created or upgraded: the file is
// judged as it was found.
import { existsSync, readFileSync } from "node:fs";
import type Database from "better-sqlite3";
import { StandingError } from "../../errors.js";
import type { VerifyReport } from "../../journal/report.js";
import type { AuditOptions, SignedHead } from "../types.js";
import { fingerprintOfPem, installJournal } from "./journal.js";
import { verifyJournal } from "./verify.js";
import { openReadOnlyDatabase } from "./readonly.js";

export interface AuditFileOptions extends Omit<AuditOptions, "publicKey"> {
  /** A file holding the published public key (SPKI PEM, or the JSON of GET /v1/journal/key). */
  readonly publicKeyFile?: string;
  /** The published public key itself (SPKI PEM or key JSON), e.g. from STANDING_JOURNAL_KEY. */
  readonly publicKeyText?: string;
}

export function auditSqliteFile(path: string, options: AuditFileOptions = {}): VerifyReport {
  if (!existsSync(path)) throw new StandingError("not-found", `no database at ${path}`, { db: path });
  let publicKey: string | undefined;
  if (options.publicKeyFile !== undefined) {
    if (!existsSync(options.publicKeyFile)) throw new StandingError("not-found", `public key file ${options.publicKeyFile} does not exist`, { file: options.publicKeyFile });
    publicKey = readFileSync(options.publicKeyFile, "utf8");
  } else if (options.publicKeyText !== undefined) {
    publicKey = options.publicKeyText;
  }
  const raw: Database.Database = openReadOnlyDatabase(path);
  try {
    const journal = installJournal(raw, { readOnly: true, path });
    return verifyJournal(raw, {
      journal,
      maxProblems: options.maxProblems ?? 200,
      ...(publicKey !== undefined ? { publicKey } : {}),
      ...(options.replay ? { replay: options.replay } : {}),
      ...(options.pinnedFingerprint !== undefined ? { pinnedFingerprint: options.pinnedFingerprint } : {}),
      ...(options.witnessHeads !== undefined ? { witnessHeads: options.witnessHeads } : {}),
    });
  } finally {
    raw.close();
  }
}

/**
 * The latest signed head of a database file, read-only (a witness with file access),
 * with the hash the journal has at `since`, and the public key in the key file beside it.
 */
export function sqliteFileHead(path: string, since?: number): { head: SignedHead | undefined; since?: { seq: number; hash: string | null }; publicKey: string | null } {
  if (!existsSync(path)) throw new StandingError("not-found", `no database at ${path}`, { db: path });
  const raw: Database.Database = openReadOnlyDatabase(path);
  try {
    const journal = installJournal(raw, { readOnly: true, path });
    raw.exec("BEGIN");
    try {
      const c = journal.latestHead();
      const head = c ? { seq: c.seq, hash: c.headHash, at: c.at, prev: c.prev, signature: c.signature, fingerprint: fingerprintOfPem(c.publicKey) } : undefined;
      return { head, ...(since !== undefined ? { since: { seq: since, hash: journal.hashAt(since) ?? null } } : {}), publicKey: journal.publicKeyPem };
    } finally {
      raw.exec("COMMIT");
    }
  } catch (e) {
    if (e instanceof StandingError) throw e;
    throw new StandingError("bad-request", `${path} has no readable journal: ${(e as Error).message}`, { db: path });
  } finally {
    raw.close();
  }
}
