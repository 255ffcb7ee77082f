// The importable core: `import { compilePolicy, evaluate } from "standing"`.
export { compilePolicy, formatDiagnostic } from "./policy/compile.js";
export type * from "./policy/types.js";
export { guardrails, fieldKinds } from "./policy/types.js";
export { parseCatalogue, defaultCatalogue, diffCatalogues, catalogueView, type Catalogue, type CategoryDef, type CatalogueChange, type CatalogueResult } from "./policy/catalogue.js";
export { evaluate, tierOf } from "./engine/evaluate.js";
export { decide, timeMeasures, type TimedMeasure } from "./engine/decide.js";
export { DecisionIndex } from "./engine/decision-index.js";
export type * from "./engine/types.js";
export { Standing, parseIdentifier, type IngestResult, type PublishResult } from "./standing.js";
export { SqliteStore } from "./store/sqlite/store.js";
export type * from "./store/types.js";
export { Scheduler } from "./scheduler/scheduler.js";
export { buildStatement, renderStatement, type Statement } from "./statement/statement.js";
export { StandingError, errorCodes, type ErrorCode } from "./errors.js";
export { ManualClock, systemClock, type Clock, type Instant } from "./time.js";
export { canonicalJson } from "./canonical.js";
export { policySchema } from "./policy/schema.js";
export { verifyJournal, verifyStanding, auditDatabase, journalEvent } from "./journal/index.js";
