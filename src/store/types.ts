// The storage interface: the smallest set of operations the shell needs. Sibling
// implementations (sqlite now, postgres for scale-out) live in folders of their own
// and must pass the one contract suite in contract.ts.
import type { SubjectRecord, SubjectState } from "../engine/types.js";
import type { Instant } from "../time.js";
import type { KeyRow } from "../auth/principals.js";
import type { VerifyReport } from "../journal/report.js";
import type { Signer } from "../journal/receipt.js";
import type { ScreeningLogBatch } from "./screening-log.js";

export type SubjectId = number;

export interface Identifier {
  readonly scheme: string;
  readonly value: string;
}

export interface PolicyRow {
  readonly seq: number;
  readonly ref: string;
  readonly policyId: string;
  readonly version: string;
  readonly text: string;
  readonly hash: string;
  readonly effective: Instant;
  readonly publishedAt: Instant;
}

/**
 * A version of the catalogue of permitted record categories, adopted by an operator
 * (`standing catalogue adopt`). Until one is adopted, the one shipped with Standing applies.
 */
export interface CatalogueRow {
  readonly seq: number;
  readonly catalogueId: string;
  readonly version: string;
  readonly hash: string;
  readonly text: string;
  readonly adoptedAt: Instant;
  readonly adoptedBy: string;
}

/**
 * A policy version proposed for publication. Only its approval by another actor (a
 * policy-approver) publishes it: author and approver are never the same.
 */
export interface PolicyProposalRow {
  readonly id: string;
  /** The version's ref (`id@version`) and its text and SHA-256 as compiled when proposed. */
  readonly ref: string;
  readonly text: string;
  readonly hash: string;
  readonly proposedBy: string;
  readonly proposedAt: Instant;
  readonly status: "proposed" | "approved" | "rejected";
  readonly decidedBy: string | null;
  readonly decidedAt: Instant | null;
  /** Why it was rejected (or a note with the approval). */
  readonly note: string | null;
}

/**
 * A web session: the browser holds an opaque random token, the store only its SHA-256.
 * Valid while not ended, before `expiresAt`, and while the key it was opened with is.
 */
export interface SessionRow {
  /** SHA-256 (hex) of the token. */
  readonly hash: string;
  readonly keyId: string;
  readonly createdAt: Instant;
  readonly lastSeenAt: Instant;
  /** The absolute end; the idle limit is counted from `lastSeenAt` by the caller. */
  readonly expiresAt: Instant;
  readonly endedAt: Instant | null;
}

/** A record as stored: the canonical body plus what ingest resolved. */
export interface RecordRow {
  readonly seq: number;
  readonly source: string;
  readonly recordId: string;
  readonly subjectId: SubjectId;
  readonly type: string;
  readonly occurredAt: Instant;
  readonly receivedAt: Instant;
  readonly retracts: string | null;
  /** Canonical JSON of the record as submitted (normalised). */
  readonly body: string;
  readonly hash: string;
}

export interface QuarantineRow {
  readonly seq: number;
  readonly source: string;
  readonly recordId: string;
  readonly scheme: string;
  readonly value: string;
  readonly body: string;
  readonly hash: string;
  readonly receivedAt: Instant;
  readonly reason: string;
  readonly releasedAt: Instant | null;
}

export interface StateRow {
  readonly subjectId: SubjectId;
  readonly policyRef: string;
  readonly evaluatedAt: Instant;
  readonly nextChangeAt: Instant | null;
  readonly state: SubjectState;
}

/** A state as JSON text, with the columns the store keeps beside it. */
export interface StateText {
  readonly subjectId: SubjectId;
  readonly policyRef: string;
  readonly evaluatedAt: Instant;
  readonly nextChangeAt: Instant | null;
  readonly hasMeasures: boolean;
  readonly json: string;
}

/** What is stored about one subject that its evaluation reads; lists in the per-subject methods' order. */
export interface StoredInputs {
  readonly subjectId: SubjectId;
  readonly records: RecordRow[];
  readonly disputes: DisputeRow[];
  readonly applications: ApplicationRow[];
  readonly state: StateRow | undefined;
}

/** What became of one line of a batch that went through the cluster's record stream. */
export type OutcomeStatus = "accepted" | "duplicate" | "quarantined" | "rejected";

