// The composition root: builds the shell's services over one store, one change feed and
// one clock, and is the one object the CLI, the HTTP API and the web pages hold. It
// exposes services, never the store: reads go through `reads`, writes through the
// services, each of which opens its own transaction (src/services/).
//
// The decision index, the key cache and the policy registry are projections: this
// process updates them when it commits, and follows the change feed for what other
// processes commit (a CLI beside a running server, another server on the same database).
import { timeOrderedId } from "./ids.js";
import { checkBatches, type ScreeningLogBatch } from "./store/screening-log.js";
import { readIndexSnapshot, writeIndexSnapshot } from "./index-snapshot.js";
import { Authenticator, createKey, revokeKey, type NewKeyRequest } from "./services/keys.js";
import type { KeyRow, Principal } from "./auth/principals.js";
import { DecisionIndex } from "./engine/decision-index.js";
import type { Decision, SubjectState } from "./engine/types.js";
import { StandingError } from "./errors.js";
import { FeedFollower, StoreChangeFeed, type ChangeFeed } from "./feed/feed.js";
import type { VerifyReport } from "./journal/report.js";
import type { OutboxPort } from "./notices/outbox.js";
import { catalogueView, diffCatalogues, parseCatalogue, type Catalogue, type CatalogueChange } from "./policy/catalogue.js";
import { compilePolicy } from "./policy/compile.js";
import type { CompiledPolicy, PolicyDiagnostic } from "./policy/types.js";
import { evaluateStored, subjectRecords, toListApplication } from "./reevaluation/inputs.js";
import type { Shell } from "./services/context.js";
import { DueProcess, actorKey } from "./services/due-process.js";
import { stateOf, type Written } from "./services/evaluation.js";
import { Identity } from "./services/identity.js";
import { Ingest, type DeliveredLine, type DeliveredResult, type IngestResult } from "./services/ingest.js";
import { PolicyRegistry, type PolicyProvenance } from "./services/policies.js";
import { Sessions, type SessionLookup, type SessionSettings } from "./services/sessions.js";
import { ReadModels } from "./services/read-models.js";
import { Reevaluation, type Progress, type ReevaluationResult, type SharedPage, type SharedPlan, type SharedProgress } from "./services/reevaluation.js";
import { Scheduling } from "./services/scheduling.js";
import { buildStatement, type Statement } from "./statement/statement.js";
import type { ChangeRow, DecisionLogRow, DisputeRow, Identifier, NoticeRow, PolicyProposalRow, PolicyRow, Replayer, SignedHead, Store, StoreTx, SubjectId } from "./store/types.js";
import type { Receipt } from "./journal/receipt.js";
import { Receipts } from "./receipts.js";
import { openStore } from "./store/open.js";
import { systemClock, type Clock, type Instant } from "./time.js";

export { DISPUTE_LIMITS } from "./services/due-process.js";
export { defaultWorkerCount, type Progress, type SharedPage, type SharedPlan, type SharedProgress } from "./services/reevaluation.js";
export type { IngestResult } from "./services/ingest.js";

export interface PublishResult {
  readonly policy: string;
  readonly status: "published" | "scheduled" | "unchanged";
  readonly effective: string;
  readonly reevaluated: number;
  readonly changed: { readonly tier: number; readonly lists: number; readonly measures: number };
  /** In a cluster: the re-evaluation was queued for the evaluators (its run and page count), not done here. */
  readonly shared?: { readonly run: string; readonly pages: number };
  readonly warnings: readonly PolicyDiagnostic[];
}

export interface ProposeResult {
  readonly proposal: PolicyProposalRow;
  /** "unchanged": the same text was already proposed and is still open. */
  readonly status: "proposed" | "unchanged";
  readonly warnings: readonly PolicyDiagnostic[];
}

/** An actor's name as given (an API key's description, or a CLI's --by). */
function actorName(by: string): string {
  const name = by.trim();
  if (name === "" || name.length > 200 || [...name].some((c) => c < " " || c === "\u007f")) throw new StandingError("bad-request", "name who acts (1 to 200 printable characters)", {});
  return name;
}

export interface StandingOptions {
  /** How far in the future an occurredAt may be (clock skew), in ms. */
  readonly futureToleranceMs?: number;
  /** Called after a subject's state changed (after commit), in this process. */
  readonly onStateChange?: (subjectId: SubjectId, state: SubjectState) => void;
  /** Worker threads for a full re-evaluation (default: one per core, up to 8, none on one core; 0 turns them off). */
  readonly reevaluationWorkers?: number;
  /** Re-evaluations of fewer subjects than this run on the calling thread (default 20,000). */
  readonly parallelFrom?: number;
  /** Subjects per page of a full re-evaluation (default 1,000). */
  readonly reevaluationPage?: number;
  /** The change feed to follow (default: the store's own outbox, polled). */
  readonly feed?: ChangeFeed;
  /** How often the feed is polled, in ms (default 200). */
  readonly feedPollMs?: number;
  /**
   * A cluster: full re-evaluations (a publish, a version whose date comes, one left
   * unfinished) are handed to this instead of run here; src/cluster/reevaluation.ts
   * queues their pages for every evaluator (publishReevaluation).
   */
  readonly shareReevaluation?: (ref: string, at: Instant) => Promise<SharedPlan>;
  /**
   * How far behind the change feed this process may fall before it says so, and what it
   * then does with checks (a cluster's checkpoint nodes; default: not enforced).
   */
  readonly staleness?: StalenessBound;
  /**
   * A file that keeps the decision index between runs (src/index-snapshot.ts): start()
   * restores the index from it and applies the changes since, when it is valid, instead of
   * reading every state. Used only with the store's own feed (`feed` unset): a JetStream
   * feed counts positions of its own. saveIndexSnapshot() writes it.
   */
  readonly indexSnapshot?: string;
}

