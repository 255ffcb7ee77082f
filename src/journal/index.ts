// The journal's pure parts: hashing, checkpoint payloads and what verification reports.
// Keeping a journal is the store's job (src/store/sqlite/journal.ts for the embedded one).
export { GENESIS, entryHash, rowHash, canonicalEntry, canonicalRow, checkpointPayload } from "./hash.js";
export { firstDifference, type VerifyReport, type Finding } from "./report.js";