/**
 * The outcome of line `line` of the batch with receipt `receipt`, written in the
 * transaction that applied it: the exactly-once mark of a delivery (a line that has an
 * outcome is never applied again) and what `GET /v1/batches/{receipt}` answers.
 */
export interface OutcomeRow {
  readonly receipt: string;
  readonly line: number;
  readonly source: string | null;
  readonly recordId: string | null;
  readonly status: OutcomeStatus;
  /** The line's answer as JSON (an IngestResult). */
  readonly detail: string;
  readonly at: Instant;
}

/** A record named by its idempotency key: the source and the source's own id. */
export interface RecordKey {
  readonly source: string;
  readonly recordId: string;
}

/** An identifier and the subject it names. */
export interface LinkedIdentifier extends Identifier {
  readonly subjectId: SubjectId;
}

/** A record to append: everything but the sequence number the store assigns. */
export type NewRecord = Omit<RecordRow, "seq">;

/** A record to keep in quarantine: everything but what the store assigns or sets on release. */
export type NewQuarantine = Omit<QuarantineRow, "seq" | "releasedAt">;

/**
 * What can be read from a store. Outside a transaction a read sees the last commit;
 * inside one (through its `tx`) it sees the transaction's own writes too.
 */
export interface StoreReads {
  policies(): Promise<PolicyRow[]>;
  /** Adopted catalogue versions, oldest first. */
  catalogues(): Promise<CatalogueRow[]>;
  getMeta(key: string): Promise<string | undefined>;
  /** Policy proposals, oldest first (each with who proposed and who decided it). */
  policyProposals(): Promise<PolicyProposalRow[]>;
  /** The session whose token has this SHA-256, ended or not. */
  sessionByHash(hash: string): Promise<SessionRow | undefined>;

  resolve(id: Identifier): Promise<SubjectId | undefined>;
  /** The linked ones of `ids`, each with its subject (in no particular order; an identifier asked twice comes once). */
  resolveAll(ids: readonly Identifier[]): Promise<LinkedIdentifier[]>;
  identifiersOf(subjectId: SubjectId): Promise<Identifier[]>;
  /** The identifiers of each of `ids`, ordered by subject, scheme and value (identifiersOf for many subjects in one read). */
  identifiersOfAll(ids: readonly SubjectId[]): Promise<LinkedIdentifier[]>;
  subjectExists(subjectId: SubjectId): Promise<boolean>;
  countSubjects(): Promise<number>;

  findRecord(source: string, recordId: string): Promise<RecordRow | undefined>;
  /** The stored ones of these records (findRecord for many keys in one read; in no particular order, each once). */
  findRecords(keys: readonly RecordKey[]): Promise<RecordRow[]>;
  recordsOf(subjectId: SubjectId): Promise<RecordRow[]>;
  countRecords(): Promise<number>;

  findQuarantined(source: string, recordId: string): Promise<QuarantineRow | undefined>;
  /** The quarantined ones of these records, released or not (findQuarantined for many keys in one read; in no particular order, each once). */
  findQuarantinedAll(keys: readonly RecordKey[]): Promise<QuarantineRow[]>;
  quarantinedFor(id: Identifier): Promise<QuarantineRow[]>;
  listQuarantine(limit: number): Promise<QuarantineRow[]>;

  getState(subjectId: SubjectId): Promise<StateRow | undefined>;
  /** Subjects whose state changes by itself at or before `at`. */
  dueSubjects(at: Instant, limit: number): Promise<SubjectId[]>;
  /** Every subject that has records, in id order, in pages. */
  subjectsWithRecords(afterId: SubjectId, limit: number): Promise<SubjectId[]>;
  /**
   * Everything evaluation reads about each of `ids` (ascending subjects with records):
   * one read per table for the page, not one per subject, which is what a full
   * re-evaluation of millions of subjects needs.
   */
  evaluationInputs(ids: readonly SubjectId[]): Promise<StoredInputs[]>;
  countSubjectsWithRecords(): Promise<number>;
  /** States that carry at least one measure, in subject order, a page at a time (the decision index's snapshot). */
  statesWithMeasures(afterId: SubjectId, limit: number): Promise<{ subjectId: SubjectId; identifiers: Identifier[]; state: SubjectState }[]>;
  /** The earliest next change of any subject, or null. */
  earliestChange(): Promise<Instant | null>;