/** How the decision index was loaded at start: from the snapshot file, or from the store (and why not from the file). */
export type IndexLoad = { readonly from: "snapshot"; readonly file: string; readonly position: number; readonly changesApplied: number } | { readonly from: "store"; readonly snapshot: string | null };

/** A checkpoint node's bound on staleness: `maxMs` behind at most; past it, refuse checks (503 index-stale) or serve them flagged. */
export interface StalenessBound {
  readonly maxMs: number;
  readonly mode: "refuse" | "serve";
}

/** How current this process's projections are with what is committed anywhere (Standing.feedStatus). */
export interface FeedStatus {
  /** The outbox position applied up to. */
  readonly position: number;
  /** When the follower last read the feed to its end (epoch ms; 0 before it has). */
  readonly caughtUpAt: number;
  readonly pollMs: number;
  /** Everything committed before this instant is applied here (epoch ms; 0 before the snapshot is loaded). */
  readonly currentAsOf: number;
  /** now − currentAsOf, in ms (null before the snapshot is loaded). */
  readonly stalenessMs: number | null;
  /** Past the bound (always false when none is set). */
  readonly stale: boolean;
  readonly maxStalenessMs: number | null;
  readonly staleMode: "refuse" | "serve" | null;
  /** Events from the feed applied since this process started. */
  readonly eventsApplied: number;
}

export interface CheckResult extends Decision {
  readonly id: string;
  readonly subject: Identifier;
}

export function parseIdentifier(text: string): Identifier {
  const i = text.indexOf(":");
  if (i <= 0 || i === text.length - 1) {
    throw new StandingError("invalid-identifier", `"${text}" is not an identifier; write SCHEME:VALUE, e.g. national-id:demo-000042`, { identifier: text });
  }
  return { scheme: text.slice(0, i), value: text.slice(i + 1) };
}

const SNAPSHOT_PAGE = 5000;

/** Everything the composition root is built from: which store, which feed, which clock, and the services' settings. */
export interface StandingConfig extends StandingOptions {
  /** A store URL (`sqlite:PATH`, or a bare path) or a store already open. */
  readonly store: string | Store;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** A store URL opened for reading only (nothing written; any write is refused with storage-read-only). */
  readonly readOnly?: boolean;
}

/** The composition root: a Standing built from configuration (the CLI, the server and the bench use it). */
export function openStanding(config: StandingConfig): Standing {
  const store = typeof config.store === "string" ? openStore(config.store, config.readOnly ? { readOnly: true } : {}) : config.store;
  return new Standing(store, config.clock ?? systemClock, config);
}

export class Standing {
  private index = new DecisionIndex();
  private indexLoad: IndexLoad = { from: "store", snapshot: null };
  private readonly registry = new PolicyRegistry();
  private readonly shell: Shell;
  private readonly ingestService: Ingest;
  private readonly identity: Identity;
  private readonly dueProcess: DueProcess;
  private readonly reevaluation: Reevaluation;
  private readonly scheduling: Scheduling;
  private readonly keys: Authenticator;
  private readonly sessions: Sessions;
  private readonly follower: FeedFollower;
  /** What the adapters read: a subject's file, queues, statistics. */
  readonly reads: ReadModels;
  /** Signed receipts for check answers, notices and statements (docs/journal.md). */
  readonly receipts: Receipts;
  private started: Promise<number> | undefined;
  private readonly feed: ChangeFeed;
  /** When the snapshot began to be read (epoch ms): everything committed before it is in the projections. */
  private loadedAt = 0;
  private eventsApplied = 0;

