// Issues signed receipts (journal/receipt.ts) with the store's journal key, naming the
// latest signed head this process knows. Reading the head is a store read, so it is
// not done per receipt: the head is re-read in the background at most once a second,
// and a receipt names the head known when it was issued (never a later one). A check
// is answered from the index, which lags the store by the same order of time, so the
// head named is one the decision was made under, or a slightly older one.
import { canonicalJson } from "./canonical.js";
import { sha256Hex } from "./journal/hash.js";
import { signReceipt, signReceiptBatch, type CheckClaims, type Receipt, type ReceiptClaims, type ReceiptHead, type Signer } from "./journal/receipt.js";
import type { JournalPort } from "./store/types.js";

const REFRESH_MS = 1000;
/** The most receipts one batch signature covers. */
const MAX_BATCH = 256;

export class Receipts {
  private head: ReceiptHead | null = null;
  private readAt = -Infinity;
  private reading: Promise<void> | undefined;
  private signerCache: Signer | null | undefined;
  private pending: { claims: ReceiptClaims; resolve: (r: Receipt) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(private readonly journal: JournalPort) {}

  /** Reads the head now (a server calls it once at start; each receipt refreshes it when stale). */
  async refresh(): Promise<ReceiptHead | null> {
    this.reading ??= this.journal
      .head()
      .then((h) => {
        if (h && (!this.head || h.seq >= this.head.seq)) this.head = { seq: h.seq, hash: h.hash };
        this.readAt = Date.now();
      })
      .catch(() => undefined)
      .finally(() => (this.reading = undefined));
    await this.reading;
    return this.head;
  }

  private currentHead(): ReceiptHead | null {
    if (Date.now() - this.readAt > REFRESH_MS && !this.reading) void this.refresh();
    return this.head;
  }

  /** Whether this store can sign receipts (a read-only store cannot). */
  get available(): boolean {
    return this.signer() !== null;
  }

  private signer(): Signer | null {
    if (this.signerCache === undefined) {
      try {
        this.signerCache = this.journal.signer();
      } catch {
        this.signerCache = null;
      }
    }
    return this.signerCache;
  }

  /** A receipt for a check answer; undefined when the store has no signing key. */
  check(c: Omit<CheckClaims, "type" | "head">): Receipt | undefined {
    const s = this.signer();
    if (!s) return undefined;
    return signReceipt({ type: "check", id: c.id, subject: { scheme: c.subject.scheme, value: c.subject.value }, context: c.context, answer: c.answer, codes: c.codes, policy: c.policy, at: c.at, head: this.currentHead() }, s);
  }

  /**
   * A receipt for a check answer, signed in a batch with every other receipt asked for
   * in the same turn of the event loop (one signature over a Merkle root; each receipt
   * carries its path). Under load many answers share a signature; alone, an answer
   * waits for no one. Undefined when the store has no signing key.
   */
  checkBatched(c: Omit<CheckClaims, "type" | "head">): Promise<Receipt> | undefined {
    if (!this.signer()) return undefined;
    return new Promise<Receipt>((resolve, reject) => this.whenSigned(c, resolve, reject));
  }

  /**
   * The same batch, answered by callback: what the HTTP check uses, so an answer waits
   * on no promise of its own. Returns false (and calls neither) when the store has no
   * signing key.
   */
  whenSigned(c: Omit<CheckClaims, "type" | "head">, resolve: (r: Receipt) => void, reject: (e: unknown) => void): boolean {
    if (!this.signer()) return false;
    const claims: CheckClaims = { type: "check", id: c.id, subject: { scheme: c.subject.scheme, value: c.subject.value }, context: c.context, answer: c.answer, codes: c.codes, policy: c.policy, at: c.at, head: this.currentHead() };
    this.pending.push({ claims, resolve, reject });
    if (this.pending.length >= MAX_BATCH) this.flush();
    else if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  private flush(): void {
    this.flushing = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    try {
      const receipts = signReceiptBatch(
        batch.map((b) => b.claims),
        this.signer() as Signer,
        Date.now(),
      );
      batch.forEach((b, i) => b.resolve(receipts[i] as Receipt));
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }

  /** A receipt for a notice or a statement: its digest is sha256 of the document's canonical JSON. */
  document(type: "notice" | "statement", id: string, subject: number, document: unknown, at: string): Receipt | undefined {
    const s = this.signer();
    if (!s) return undefined;
    return signReceipt({ type, id, subject, digest: sha256Hex(canonicalJson(document)), at, head: this.currentHead() }, s);
  }
}