  keyById(keyId: string): Promise<KeyRow | undefined>;
  listKeys(): Promise<KeyRow[]>;

  /** The newest `limit` decisions about any of `ids`: checks and screened identifiers alike. */
  decisionsAbout(ids: readonly Identifier[], limit: number): Promise<DecisionLogRow[]>;
  countDecisions(): Promise<number>;

  listCounts(): Promise<ListCount[]>;
  measureCounts(): Promise<MeasureCount[]>;
  /** When each notice was created, for the public statistics (no content). */
  noticeTimes(): Promise<Instant[]>;

  getDispute(id: string): Promise<DisputeRow | undefined>;
  disputesOf(subjectId: SubjectId): Promise<DisputeRow[]>;
  listDisputes(filter: { status?: DisputeStatus; source?: string; limit: number }): Promise<DisputeRow[]>;
  /** Open disputes whose deadline is at or before `at`. */
  expiredDisputes(at: Instant): Promise<DisputeRow[]>;
  applicationsOf(subjectId: SubjectId): Promise<ApplicationRow[]>;
  disputeActions(disputeId: string): Promise<DisputeActionRow[]>;
  noticesOf(subjectId: SubjectId): Promise<NoticeRow[]>;
  getNotice(id: string): Promise<NoticeRow | undefined>;
  dueOutbox(at: Instant, limit: number): Promise<OutboxRow[]>;
  outboxOf(noticeId: string): Promise<OutboxRow | undefined>;
  /** The channels a notice has reached, each once: a channel that failed is tried again alone. */
  deliveredChannels(noticeId: string): Promise<string[]>;

  /** Outcomes of a batch's lines after `afterLine`, in line order, at most `limit`. */
  outcomesOf(receipt: string, afterLine: number, limit: number): Promise<OutcomeRow[]>;
  /** Outcomes of these lines of a batch (those that have one). */
  outcomesFor(receipt: string, lines: readonly number[]): Promise<OutcomeRow[]>;
  /** The latest outcome of a source's record, from any batch. */
  outcomeOfRecord(source: string, recordId: string): Promise<OutcomeRow | undefined>;
}

/**
 * One durable transaction. Every read and write inside it goes through this object:
 * on a pooled database that is what keeps them on the transaction's connection.
 */
export interface StoreTx extends StoreReads {
  /**
   * Takes the write locks of these subjects until the transaction ends, before their
   * inputs are read: two transactions that evaluate the same subject then run one
   * after the other, so neither writes a state from inputs the other changed. Ingest,
   * linking, due process and every page of a re-evaluation call it (see ARCHITECTURE.md).
   */
  lockSubjects(ids: readonly SubjectId[]): Promise<void>;

  addPolicy(p: Omit<PolicyRow, "seq">): Promise<PolicyRow>;
  addCatalogue(c: Omit<CatalogueRow, "seq">): Promise<CatalogueRow>;
  /** Inserts a proposal, or replaces the one with its id (when it is approved or rejected). */
  putPolicyProposal(row: PolicyProposalRow): Promise<void>;
  /** Inserts a session; throws if one with that hash exists. */
  addSession(row: SessionRow): Promise<void>;
  /** Moves a session's lastSeenAt forward (never back); nothing for an unknown or ended one. */
  touchSession(hash: string, at: Instant): Promise<void>;
  /** Ends a session; false when there was no such session not yet ended. */
  endSession(hash: string, at: Instant): Promise<boolean>;
  /** Deletes sessions ended or expired before `before`; returns how many. */
  pruneSessions(before: Instant): Promise<number>;
  setMeta(key: string, value: string): Promise<void>;
  createSubject(at: Instant): Promise<SubjectId>;
  /** Creates `count` subjects; their ids, ascending, in the order createSubject would have given them. */
  createSubjects(count: number, at: Instant): Promise<SubjectId[]>;
  /** Links an identifier to a subject; throws identifier-conflict if it names another subject. */
  link(subjectId: SubjectId, id: Identifier, at: Instant): Promise<void>;
  /** `link` for many identifiers at once (each named once); throws identifier-conflict, and links none, if one names another subject. */
  linkAll(ids: readonly LinkedIdentifier[], at: Instant): Promise<void>;
  appendRecord(r: NewRecord): Promise<RecordRow>;
  /** Appends records in the order given, as one appendRecord after another would (ascending seqs). */
  appendRecords(rs: readonly NewRecord[]): Promise<RecordRow[]>;
  quarantine(q: NewQuarantine): Promise<QuarantineRow>;
  /** Quarantines records in the order given, as one quarantine after another would. */
  quarantineAll(qs: readonly NewQuarantine[]): Promise<QuarantineRow[]>;
  releaseQuarantined(seq: number, at: Instant): Promise<void>;
  putState(row: StateRow): Promise<void>;
  /** putState for many subjects (each named once). */
  putStates(rows: readonly StateRow[]): Promise<void>;
  /** Stores a state already serialised (by a re-evaluation worker); read back by getState like any other. */
  putStateText(row: StateText): Promise<void>;
  addKey(row: KeyRow): Promise<void>;
  /** Returns false when there was no such unrevoked key. */
  revokeKey(keyId: string, at: Instant): Promise<boolean>;
  putDispute(row: DisputeRow): Promise<void>;
  addDisputeAction(row: DisputeActionRow): Promise<void>;
  addApplication(row: ApplicationRow): Promise<void>;
  /** Inserts a notice and its outbox entry; returns false if that notice already exists. */
  addNotice(row: NoticeRow): Promise<boolean>;
  /** addNotice for many notices; returns how many were new. */
  addNotices(rows: readonly NoticeRow[]): Promise<number>;
  markDelivered(noticeId: string, at: Instant): Promise<void>;
  /** Records that one channel delivered the notice (idempotent). */
  markChannelDelivered(noticeId: string, channel: string, at: Instant): Promise<void>;
  markFailed(noticeId: string, error: string, nextAttemptAt: Instant): Promise<void>;

