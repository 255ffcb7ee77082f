// The journal: hash-chained, signed record of every change (docs/journal.md).
export {
  installJournal,
  journalEvent,
  journalFor,
  journalOf,
  journalPublicKey,
  journaledTables,
  keyFileFor,
  Journal,
  DEFAULT_CHECKPOINT_EVERY,
  type JournalOptions,
  type JournaledTable,
  type CheckpointRow,
  type JournalHead,
} from "./journal.js";
export { GENESIS, entryHash, rowHash, canonicalEntry, canonicalRow, checkpointPayload } from "./hash.js";
export { verifyJournal, verifyStanding, replayStoredStates, type VerifyReport, type VerifyOptions, type Finding, type Replayer } from "./verify.js";
export { auditDatabase, type AuditOptions } from "./audit.js";