  constructor(
    private readonly store: Store,
    readonly clock: Clock,
    private readonly options: StandingOptions = {},
  ) {
    this.shell = { store, clock, policies: this.registry, applied: (w) => this.applied(w) };
    this.ingestService = new Ingest(this.shell, options.futureToleranceMs);
    this.identity = new Identity(this.shell);
    this.dueProcess = new DueProcess(this.shell, this.ingestService);
    this.reevaluation = new Reevaluation(this.shell, {
      ...(options.reevaluationWorkers !== undefined ? { workers: options.reevaluationWorkers } : {}),
      ...(options.parallelFrom !== undefined ? { parallelFrom: options.parallelFrom } : {}),
      ...(options.reevaluationPage !== undefined ? { page: options.reevaluationPage } : {}),
      ...(options.shareReevaluation ? { share: options.shareReevaluation } : {}),
    });
    this.scheduling = new Scheduling(this.shell, this.reevaluation);
    this.keys = new Authenticator(store);
    this.sessions = new Sessions(store, clock, this.keys);
    this.reads = new ReadModels(store);
    this.receipts = new Receipts(store.journal);
    // Events this process committed are applied again too: re-reading a state is cheap
    // and idempotent, and two Standings may share one store (the demo's history).
    this.feed = options.feed ?? new StoreChangeFeed(store);
    this.follower = new FeedFollower(this.feed, 0, (events) => this.applyChanges(events), {
      ...(options.feedPollMs !== undefined ? { pollMs: options.feedPollMs } : {}),
      onError: (e) => console.error("standing: reading the change feed failed; trying again:", (e as Error).message),
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Loads the policy registry and the decision index from the store (a snapshot), and
   * remembers the feed's position before reading, so that following the feed from there
   * misses nothing committed meanwhile. Idempotent; every other method awaits it.
   * Resolves to the number of subjects indexed. A load that failed (the database went
   * away) is forgotten, so that calling start() again tries again from the beginning.
   */
  start(): Promise<number> {
    this.started ??= this.load().catch((e: unknown) => {
      this.started = undefined;
      throw e;
    });
    return this.started;
  }

  private async load(): Promise<number> {
    const loadedAt = Date.now();
    this.follower.position = await this.feed.position();
    await this.registry.reload(this.store);
    await this.registry.reloadProposals(this.store);
    // From empty, also when an earlier attempt failed part way: a subject it indexed may
    // have lost its measures since, and nothing else would take it out.
    this.index = new DecisionIndex();
    const file = this.snapshotFile();
    if (file !== undefined) {
      const snap = await readIndexSnapshot(file, this.store.journal, this.follower.position);
      if (snap.ok) {
        this.index = snap.index;
        this.follower.position = snap.position;
        // Every change after the file's position, applied before anything is answered.
        const changesApplied = await this.follower.poll();
        this.indexLoad = { from: "snapshot", file, position: snap.position, changesApplied };
        this.loadedAt = loadedAt;
        return this.index.subjects;
      }
      this.indexLoad = { from: "store", snapshot: snap.why };
    }
    let n = 0;
    for (let after = 0; ; ) {
      const page = await this.store.statesWithMeasures(after, SNAPSHOT_PAGE);
      if (page.length === 0) break;
      for (const s of page) this.index.put(s.subjectId, s.identifiers, s.state.measures);
      n += page.length;
      after = (page[page.length - 1] as { subjectId: number }).subjectId;
    }
    this.loadedAt = loadedAt;
    return n;
  }

  private snapshotFile(): string | undefined {
    return this.options.feed === undefined ? this.options.indexSnapshot : undefined;
  }

  /** How start() loaded the decision index. */
  get indexLoadedFrom(): IndexLoad {
    return this.indexLoad;
  }

  /**
   * Writes the decision index to the snapshot file (options.indexSnapshot) as of the
   * feed position applied so far; null when there is no file to write. Changes the
   * index holds beyond that position are applied again at the next start, which is
   * harmless: a change names what to read again, never what it became.
   */
  async saveIndexSnapshot(): Promise<{ file: string; subjects: number; position: number } | null> {
    const file = this.snapshotFile();
    if (file === undefined) return null;
    await this.start();
    // Read to the feed's end first, so that the next start has as little as possible to apply.
    await this.follower.poll();
    const position = this.follower.position;
    const subjects = this.index.subjects;
    await writeIndexSnapshot(file, this.index, position, this.store.journal);
    return { file, subjects, position };
  }

  /** Follows the change feed in the background (a server); one-shot commands need not. */
  async follow(): Promise<void> {
    await this.start();
    this.follower.start();
  }

  /** Brings the projections up to date with changes committed anywhere (events name what changed). */
  private async applyChanges(events: readonly ChangeRow[]): Promise<void> {
    let policies = false;
    const subjects = new Set<SubjectId>();
    this.eventsApplied += events.length;
    for (const e of events) {
      switch (e.kind) {
        case "subject":
          subjects.add(Number(e.ref));
          break;
        case "policy":
          policies = true;
          break;
        case "key":
          this.keys.forget(e.ref);
          break;
        default: {
          // A kind a newer writer emits (a rolling upgrade): skipped, so that every other change is still followed.
          const never: never = e.kind;
          console.error(`standing: change feed event #${e.seq} of unknown kind ${String(never)} skipped`);
        }
      }
    }
    if (policies) {
      await this.registry.reload(this.store);
      await this.registry.reloadProposals(this.store);
    }
    for (const id of subjects) {
      // The event names the subject; what it became is read from the store, so an old or repeated event is harmless.
      const row = await this.store.getState(id);
      const measures = row?.state.measures ?? [];
      this.index.put(id, measures.length > 0 ? await this.store.identifiersOf(id) : [], measures);
    }
  }

  /** Reads the feed to its end now (what the background follower does every poll). */
  catchUp(): Promise<number> {
    return this.follower.poll();
  }

  /**
   * The follower's position, and how current this process is: everything committed
   * before `currentAsOf` is applied here (the snapshot's start, then each time a read of
   * the store's feed reaches its end, or a JetStream relay's heartbeat names a position
   * already applied), so `stalenessMs` is wall time since then (health and staleness).
   */
  feedStatus(now: number = Date.now()): FeedStatus {
    const position = this.follower.position;
    const currentAsOf = this.currentAsOf();
    const stalenessMs = currentAsOf === 0 ? null : Math.max(0, now - currentAsOf);
    const bound = this.options.staleness;
    return {
      position,
      caughtUpAt: this.follower.caughtUpAt,
      pollMs: this.follower.pollMs,
      currentAsOf,
      stalenessMs,
      stale: bound !== undefined && (stalenessMs === null || stalenessMs > bound.maxMs),
      maxStalenessMs: bound?.maxMs ?? null,
      staleMode: bound?.mode ?? null,
      eventsApplied: this.eventsApplied,
    };
  }

  /**
   * Before answering a check from the index: past the staleness bound, refuses with
   * index-stale (mode "refuse") or returns true so the answer is flagged (mode "serve").
   * False when current, or when no bound is set.
   */
  assertFresh(): boolean {
    const bound = this.options.staleness;
    if (bound === undefined) return false;
    // The common case without building the status: current within the bound.
    const asOf = this.currentAsOf();
    if (asOf !== 0 && Date.now() - asOf <= bound.maxMs) return false;
    const f = this.feedStatus();
    if (!f.stale) return false;
    if (f.staleMode === "serve") return true;
    const behind = f.stalenessMs === null ? "has not loaded its snapshot yet" : `is ${f.stalenessMs} ms behind the change feed`;
    throw new StandingError("index-stale", `this node's decision index ${behind} (at most ${f.maxStalenessMs} ms allowed): ask another node, or again shortly`, {
      stalenessMs: f.stalenessMs,
      maxStalenessMs: f.maxStalenessMs,
      position: f.position,
    });
  }

  /** Everything committed before this instant is applied here (epoch ms; 0 before the snapshot is loaded). */
  private currentAsOf(): number {
    if (this.loadedAt === 0) return 0;
    const feedAsOf = this.feed.currentAsOf ? this.feed.currentAsOf(this.follower.position) : this.follower.caughtUpAt;
    return Math.max(this.loadedAt, feedAsOf);
  }

  async close(): Promise<void> {
    await this.follower.stop();
    await this.feed.close?.();
    await this.store.close();
  }

  /** After a commit in this process: the decision index, and whoever listens for changes. */
  private applied(written: readonly Written[]): void {
    for (const w of written) {
      this.index.put(w.subjectId, w.identifiers, w.measures);
      if (this.options.onStateChange) this.options.onStateChange(w.subjectId, w.state());
    }
  }

  get indexedSubjects(): number {
    return this.index.subjects;
  }

  now(): Instant {
    return this.clock.now();
  }

  // ---------------------------------------------------------------- policies

  /** The version in force at `at` (after start()). */
  activePolicy(at: Instant = this.clock.now()): CompiledPolicy | undefined {
    return this.registry.active(at);
  }

  requirePolicy(at: Instant = this.clock.now()): CompiledPolicy {
    return this.registry.require(at);
  }

  publishedPolicies(): readonly PolicyRow[] {
    return this.registry.published();
  }

  /**
   * Publishes a version at once, with no second person: what a program embedding the
   * library that keeps its own approval uses, and tests. The CLI, the API and the
   * console publish only by approving a proposal (proposePolicy, approvePolicy).
   */
  async publish(text: string, file: string, onProgress?: Progress): Promise<PublishResult> {
    return this.publishText(text, file, onProgress);
  }

  private async publishText(text: string, file: string, onProgress?: Progress, approval?: { readonly id: string; readonly by: string }): Promise<PublishResult> {
    await this.start();
    // A new version is held to the catalogue of permitted categories adopted last.
    await this.registry.reload(this.store);
    const r = compilePolicy(text, file, this.registry.currentCatalogue());
    if (!r.ok) {
      throw new StandingError("invalid-policy", `${file} does not compile (${r.errors.length} error${r.errors.length === 1 ? "" : "s"})`, {
        errors: r.errors,
      });
    }
    const p = r.policy;
    const now = this.clock.now();
    const unchanged = { reevaluated: 0, changed: { tier: 0, lists: 0, measures: 0 } };
    const status = await this.store.transaction(async (tx) => {
      if (approval) {
        // The approval and the version it publishes are committed together, or neither.
        const prop = (await tx.policyProposals()).find((x) => x.id === approval.id);
        if (!prop || prop.hash !== p.hash) throw new StandingError("not-found", `no proposal ${approval.id} for ${p.ref}`, { proposal: approval.id });
        if (prop.status === "rejected") throw new StandingError("record-conflict", `proposal ${prop.id} was rejected by ${prop.decidedBy ?? "an approver"}; propose it again`, { proposal: prop.id, status: prop.status });
        if (prop.status === "proposed") await tx.putPolicyProposal({ ...prop, status: "approved", decidedBy: approval.by, decidedAt: now });
      }
      const rows = await tx.policies();
      const existing = rows.find((row) => row.ref === p.ref);
      if (existing) {
        if (existing.hash !== p.hash) {
          throw new StandingError("invalid-policy", `${p.ref} is already published with different content; published versions are immutable, so give this one a new version`, { policy: p.ref });
        }
        return "unchanged" as const;
      }
      const latest = rows[rows.length - 1];
      if (latest && p.effective < latest.effective) {
        throw new StandingError("invalid-policy", `${p.ref} takes effect before ${latest.ref}, which is already published; versions take effect in publication order`, { policy: p.ref });
      }
      await tx.addPolicy({ ref: p.ref, policyId: p.id, version: p.version, text: p.text, hash: p.hash, effective: p.effective, publishedAt: now });
      await tx.emit({ kind: "policy", ref: p.ref });
      return p.effective > now ? ("scheduled" as const) : ("published" as const);
    });
    this.registry.remember(p);
    await this.registry.reload(this.store);
    await this.registry.reloadProposals(this.store);
    const effective = new Date(p.effective).toISOString();
    if (status === "unchanged") {
      // The same file again after a publish was cut off during its re-evaluation: finish it.
      const finished = await this.reevaluation.resume(now, onProgress);
      if (finished) return { policy: p.ref, status: "published", effective, ...finished, warnings: r.warnings };
    }
    if (status !== "published") return { policy: p.ref, status, effective, ...unchanged, warnings: r.warnings };
    const res = await this.reevaluation.run(now, onProgress);
    return { policy: p.ref, status, effective, ...res, warnings: r.warnings };
  }

  // ---------------------------------------------------------------- proposals: author ≠ approver

  /** Proposals, oldest first, as this process last read them. */
  policyProposals(): readonly PolicyProposalRow[] {
    return this.registry.proposals();
  }

  /** Who proposed and who approved a published version (null: published before approval was required). */
  policyProvenance(ref: string): PolicyProvenance | null {
    return this.registry.provenance(ref);
  }

  /**
   * Proposes a version for publication: it is compiled and held to the guardrails now,
   * stored with who proposed it and when, and published only when another actor (a
   * policy-approver) approves it. Proposing the same text again returns the open proposal.
   */
  async proposePolicy(text: string, by: string, file = "request"): Promise<ProposeResult> {
    await this.start();
    const actor = actorName(by);
    await this.registry.reload(this.store);
    const r = compilePolicy(text, file, this.registry.currentCatalogue());
    if (!r.ok) {
      throw new StandingError("invalid-policy", `${file} does not compile (${r.errors.length} error${r.errors.length === 1 ? "" : "s"})`, { errors: r.errors });
    }
    const p = r.policy;
    const now = this.clock.now();
    const out = await this.store.transaction(async (tx) => {
      const rows = await tx.policies();
      const existing = rows.find((row) => row.ref === p.ref);
      if (existing) {
        throw new StandingError("invalid-policy", existing.hash === p.hash ? `${p.ref} is already published` : `${p.ref} is already published with different content; published versions are immutable, so give this one a new version`, { policy: p.ref });
      }
      const latest = rows[rows.length - 1];
      if (latest && p.effective < latest.effective) {
        throw new StandingError("invalid-policy", `${p.ref} takes effect before ${latest.ref}, which is already published; versions take effect in publication order`, { policy: p.ref });
      }
      const open = (await tx.policyProposals()).find((x) => x.ref === p.ref && x.status === "proposed");
      if (open) {
        if (open.hash === p.hash) return { proposal: open, status: "unchanged" as const };
        throw new StandingError("record-conflict", `${p.ref} is already proposed with other content (proposal ${open.id}); have that one rejected, or give this one a new version`, { policy: p.ref, proposal: open.id });
      }
      const row: PolicyProposalRow = { id: timeOrderedId(), ref: p.ref, text: p.text, hash: p.hash, proposedBy: actor, proposedAt: now, status: "proposed", decidedBy: null, decidedAt: null, note: null };
      await tx.putPolicyProposal(row);
      await tx.emit({ kind: "policy", ref: p.ref });
      return { proposal: row, status: "proposed" as const };
    });
    await this.registry.reloadProposals(this.store);
    return { ...out, warnings: r.warnings };
  }

  /** A proposal by its id, or the open (else the approved) proposal of a ref `id@version`. */
  async findProposal(idOrRef: string): Promise<PolicyProposalRow | undefined> {
    const all = await this.store.policyProposals();
    return all.find((x) => x.id === idOrRef) ?? all.find((x) => x.ref === idOrRef && x.status === "proposed") ?? [...all].reverse().find((x) => x.ref === idOrRef && x.status === "approved");
  }

  private async proposalFor(idOrRef: string, by: string, what: "approve" | "reject"): Promise<PolicyProposalRow> {
    await this.start();
    const prop = await this.findProposal(idOrRef);
    if (!prop) throw new StandingError("not-found", `no policy proposal ${idOrRef}`, { proposal: idOrRef });
    if (actorKey(prop.proposedBy) === actorKey(by)) {
      throw new StandingError("forbidden", `${prop.ref} was proposed by ${prop.proposedBy}; whoever proposes a policy may not ${what} it`, { proposal: prop.id });
    }
    return prop;
  }

  /**
   * Approves a proposal, which publishes it (and re-evaluates every subject, as publishing
   * does). The approver must not be its author. Approving an approved proposal again
   * finishes a re-evaluation that was cut off.
   */
  async approvePolicy(idOrRef: string, by: string, onProgress?: Progress): Promise<PublishResult & { proposal: PolicyProposalRow }> {
    const actor = actorName(by);
    const prop = await this.proposalFor(idOrRef, actor, "approve");
    if (prop.status === "rejected") throw new StandingError("record-conflict", `proposal ${prop.id} was rejected by ${prop.decidedBy ?? "an approver"}; propose it again`, { proposal: prop.id, status: prop.status });
    const res = await this.publishText(prop.text, prop.ref, onProgress, { id: prop.id, by: actor });
    const after = this.registry.proposals().find((x) => x.id === prop.id) ?? prop;
    return { ...res, proposal: after };
  }

  /** Rejects an open proposal with a reason; its author may not. Nothing is published. */
  async rejectPolicy(idOrRef: string, by: string, reason: string): Promise<PolicyProposalRow> {
    const actor = actorName(by);
    const why = reason.trim();
    if (why.length < 10 || why.length > 2000) throw new StandingError("bad-request", "a rejection needs a written reason (10 to 2,000 characters)", { proposal: idOrRef });
    const prop = await this.proposalFor(idOrRef, actor, "reject");
    const now = this.clock.now();
    const row = await this.store.transaction(async (tx) => {
      const current = (await tx.policyProposals()).find((x) => x.id === prop.id);
      if (!current || current.status !== "proposed") throw new StandingError("record-conflict", `proposal ${prop.id} is ${current?.status ?? "gone"}, not open`, { proposal: prop.id, status: current?.status ?? null });
      const out: PolicyProposalRow = { ...current, status: "rejected", decidedBy: actor, decidedAt: now, note: why };
      await tx.putPolicyProposal(out);
      await tx.emit({ kind: "policy", ref: current.ref });
      return out;
    });
    await this.registry.reloadProposals(this.store);
    return row;
  }

  /**
   * Finishes a re-evaluation left unfinished (a publish killed part way), unless another
   * process is at it; what `ingest`, `tick` and `serve` call first. Null when there was none.
   */
  async finishPending(onProgress?: Progress): Promise<ReevaluationResult | null> {
    await this.start();
    return this.reevaluation.resume(this.clock.now(), onProgress);
  }

  // ---------------------------------------------------------------- the catalogue

  /** The catalogue of permitted record categories a new version is held to, and when it was adopted (null: shipped). */
  catalogue(): { catalogue: Catalogue; adoptedAt: Instant | null; adoptedBy: string | null; history: readonly { version: string; hash: string; adoptedAt: Instant; adoptedBy: string }[] } {
    const rows = this.registry.adoptedCatalogues();
    const last = rows[rows.length - 1];
    return {
      catalogue: this.registry.currentCatalogue(),
      adoptedAt: last?.adoptedAt ?? null,
      adoptedBy: last?.adoptedBy ?? null,
      history: rows.map((r) => ({ version: r.version, hash: r.hash, adoptedAt: r.adoptedAt, adoptedBy: r.adoptedBy })),
    };
  }

  /** The catalogue as the API and the CLI publish it: categories, fingerprint, and who adopted which version when. */
  catalogueDocument() {
    const c = this.catalogue();
    const iso = (t: Instant): string => new Date(t).toISOString();
    return { ...catalogueView(c.catalogue), adoptedAt: c.adoptedAt === null ? null : iso(c.adoptedAt), adoptedBy: c.adoptedBy, history: c.history.map((h) => ({ ...h, adoptedAt: iso(h.adoptedAt) })) };
  }

  /**
   * Adopts a new catalogue of permitted record categories: a separate, versioned
   * document that no policy author writes. It is checked like a policy's names (no
   * prohibited ground, no person, no score or screening), must carry a new version, and
   * must still admit every record type of the versions in force or scheduled (remove a
   * type from the policy first, then the category). The change is journaled with what it
   * adds, removes and changes, and reaches other processes through the change feed.
   */
  async adoptCatalogue(text: string, file: string, adoptedBy: string): Promise<{ status: "adopted" | "unchanged"; change: CatalogueChange }> {
    await this.start();
    const parsed = parseCatalogue(text, file);
    if (!parsed.ok) {
      throw new StandingError("invalid-catalogue", `${file} is not a valid catalogue (${parsed.errors.length} error${parsed.errors.length === 1 ? "" : "s"})`, { errors: parsed.errors });
    }
    const next = parsed.catalogue;
    const now = this.clock.now();
    const result = await this.store.transaction(async (tx) => {
      await this.registry.reload(tx);
      const current = this.registry.currentCatalogue();
      const change = diffCatalogues(current, next);
      if (current.hash === next.hash) return { status: "unchanged" as const, change };
      if (current.version === next.version || this.registry.adoptedCatalogues().some((c) => c.version === next.version)) {
        throw new StandingError("invalid-catalogue", `catalogue version ${next.version} is already adopted with other content; give this one a new version`, { version: next.version });
      }
      const inForce = [this.registry.active(now), ...this.registry.published().filter((p) => p.effective > now).map((p) => this.registry.byRef(p.ref))];
      for (const p of inForce) {
        if (!p) continue;
        const r = compilePolicy(p.text, p.ref, next);
        if (!r.ok) {
          throw new StandingError("invalid-catalogue", `${p.ref} would no longer compile under catalogue ${next.version}: publish a version without those record types first`, { policy: p.ref, errors: r.errors });
        }
      }
      await tx.addCatalogue({ catalogueId: next.id, version: next.version, hash: next.hash, text: next.text, adoptedAt: now, adoptedBy });
      await tx.journalEvent("catalogue.changed", { ...change, by: adoptedBy });
      await tx.emit({ kind: "policy", ref: `catalogue@${next.version}` });
      return { status: "adopted" as const, change };
    });
    await this.registry.reload(this.store);
    return result;
  }

  /** Re-evaluates every subject with records under the policy in force at `at`. */
  async reevaluateAll(at: Instant, onProgress?: Progress): Promise<ReevaluationResult> {
    await this.start();
    return this.reevaluation.all(at, onProgress);
  }

  /**
   * A cluster's shared re-evaluation of `ref` at `at`: plans its pages (or takes up the
   * unfinished run of the same version) and returns those still to do; null when `ref`
   * is not in force at `at`. `newRun` names a new run. See src/cluster/reevaluation.ts.
   */
  async planSharedReevaluation(ref: string, at: Instant, newRun: () => string): Promise<SharedPlan | null> {
    await this.start();
    return this.reevaluation.planShared(ref, at, newRun);
  }

  /** Works one page of a shared re-evaluation in one transaction that counts it done (idempotent). */
  async reevaluateSharedPage(page: SharedPage): Promise<{ outcome: "done" | "finished" | "superseded"; progress: SharedProgress | null }> {
    await this.start();
    return this.reevaluation.sharedPage(page);
  }

  /** The last shared re-evaluation: pages done of all, and whether it finished. */
  async sharedReevaluation(): Promise<SharedProgress | null> {
    await this.start();
    return this.reevaluation.sharedProgress();
  }

  // ---------------------------------------------------------------- ingest and identity

  async ingest(inputs: readonly unknown[]): Promise<IngestResult[]> {
    await this.start();
    return this.ingestService.ingest(inputs);
  }

  /** Lines the cluster's record stream delivered (src/cluster/evaluator.ts): applied once each, outcomes stored with them. */
  async ingestDelivered(lines: readonly DeliveredLine[], guard?: (tx: StoreTx) => Promise<void>): Promise<DeliveredResult[]> {
    await this.start();
    return this.ingestService.ingestDelivered(lines, guard);
  }

  /** A record's envelope checked as ingest checks it first; a refusal comes with what the journal keeps of it. */
  precheckRecord(input: unknown): ReturnType<Ingest["precheck"]> {
    return this.ingestService.precheck(input);
  }

  /** A refusal decided before ingest (a key submitting for another source), as ingest would answer and journal it. */
  refusalOf(input: unknown, e: StandingError): ReturnType<Ingest["refusalOf"]> {
    return this.ingestService.refusalOf(input, e);
  }

  /** Journals a batch's lines refused before they were published, and stores their outcomes. */
  refuseLines(receipt: string, lines: Parameters<Ingest["refuseLines"]>[1]): Promise<void> {
    return this.ingestService.refuseLines(receipt, lines);
  }

  async link(known: Identifier, extra: Identifier): Promise<{ subject: SubjectId; released: IngestResult[] }> {
    await this.start();
    return this.identity.link(known, extra);
  }

  async register(identifiers: readonly Identifier[]): Promise<SubjectId> {
    await this.start();
    return this.identity.register(identifiers);
  }

  async registerAll(subjects: readonly (readonly Identifier[])[]): Promise<SubjectId[]> {
    await this.start();
    return this.identity.registerAll(subjects);
  }

  /**
   * The same store under another clock (the demo loads its history day by day). The
   * two share the store, not their projections: each keeps its own index.
   */
  withClock(clock: Clock): Standing {
    // The snapshot file is the serving process's alone.
    const { indexSnapshot: _, ...options } = this.options;
    return new Standing(this.store, clock, options);
  }

  /** The subject named by an identifier, or not-found. */
  async resolveSubject(subject: Identifier): Promise<SubjectId> {
    return this.identity.resolve(subject);
  }

  // ---------------------------------------------------------------- time

  /** `takeOver`: finish a re-evaluation another process seems to be at (see Scheduling.advance). */
  async advance(at: Instant = this.clock.now(), takeOver = false): Promise<{ policyActivated: string | null; advanced: number }> {
    await this.start();
    return this.scheduling.advance(at, takeOver);
  }

  async nextWake(): Promise<Instant | null> {
    await this.start();
    return this.scheduling.nextWake();
  }

  // ---------------------------------------------------------------- due process

  async openDispute(req: { subjectId: SubjectId; source: string; recordId: string; grounds: string; evidence?: string; openedBy: string }): Promise<DisputeRow> {
    await this.start();
    return this.dueProcess.openDispute(req);
  }

  async answerDispute(id: string, source: string, answer: "confirm" | "withdraw" | "correct", note: string, correction?: unknown): Promise<{ dispute: DisputeRow; correction?: IngestResult }> {
    await this.start();
    return this.dueProcess.answerDispute(id, source, answer, note, correction);
  }

  async decideDispute(id: string, reviewer: string, decision: "upheld" | "dismissed", reason: string): Promise<DisputeRow> {
    await this.start();
    return this.dueProcess.decideDispute(id, reviewer, decision, reason);
  }

  async applyEarlyExit(subjectId: SubjectId, list: string, appliedBy: string): Promise<{ applied: boolean; list: string; until: string | null }> {
    await this.start();
    return this.dueProcess.applyEarlyExit(subjectId, list, appliedBy);
  }

  // ---------------------------------------------------------------- reading a subject

  /** The subject's whole file, with disputes, notices, recovery paths and lookups. */
  async statement(subjectId: SubjectId, at: Instant = this.clock.now()): Promise<Statement> {
    await this.start();
    const policy = this.registry.require(at);
    const s = this.store;
    const [identifiers, records, disputes, applications, notices] = await Promise.all([s.identifiersOf(subjectId), s.recordsOf(subjectId), s.disputesOf(subjectId), s.applicationsOf(subjectId), s.noticesOf(subjectId)]);
    const lookups = await s.decisionsAbout(identifiers, 200);
    const who = this.registry.provenance(policy.ref);
    const iso = (t: number): string => new Date(t).toISOString();
    return buildStatement(policy, { id: subjectId, identifiers }, records, at, lookups, {
      policyApproval: who ? { proposedBy: who.proposedBy, proposedAt: iso(who.proposedAt), approvedBy: who.approvedBy, approvedAt: iso(who.approvedAt) } : null,
      records: subjectRecords(records, disputes),
      applications: applications.map(toListApplication),
      disputes,
      notices,
    });
  }

  /** The subject's current state, evaluated fresh from its records. */
  async subjectState(subject: Identifier, at: Instant = this.clock.now()): Promise<{ subjectId: SubjectId; state: SubjectState; policy: CompiledPolicy }> {
    await this.start();
    const policy = this.registry.require(at);
    const subjectId = await this.identity.resolve(subject);
    return { subjectId, state: await stateOf(this.store, policy, subjectId, at), policy };
  }

  /** Evaluates one subject from everything stored about it. */
  async stateOf(policy: CompiledPolicy, subjectId: SubjectId, at: Instant): Promise<SubjectState> {
    return stateOf(this.store, policy, subjectId, at);
  }

  // ---------------------------------------------------------------- checks

  /** Synchronous and allocation-light: the in-memory index, which commits and the feed keep current. */
  check(subject: Identifier, context: string, at: Instant = this.clock.now()): CheckResult {
    const policy = this.registry.require(at);
    if (!policy.contexts.has(context)) {
      throw new StandingError("unknown-context", `policy ${policy.ref} has no context "${context}" (contexts: ${[...policy.contexts.keys()].join(", ")})`, { context });
    }
    const d = this.index.check(subject.scheme, subject.value, context, at, policy.ref);
    // Time-ordered ids: the decision log's primary key then grows at its end instead of
    // landing each insert on a random page (measured: a third less CPU per logged row).
    // Written out rather than spread: this runs for every check and every screened identifier.
    return { id: timeOrderedId(), subject, decision: d.decision, context: d.context, reasons: d.reasons, privileges: d.privileges, policy: d.policy, at: d.at };
  }

  /**
   * Writes a batch of logged checks (the decision log's port), compactly: one batch per
   * asker and context, one row per bucket of identifiers, one journal entry for all
   * (src/store/screening-log.ts). A row per check was about 15 % of the server's CPU per HTTP check.
   */
  logDecisions(rows: readonly DecisionLogRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    // A fresh id per write: a retried flush (rows merged with newer ones) is a new batch,
    // never one whose rows an earlier attempt's would shadow.
    return this.store.appendScreenings(checkBatches(rows, timeOrderedId));
  }

  /** Writes a screening's decisions compactly (src/store/screening-log.ts); a subject's statement reads them as it reads checks. */
  logScreening(batch: ScreeningLogBatch): Promise<void> {
    return this.store.appendScreenings([batch]);
  }

  // ---------------------------------------------------------------- keys

  authenticate(header: string | undefined): Promise<Principal> {
    return this.keys.authenticate(header);
  }

  /** `authenticate` without a promise where no store read is needed; undefined when one is. */
  authenticateCached(header: string | undefined): Principal | undefined {
    return this.keys.authenticateCached(header);
  }

  /** Opens a web session for a key that has just signed in; the token goes into the cookie. */
  async openSession(p: Principal & { kind: "key" }, settings?: SessionSettings): Promise<{ token: string; expiresAt: Instant }> {
    await this.start();
    return this.sessions.open(p, settings);
  }

  /** The principal behind a web session's token (anonymous, with why, once it has ended). */
  async sessionPrincipal(token: string, settings?: SessionSettings): Promise<SessionLookup> {
    await this.start();
    return this.sessions.lookup(token, settings);
  }

  /** Signs a web session out. */
  async endSession(token: string): Promise<boolean> {
    await this.start();
    return this.sessions.end(token);
  }

  async createKey(req: NewKeyRequest): Promise<{ key: string; row: KeyRow }> {
    await this.start();
    const now = this.clock.now();
    const policy = this.registry.active(now);
    const out = await this.store.transaction((tx) => createKey(tx, policy, req, now));
    this.keys.forget(out.row.keyId);
    return out;
  }

  /** Several keys in one transaction (the demo's). */
  async createKeys(reqs: readonly NewKeyRequest[]): Promise<{ key: string; row: KeyRow }[]> {
    await this.start();
    const now = this.clock.now();
    const policy = this.registry.active(now);
    return this.store.transaction(async (tx) => {
      const out = [];
      for (const r of reqs) out.push(await createKey(tx, policy, r, now));
      return out;
    });
  }

  async revokeKey(keyId: string): Promise<boolean> {
    const revoked = await this.store.transaction((tx) => revokeKey(tx, keyId, this.clock.now()));
    this.keys.forget(keyId);
    return revoked;
  }

  listKeys(): Promise<KeyRow[]> {
    return this.store.listKeys();
  }

  keyById(keyId: string): Promise<KeyRow | undefined> {
    return this.store.keyById(keyId);
  }

  /** Writes a setting of the store, journaled (the demo marks its store so). */
  async setSetting(key: string, value: string): Promise<void> {
    await this.store.transaction((tx) => tx.setMeta(key, value));
  }

  /** The notice outbox, for delivery (notices/outbox.ts). */
  noticeOutbox(): OutboxPort {
    const store = this.store;
    return {
      due: (now, limit) => store.dueOutbox(now, limit),
      notice: (id) => store.getNotice(id),
      delivered: (id, at) => store.transaction((tx) => tx.markDelivered(id, at)),
      channelsDone: (id) => store.deliveredChannels(id),
      channelDone: (id, channel, at) => store.transaction((tx) => tx.markChannelDelivered(id, channel, at)),
      failed: (id, error, next) => store.transaction((tx) => tx.markFailed(id, error, next)),
      receipt: (n) => this.noticeReceipt(n),
    };
  }

  // ---------------------------------------------------------------- journal

  journalKey(): { algorithm: "Ed25519"; publicKey: string; fingerprint: string } {
    return this.store.journal.publicKey();
  }

  /** The latest signed head, and with `since` the hash the journal now has at that seq (a witness's consistency check). */
  async journalHead(since?: number): Promise<(SignedHead & { since?: { seq: number; hash: string | null } }) | undefined> {
    const head = await this.store.journal.head();
    if (!head || since === undefined) return head;
    return { ...head, since: { seq: since, hash: (await this.store.journal.hashAt(since)) ?? null } };
  }

  /** A notice's receipt: its digest covers the notice as the subject receives it (the stored body). */
  noticeReceipt(n: NoticeRow): Receipt | undefined {
    return this.receipts.document("notice", n.id, n.subjectId, JSON.parse(n.body) as unknown, new Date(n.createdAt).toISOString());
  }

  /** The statement with a receipt over all of it (every field but the receipt itself). */
  async signedStatement(subjectId: SubjectId, at: Instant = this.clock.now()): Promise<Statement & { receipt?: Receipt }> {
    const st = await this.statement(subjectId, at);
    await this.receipts.refresh();
    const receipt = this.receipts.document("statement", `statement:${subjectId}:${st.at}`, subjectId, st, st.at);
    return receipt ? { ...st, receipt } : st;
  }

  /** Replaces the journal key (a journaled event the old key endorses). Stop other writers first. */
  rotateJournalKey(): Promise<{ from: string; to: string; seq: number }> {
    return this.store.journal.rotateKey();
  }

  /** Verifies the journal and replays every stored state, on one snapshot of the store. */
  verifyJournal(options: { publicKey?: string; maxProblems?: number } = {}): Promise<VerifyReport> {
    return this.store.journal.verify({ ...options, replay: this.replayer() });
  }

  /** What `audit verify` replays stored states with: this process's compiled policies. */
  replayer(): Replayer {
    return replayerOf(this.registry);
  }
}

/** A replayer over a policy registry: pure, given the version's text and the stored inputs. */
export function replayerOf(registry: PolicyRegistry = new PolicyRegistry()): Replayer {
  return { replay: (policy, inputs, at) => evaluateStored(registry.compiledText(policy.ref, policy.text, policy.catalogue), inputs, at) };
}