  /**
   * Where another thread may read the inputs of subjects this transaction has locked,
   * and see exactly what the transaction would: a module exporting
   * `openReader(args): { read(ids): StoredInputs[] }`, and its arguments. Re-evaluation
   * workers read their pages through it, so the thread that writes need not read and
   * copy them. Undefined when the store has no such reader (an in-memory store); the
   * caller then reads through the transaction and hands the inputs over.
   */
  pageReader(): PageReaderSpec | undefined;

  /** Stores the outcomes of lines applied in this transaction; a line that has one keeps it. */
  putOutcomes(rows: readonly OutcomeRow[]): Promise<void>;
  /**
   * The fence of a partition of the record stream: true when `epoch` is at least the
   * highest epoch any transaction has fenced it with, which it then becomes; false when
   * a newer owner has taken the partition over (the caller must not commit).
   */
  fencePartition(partition: number, epoch: number): Promise<boolean>;

  /** A journal entry for a change that leaves no row (a refused record), in this transaction. */
  journalEvent(kind: string, data: unknown): Promise<void>;
  /** Appends an event to the change feed's outbox, committed with the rest of the transaction. */
  emit(change: NewChange): Promise<void>;
}

/** A module another thread imports to read pages of stored inputs (StoreTx.pageReader). */
export interface PageReaderSpec {
  /** URL of the module. */
  readonly module: string;
  /** Structured-cloneable arguments of its openReader. */
  readonly args: unknown;
}

/** What the change feed carries: which thing changed, never its content, which readers take from the store. */
export type ChangeKind = "subject" | "policy" | "key";

export interface NewChange {
  readonly kind: ChangeKind;
  /** The subject id, policy ref or key id. */
  readonly ref: string;
}

export interface ChangeRow extends NewChange {
  /** Position in the feed: increasing in commit order. */
  readonly seq: number;
  /** The process that committed it, so that it need not apply its own changes twice. */
  readonly origin: string;
  readonly at: Instant;
}

/**
 * What replays a stored state: a pure function of the policy version's text, what is
 * stored about the subject, and the instant it was evaluated at. The store reads both
 * from the snapshot it verifies, so a replay never mixes two points in time.
 */
export interface Replayer {
  replay(policy: { readonly ref: string; readonly text: string; readonly catalogue?: { readonly version: string; readonly text: string } }, inputs: StoredInputs, at: number): unknown;
}

