// The policy registry: the published versions, compiled once each, and which one is in
// force at an instant. A projection of the store's policies, refreshed when this
// process publishes and when the change feed says another process did.
import { StandingError } from "../errors.js";
import { catalogueOrThrow, defaultCatalogue, type Catalogue } from "../policy/catalogue.js";
import { compilePolicy } from "../policy/compile.js";
import type { CompiledPolicy } from "../policy/types.js";
import type { CatalogueRow, PolicyProposalRow, PolicyRow, StoreReads } from "../store/types.js";
import type { Instant } from "../time.js";

/** Who proposed a published version and who approved it (null: published before approval was required). */
export interface PolicyProvenance {
  readonly proposal: string;
  readonly proposedBy: string;
  readonly proposedAt: Instant;
  readonly approvedBy: string;
  readonly approvedAt: Instant;
}

export class PolicyRegistry {
  private rows: PolicyRow[] = [];
  private proposalRows: PolicyProposalRow[] = [];
  private catalogueRows: CatalogueRow[] = [];
  private readonly compiled = new Map<string, CompiledPolicy>();
  private readonly catalogues = new Map<string, Catalogue>();

  /** Reads the published versions and adopted catalogues again (at start, after a change, on a feed event). */
  async reload(reads: Pick<StoreReads, "policies" | "catalogues">): Promise<void> {
    [this.rows, this.catalogueRows] = await Promise.all([reads.policies(), reads.catalogues()]);
  }

  /** Reads the proposals again (at start, after a proposal or decision here, on a policy event from the feed). */
  async reloadProposals(reads: Pick<StoreReads, "policyProposals">): Promise<void> {
    this.proposalRows = await reads.policyProposals();
  }

  proposals(): readonly PolicyProposalRow[] {
    return this.proposalRows;
  }

  /** Who proposed and who approved a published version. */
  provenance(ref: string): PolicyProvenance | null {
    const p = this.proposalRows.find((r) => r.ref === ref && r.status === "approved");
    return p && p.decidedBy !== null && p.decidedAt !== null ? { proposal: p.id, proposedBy: p.proposedBy, proposedAt: p.proposedAt, approvedBy: p.decidedBy, approvedAt: p.decidedAt } : null;
  }

  /**
   * The catalogue of permitted categories in force at `at`: the last one adopted by then,
   * or the one shipped with Standing. A version is compiled under the catalogue in force
   * when it was published, so adopting a new one never changes a published version.
   */
  catalogueAt(at: number): Catalogue {
    let row: CatalogueRow | undefined;
    for (const c of this.catalogueRows) if (c.adoptedAt <= at) row = c;
    return row ? this.catalogueOf({ version: row.version, text: row.text }) : defaultCatalogue;
  }

  /** The catalogue adopted last (what a new version is compiled under). */
  currentCatalogue(): Catalogue {
    const last = this.catalogueRows[this.catalogueRows.length - 1];
    return last ? this.catalogueOf({ version: last.version, text: last.text }) : defaultCatalogue;
  }

  /** The stored text of the catalogue a compiled version was compiled under (undefined: the shipped one). */
  catalogueTextOf(p: CompiledPolicy): { version: string; text: string } | undefined {
    const row = this.catalogueRows.find((c) => c.version === p.catalogue.version && c.hash === p.catalogue.hash);
    return row ? { version: row.version, text: row.text } : undefined;
  }

  adoptedCatalogues(): readonly CatalogueRow[] {
    return this.catalogueRows;
  }

  private catalogueOf(c: { version: string; text: string }): Catalogue {
    let out = this.catalogues.get(c.version);
    if (!out) {
      // Checked when it was adopted; failing now is a bug or a damaged store.
      out = catalogueOrThrow(c.text, `catalogue ${c.version}`);
      this.catalogues.set(c.version, out);
    }
    return out;
  }

  /**
   * The version in force at `at` as the store has it now, read inside the caller's
   * transaction: a state written there can then never name a version another process
   * has already replaced (its re-evaluation may have passed this subject already).
   */
  async current(tx: Pick<StoreReads, "policies" | "catalogues">, at: Instant): Promise<CompiledPolicy | undefined> {
    await this.reload(tx);
    return this.active(at);
  }

  published(): readonly PolicyRow[] {
    return this.rows;
  }

  /** The version in force at `at`: the latest published whose effective date has come. */
  active(at: Instant): CompiledPolicy | undefined {
    let row: PolicyRow | undefined;
    for (const p of this.rows) if (p.effective <= at) row = p;
    return row ? this.compiledFor(row) : undefined;
  }

  require(at: Instant): CompiledPolicy {
    const p = this.active(at);
    if (!p) throw new StandingError("no-policy", "no policy is in force yet; propose one with `standing policy propose FILE --by AUTHOR` and have someone else approve it with `standing policy approve REF --by APPROVER`");
    return p;
  }

  /** The next version that is published but not yet in force at `at`. */
  pending(at: Instant): PolicyRow | undefined {
    return this.rows.find((p) => p.effective > at);
  }

  byRef(ref: string): CompiledPolicy | undefined {
    const row = this.rows.find((p) => p.ref === ref);
    return row ? this.compiledFor(row) : undefined;
  }

  /** A version's compiled form from its stored text and its catalogue (what a replay uses), cached by ref. */
  compiledText(ref: string, text: string, catalogue?: { version: string; text: string }): CompiledPolicy {
    return this.compile(ref, text, catalogue ? this.catalogueOf(catalogue) : defaultCatalogue);
  }

  remember(p: CompiledPolicy): void {
    this.compiled.set(p.ref, p);
  }

  private compiledFor(row: PolicyRow): CompiledPolicy {
    return this.compile(row.ref, row.text, this.catalogueAt(row.publishedAt));
  }

  /** Compiled once per version, under the catalogue it was published under; failing is a bug or a damaged store. */
  private compile(ref: string, text: string, catalogue: Catalogue): CompiledPolicy {
    let c = this.compiled.get(ref);
    if (!c) {
      const r = compilePolicy(text, ref, catalogue);
      if (!r.ok) throw new Error(`stored policy ${ref} does not compile: ${r.errors[0]?.message}`);
      c = r.policy;
      this.compiled.set(ref, c);
    }
    return c;
  }
}
