// Verifying a PostgreSQL database as `standing audit verify --store postgres://…` does:
// through a store opened read-only (no migration, no key created, nothing signed), on
// one REPEATABLE READ snapshot, while servers go on writing.
import { existsSync, readFileSync } from "node:fs";
import { StandingError } from "../../errors.js";
import type { VerifyReport } from "../../journal/report.js";
import type { AuditOptions } from "../types.js";
import { PgStore, type PgStoreOptions } from "./store.js";

export interface PgAuditOptions extends Omit<AuditOptions, "publicKey"> {
  /** A file holding the published public key (SPKI PEM, or the JSON of GET /v1/journal/key). */
  readonly publicKeyFile?: string;
  /** The published public key itself (SPKI PEM or key JSON), e.g. from STANDING_JOURNAL_KEY. */
  readonly publicKeyText?: string;
  readonly keyFile?: string;
}

export async function auditPostgres(url: string, options: PgAuditOptions = {}): Promise<VerifyReport> {
  let publicKey: string | undefined;
  if (options.publicKeyFile !== undefined) {
    if (!existsSync(options.publicKeyFile)) throw new StandingError("not-found", `public key file ${options.publicKeyFile} does not exist`, { file: options.publicKeyFile });
    publicKey = readFileSync(options.publicKeyFile, "utf8");
  } else if (options.publicKeyText !== undefined) {
    publicKey = options.publicKeyText;
  }
  const storeOptions: PgStoreOptions = { readOnly: true, poolSize: 2, ...(options.keyFile !== undefined ? { keyFile: options.keyFile } : {}) };
  const store = new PgStore(url, storeOptions);
  try {
    await store.open();
    return await store.journal.verify({
      maxProblems: options.maxProblems ?? 200,
      ...(publicKey !== undefined ? { publicKey } : {}),
      ...(options.replay ? { replay: options.replay } : {}),
      ...(options.pinnedFingerprint !== undefined ? { pinnedFingerprint: options.pinnedFingerprint } : {}),
      ...(options.witnessHeads ? { witnessHeads: options.witnessHeads } : {}),
    });
  } finally {
    await store.close();
  }
}