/** What a store's journal verification takes (JournalPort.verify). */
export interface AuditOptions {
  /** Replays every stored state with it; without one, replay is skipped (a warning). */
  readonly replay?: Replayer;
  /**
   * The published public key to check signatures against (SPKI PEM, or the JSON served
   * at /v1/journal/key). Without it, the key kept beside the store is used.
   */
  readonly publicKey?: string;
  /** How many problems to list (default 200; the rest are counted in `omitted`). */
  readonly maxProblems?: number;
  /** A key fingerprint recorded elsewhere (the pin kept outside the data folder): the journal must be signed by it. */
  readonly pinnedFingerprint?: string;
  /** Heads a witness recorded (audit verify --witness): the journal must still contain every one. */
  readonly witnessHeads?: readonly WitnessedHead[];
}

/** A head as a witness recorded it. */
export interface WitnessedHead {
  readonly seq: number;
  readonly hash: string;
  readonly at?: Instant;
}

/**
 * A signed journal head: entry `seq` has chain hash `hash`, signed at `at` with the
 * journal key whose fingerprint is given. The signature is base64 Ed25519 over the
 * bytes of journal/hash.ts headPayload(seq, hash, at, prev); `prev` is the seq of the
 * signed head before it (0 for the first), so a head removed from the middle shows.
 */
export interface SignedHead {
  readonly seq: number;
  readonly hash: string;
  readonly at: Instant;
  readonly prev: number;
  readonly signature: string;
  readonly fingerprint: string;
}

/** The journal as a store keeps it (docs/journal.md). */
export interface JournalPort {
  /** The Ed25519 public key that signs checkpoints, as published at /v1/journal/key. */
  publicKey(): { algorithm: "Ed25519"; publicKey: string; fingerprint: string };
  /** The latest signed head (every commit that journals anything ends with one); undefined for an empty journal. */
  head(): Promise<SignedHead | undefined>;
  /** The chain hash of entry `seq`, for a witness's consistency check; undefined when there is no such entry. */
  hashAt(seq: number): Promise<string | undefined>;
  /** The journal key, for receipts. Throws when the store has no signing key (read-only). */
  signer(): Signer;
  /** Replaces the journal key with a new one, in a journaled event the old key endorses and signs. */
  rotateKey(): Promise<{ from: string; to: string; seq: number }>;
  /** Verifies the chain, the checkpoints, every row, and (with a replayer) every stored state, on one snapshot. */
  verify(options: AuditOptions): Promise<VerifyReport>;
}

export interface Store extends StoreReads {
  /**
   * Runs fn in one durable transaction: all of it is committed, or none. Transactions
   * that write the same subjects run one after another (see StoreTx.lockSubjects).
   * Never call transaction() inside fn.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * The decision log a row per decision, in its own transaction per batch. What stores
   * made before checks were logged compactly hold such rows; a server now writes
   * appendScreenings, and these rows are still read, counted, copied and verified.
   */
  appendDecisions(rows: readonly DecisionLogRow[]): Promise<void>;
  /** Decisions (a screening's, or checks') compactly (src/store/screening-log.ts): one row per batch and bucket, one journal entry for all; decisionsAbout reads them. */
  appendScreenings(batches: readonly ScreeningLogBatch[]): Promise<void>;
  /** The change feed's outbox: events after `afterSeq`, in order. */
  changesSince(afterSeq: number, limit: number): Promise<ChangeRow[]>;
  /** The newest position in the change feed (0 when empty). */
  lastChange(): Promise<number>;
  /** The process identity that this store stamps on the changes it commits. */
  readonly origin: string;
  readonly journal: JournalPort;
  /**
   * A lease that at most one process on this database holds at a time (PostgreSQL: a
   * session advisory lock on a connection of its own, freed when that connection ends).
   * Undefined where the store serves one process (SQLite): that process is the only one.
   */
  exclusiveLease?(name: string): ExclusiveLease;
  close(): Promise<void>;
}

/** A named lease among the processes of one database (Store.exclusiveLease). */
export interface ExclusiveLease {
  /** Takes the lease if it is free; true while this process holds it (its connection alive and answering). */
  tryTake(): Promise<boolean>;
  /** Gives it up (and closes its connection); another process may take it at once. */
  release(): Promise<void>;
}

/** One logged decision: who asked about whom, in which context, and the answer. */
export interface DecisionLogRow {
  readonly id: string;
  readonly at: Instant;
  /** Key id of the asker ("anonymous" is never logged: checks need a key). */
  readonly keyId: string;
  readonly askedBy: string;
  readonly scheme: string;
  readonly value: string;
  readonly context: string;
  readonly decision: "allow" | "deny";
  readonly codes: readonly string[];
}

