// The policy registry: the published versions, compiled once each, and which one is in
// force at an instant. A projection of the store's policies, refreshed when this
// process publishes and when the change feed says another process did.
import { StandingError } from "../errors.js";
import { compilePolicy } from "../policy/compile.js";
import type { CompiledPolicy } from "../policy/types.js";
import type { PolicyRow, StoreReads } from "../store/types.js";
import type { Instant } from "../time.js";

export class PolicyRegistry {
  private rows: PolicyRow[] = [];
  private readonly compiled = new Map<string, CompiledPolicy>();

  /** Reads the published versions again (at start, after a publish, on a feed event). */
  async reload(reads: Pick<StoreReads, "policies">): Promise<void> {
    this.rows = await reads.policies();
  }

  /**
   * The version in force at `at` as the store has it now, read inside the caller's
   * transaction: a state written there can then never name a version another process
   * has already replaced (its re-evaluation may have passed this subject already).
   */
  async current(tx: Pick<StoreReads, "policies">, at: Instant): Promise<CompiledPolicy | undefined> {
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
    if (!p) throw new StandingError("no-policy", "no policy is in force yet; publish one with `standing policy publish FILE`");
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

  /** A version's compiled form from its stored text (what a replay uses), cached by ref. */
  compiledText(ref: string, text: string): CompiledPolicy {
    let c = this.compiled.get(ref);
    if (!c) {
      const r = compilePolicy(text, ref);
      if (!r.ok) throw new Error(`stored policy ${ref} does not compile: ${r.errors[0]?.message}`);
      c = r.policy;
      this.compiled.set(ref, c);
    }
    return c;
  }

  remember(p: CompiledPolicy): void {
    this.compiled.set(p.ref, p);
  }

  private compiledFor(row: PolicyRow): CompiledPolicy {
    // A stored version compiled when it was published; failing now is a bug.
    return this.compiledText(row.ref, row.text);
  }
}