export interface ListCount {
  readonly list: string;
  readonly effect: "restrict" | "privilege";
  readonly members: number;
}

export interface MeasureCount {
  readonly context: string;
  readonly measure: string;
  readonly effect: "deny" | "privilege";
  readonly active: number;
  readonly pending: number;
}




/**
 * "uphold-proposed": a reviewer proposed to uphold; a second reviewer confirms (upheld) or
 * rejects (back to confirmed). Until then the record counts as it did when confirmed.
 */
export type DisputeStatus = "open" | "confirmed" | "withdrawn" | "corrected" | "uphold-proposed" | "upheld" | "dismissed" | "expired";

/** Who did what to a dispute, in order: what the console and the API show, and what separation of duties reads. */
export interface DisputeActionRow {
  readonly disputeId: string;
  readonly action: "opened" | "answered" | "proposed-uphold" | "confirmed-uphold" | "rejected-uphold" | "dismissed" | "expired";
  /** The actor as shown to people: "reviewer key 1a2b… (label)", or a name given to the CLI. */
  readonly actor: string;
  readonly at: Instant;
  readonly note: string | null;
}

export interface DisputeRow {
  readonly id: string;
  readonly subjectId: SubjectId;
  readonly source: string;
  readonly recordId: string;
  readonly grounds: string;
  readonly evidence: string | null;
  readonly openedBy: string;
  readonly openedAt: Instant;
  readonly deadlineAt: Instant;
  readonly suspend: boolean;
  readonly status: DisputeStatus;
  readonly answerNote: string | null;
  readonly answeredAt: Instant | null;
  readonly decidedBy: string | null;
  readonly reason: string | null;
  readonly closedAt: Instant | null;
  /** After closing: whether the record counts (null while open). */
  readonly counts: boolean | null;
}

export interface ApplicationRow {
  readonly id: string;
  readonly subjectId: SubjectId;
  readonly list: string;
  readonly appliedAt: Instant;
  readonly appliedBy: string;
}

export interface NoticeRow {
  readonly id: string;
  readonly subjectId: SubjectId;
  readonly measure: string;
  readonly effectiveFrom: Instant;
  readonly createdAt: Instant;
  /** The notice as the subject receives it (JSON). */
  readonly body: string;
}

export interface OutboxRow {
  readonly noticeId: string;
  readonly attempts: number;
  readonly nextAttemptAt: Instant;
  readonly deliveredAt: Instant | null;
  readonly lastError: string | null;
}


/**
 * Whether a page's ids (ascending) are too scattered to read by their id range: an ingest
 * batch's subjects are often a fifth of a range or less, and reading the range would read
 * every subject in between. Each store then reads them by their list instead.
 */
export function scatteredIds(ids: readonly SubjectId[]): boolean {
  return ids.length > 0 && (ids[ids.length - 1] as number) - (ids[0] as number) + 1 > 2 * ids.length + 64;
}

/** Converts a stored row back into what the evaluator reads. */
export function toSubjectRecord(r: RecordRow): SubjectRecord {
  const body = JSON.parse(r.body) as { fields?: Record<string, unknown>; supersedes?: string };
  return {
    source: r.source,
    id: r.recordId,
    type: r.type,
    occurredAt: r.occurredAt,
    fields: body.fields ?? {},
    retracts: r.retracts ?? undefined,
    supersedes: body.supersedes,
    receivedAt: r.receivedAt,
  };
}

/**
 * An exclusive, named lock held by a live session, for work only one process of a
 * cluster may do at a time (src/cluster/leader.ts). The holder keeps it for as long as
 * its session lives: a process that dies loses it at once, without a lease to run out.
 */
export interface LeaderLock {
  /** The role the lock is for ("scheduler"). */
  readonly role: string;
  /** One attempt: true when this session holds the lock now (already held: true). Rejects when the store cannot be reached. */
  tryAcquire(): Promise<boolean>;
  /**
   * Checks that the session holding the lock is still alive, within `timeoutMs`;
   * rejects otherwise (and the lock is then lost: the session is dropped).
   */
  probe(timeoutMs: number): Promise<void>;
  /** Called once for each loss of a held lock: the session ended or failed. */
  onLost(listener: (reason: Error) => void): void;
  /** Gives the lock up and ends the session. */
  close(): Promise<void>;
}
