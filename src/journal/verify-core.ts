// The pure parts of journal verification, the same for every store: how findings are
// collected and worded, the chain walk, the checkpoint signatures, a record against its
// own body, a policy against its text, a state against its replay. A store's verifier
// reads its rows (SQL of its own engine) and hands them here.
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from "node:crypto";
import { StandingError } from "../errors.js";
import { defaultCatalogue, parseCatalogue } from "../policy/catalogue.js";
import { compilePolicy } from "../policy/compile.js";
import { GENESIS, checkpointPayload, entryHash, headPayload, sha256Hex } from "./hash.js";
import { firstDifference, type Finding, type VerifyReport } from "./report.js";

export function fingerprintOf(publicKey: KeyObject): string {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex");
}

export class Findings {
  readonly problems: Finding[] = [];
  readonly warnings: Finding[] = [];
  omitted = 0;
  constructor(private readonly max: number) {}
  private placed(f: Finding): Finding {
    return f.message.startsWith(f.where) ? f : { ...f, message: `${f.where}: ${f.message}` };
  }
  problem(f: Finding): void {
    if (this.problems.length < this.max) this.problems.push(this.placed(f));
    else this.omitted++;
  }
  warn(f: Finding): void {
    if (this.warnings.length < this.max) this.warnings.push(this.placed(f));
  }
}

export function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === "string" ? v : String(v);
}

export function fmt(v: unknown): string {
  return typeof v === "string" && /^[\w.:@/+-]+$/.test(v) ? v : JSON.stringify(v);
}

export function keyValues(keyJson: string): unknown[] {
  try {
    const k = JSON.parse(keyJson) as unknown;
    return Array.isArray(k) ? k : [k];
  } catch {
    return [keyJson];
  }
}

/** "records seq=3", "identifiers scheme=passport value=E1234567". */
export function describeRow(t: { readonly name: string; readonly key: readonly string[] }, key: readonly unknown[]): string {
  return `${t.name} ${t.key.map((c, i) => `${c}=${fmt(key[i])}`).join(" ")}`;
}

export function iso(ms: unknown): string {
  const n = Number(ms);
  return Number.isFinite(n) ? new Date(n).toISOString() : String(ms);
}

export function short(hash: unknown): string {
  return typeof hash === "string" ? hash.slice(0, 12) : String(hash);
}

export function parsePublicKey(k: string | KeyObject): KeyObject {
  if (typeof k !== "string") return k.type === "private" ? createPublicKey(k) : k;
  const trimmed = k.trim();
  if (trimmed.startsWith("{")) {
    const o = JSON.parse(trimmed) as { publicKey?: unknown };
    if (typeof o.publicKey !== "string") throw new Error("the key JSON has no publicKey");
    return createPublicKey(o.publicKey);
  }
  return createPublicKey(trimmed);
}

export interface EntryRow {
  readonly seq: number;
  readonly kind: string;
  readonly tbl: string | null;
  readonly key: string | null;
  readonly row_hash: string | null;
  readonly data: string | null;
  readonly prev: string;
  readonly hash: string;
}

/** Walks the chain entry by entry (in seq order), naming the first break of each kind. */
export class ChainWalk {
  entries = 0;
  baselines = 0;
  head: { seq: number; hash: string } | null = null;
  private expected = 1;
  private prevHash = GENESIS;
  private prevBroken = false;
  /** The chain's hash at the seqs a checkpoint signs. */
  readonly hashAt = new Map<number, string>();

  constructor(
    private readonly f: Findings,
    private readonly signedSeqs: ReadonlySet<number>,
    private readonly describeEntry: (tbl: string, key: string | null) => string,
  ) {}

  push(e: EntryRow): void {
    const f = this.f;
    this.entries++;
    const seq = Number(e.seq);
    const about = e.tbl !== null ? ` (${e.kind} ${this.describeEntry(e.tbl, e.key)})` : ` (${e.kind})`;
    const where = `journal seq=${seq}`;
    let gap = false;
    if (seq !== this.expected) {
      gap = true;
      const expected = this.expected;
      f.problem({ kind: "chain", where: `journal seq=${Math.min(seq, expected)}`, seq: Math.min(seq, expected), message: seq > expected ? `entr${seq - expected === 1 ? "y" : "ies"} #${expected}${seq - expected > 1 ? `–#${seq - 1}` : ""} missing before entry #${seq}: deleted from the journal` : `entry #${seq} is out of order` });
    }
    if (!gap && !this.prevBroken && e.prev !== this.prevHash) {
      f.problem({ kind: "chain", where, seq, message: `entry #${seq}${about}: its prev (${short(e.prev)}) is not the hash of entry #${seq - 1} (${short(this.prevHash)}): the chain was cut or rewritten here` });
    }
    const computed = entryHash(String(e.prev), { seq, kind: String(e.kind), tbl: text(e.tbl), key: text(e.key), rowHash: text(e.row_hash), data: text(e.data) });
    this.prevBroken = computed !== e.hash;
    if (this.prevBroken) {
      f.problem({ kind: "chain", where, seq, ...(e.tbl ? { table: String(e.tbl), key: keyValues(String(e.key)) } : {}), message: `entry #${seq}${about}: its hash (${short(e.hash)}) is not the hash of its content (${short(computed)}): the entry was changed after it was written` });
    }
    if (this.signedSeqs.has(seq)) this.hashAt.set(seq, String(e.hash));
    if (e.kind === "baseline") this.baselines++;
    this.prevHash = String(e.hash);
    this.expected = seq + 1;
    this.head = { seq, hash: String(e.hash) };
  }
}

export interface CheckpointRowData {
  readonly seq: number;
  readonly head_hash: string;
  readonly at: number;
  readonly signature: string;
  readonly public_key: string;
}

/**
 * Checks every checkpoint's signature and head against the chain walked. Returns the
 * last good one, the key used, and the unsigned tail (reported as the SQLite verifier does).
 */
export function checkCheckpoints(
  f: Findings,
  cps: readonly CheckpointRowData[],
  walk: ChainWalk,
  keys: { readonly pinned?: string | KeyObject; readonly own: KeyObject | null },
  checkpointEvery: number,
): { lastGood: { seq: number; at: number } | null; publicKey: VerifyReport["publicKey"]; unsignedTail: number } {
  let trusted: KeyObject | null = null;
  let publicKeyInfo: VerifyReport["publicKey"] = null;
  try {
    if (keys.pinned !== undefined) {
      trusted = parsePublicKey(keys.pinned);
      publicKeyInfo = { fingerprint: fingerprintOf(trusted), source: "pinned" };
    } else if (keys.own) {
      trusted = keys.own;
      publicKeyInfo = { fingerprint: fingerprintOf(trusted), source: "key-file" };
    }
  } catch (e) {
    f.problem({ kind: "checkpoint", where: "public key", message: `the public key given cannot be read: ${(e as Error).message}` });
  }
  if (!trusted && keys.pinned === undefined && cps.length > 0) {
    f.warn({ kind: "key", where: "journal key", message: "no journal key file and no --public-key: signatures were checked against the key each checkpoint carries, which proves nothing against someone who can write the database; pin the published key (GET /v1/journal/key) with --public-key" });
    publicKeyInfo = null;
  }
  let lastGood: { seq: number; at: number } | null = null;
  const head = walk.head;
  let prevHead = 0;
  for (const c of cps) {
    const seq = Number(c.seq);
    const where = `journal_checkpoints seq=${seq}`;
    let key: KeyObject;
    try {
      const own = createPublicKey(String(c.public_key));
      if (trusted && fingerprintOf(own) !== fingerprintOf(trusted)) {
        f.problem({ kind: "checkpoint", where, seq, message: `checkpoint #${seq} carries key ${fingerprintOf(own).slice(0, 16)}…, not the journal key ${fingerprintOf(trusted).slice(0, 16)}…: it was signed by someone else` });
      }
      key = trusted ?? own;
      if (!publicKeyInfo && !trusted) publicKeyInfo = { fingerprint: fingerprintOf(own), source: "database" };
    } catch {
      if (!trusted) {
        f.problem({ kind: "checkpoint", where, seq, message: `checkpoint #${seq}: its public key cannot be read` });
        continue;
      }
      key = trusted;
    }
    // A head signs the seq of the head before it (headPayload), so one removed from
    // between two others breaks the next; a checkpoint signed before heads were chained
    // signed only itself, and is read with a warning.
    const prevSeq = prevHead;
    prevHead = seq;
    const signed = (payload: string): boolean => {
      try {
        return verifySignature(null, Buffer.from(payload, "utf8"), key, Buffer.from(String(c.signature), "base64"));
      } catch {
        return false;
      }
    };
    let sigOk = signed(headPayload(seq, String(c.head_hash), Number(c.at), prevSeq));
    if (!sigOk && signed(checkpointPayload(seq, String(c.head_hash), Number(c.at)))) {
      sigOk = true;
      f.warn({ kind: "checkpoint", where, message: `checkpoint #${seq} was signed before signed heads named the head before them: a head removed just before it would not show` });
    }
    if (!sigOk) {
      f.problem({ kind: "checkpoint", where, seq, message: `checkpoint #${seq} (${iso(c.at)}): the signature does not verify against the journal key: the checkpoint was forged or altered` });
      continue;
    }
    const actual = walk.hashAt.get(seq);
    if (actual === undefined) {
      f.problem({ kind: "chain", where: `journal seq=${seq}`, seq, message: head && seq > head.seq ? `the journal ends at entry #${head.seq}, but checkpoint #${seq} signed ${seq - head.seq} more: entries were removed from the end of the journal` : `entry #${seq}, signed by a checkpoint, is missing` });
      continue;
    }
    if (actual !== c.head_hash) {
      f.problem({ kind: "chain", where: `journal seq=${seq}`, seq, message: `entry #${seq} has hash ${short(actual)}, but checkpoint #${seq} signed ${short(c.head_hash)}: the journal up to #${seq} was rewritten after it was signed` });
      continue;
    }
    if (!lastGood || seq > lastGood.seq) lastGood = { seq, at: Number(c.at) };
  }
  const unsignedTail = head ? head.seq - (lastGood?.seq ?? 0) : 0;
  if (unsignedTail >= checkpointEvery) {
    f.problem({
      kind: "checkpoint",
      where: `journal seq=${(lastGood?.seq ?? 0) + 1}`,
      seq: (lastGood?.seq ?? 0) + 1,
      message: `${unsignedTail} entries follow the last good checkpoint (#${lastGood?.seq ?? 0}), but one is signed every ${checkpointEvery}: checkpoints were removed, and nothing after #${lastGood?.seq ?? 0} can be trusted`,
    });
  } else if (unsignedTail > 0) {
    f.warn({ kind: "unsigned-tail", where: `journal seq=${(lastGood?.seq ?? 0) + 1}`, message: `${unsignedTail} entr${unsignedTail === 1 ? "y" : "ies"} after the last good checkpoint (#${lastGood?.seq ?? 0}) are chained but not signed yet: someone able to write the database could still rewrite or cut them undetected` });
  }
  if (walk.baselines > 0) {
    f.warn({ kind: "baseline", where: "journal", message: `${walk.baselines} row(s) were journaled as a baseline when the journal started on a database that already held them: their history before that is not covered` });
  }
  return { lastGood, publicKey: publicKeyInfo, unsignedTail };
}

/** A stored record row with the subject its body's identifier resolves to (undefined: not checked). */
export interface RecordCheckRow {
  readonly seq: number;
  readonly source: string;
  readonly record_id: string;
  readonly subject_id: number;
  readonly occurred_at: number;
  readonly retracts: string | null;
  readonly body: string;
  readonly hash: string;
  readonly resolve?: (scheme: string, value: string) => number | null;
}

/** A record must hash to its stored hash and agree with its own body. */
export function checkRecord(f: Findings, r: RecordCheckRow): void {
  const where = `records seq=${String(r.seq)} (${fmt(r.source)}/${fmt(r.record_id)})`;
  const base = { kind: "record", where, table: "records", key: [r.seq] };
  if (typeof r.body !== "string" || sha256Hex(r.body) !== r.hash) {
    f.problem({ ...base, message: `${where}: the body does not hash to the record's stored hash: the record was altered after it was received` });
    return;
  }
  let b: { source?: unknown; id?: unknown; occurredAt?: unknown; retracts?: unknown; subject?: { scheme?: unknown; value?: unknown } };
  try {
    b = JSON.parse(r.body) as typeof b;
  } catch {
    f.problem({ ...base, message: `${where}: the body is not valid JSON` });
    return;
  }
  const wrong: string[] = [];
  if (b.source !== r.source) wrong.push(`source (body ${fmt(b.source)}, row ${fmt(r.source)})`);
  if (b.id !== r.record_id) wrong.push(`id (body ${fmt(b.id)}, row ${fmt(r.record_id)})`);
  if (typeof b.occurredAt !== "string" || Date.parse(b.occurredAt) !== Number(r.occurred_at)) wrong.push(`occurredAt (body ${fmt(b.occurredAt)}, row ${iso(r.occurred_at)})`);
  if ((b.retracts ?? null) !== (r.retracts ?? null)) wrong.push(`retracts (body ${fmt(b.retracts ?? null)}, row ${fmt(r.retracts ?? null)})`);
  const scheme = b.subject?.scheme;
  const value = b.subject?.value;
  if (r.resolve && typeof scheme === "string" && typeof value === "string") {
    const resolved = r.resolve(scheme, value);
    if (resolved !== Number(r.subject_id)) {
      wrong.push(`subject (the body names ${fmt(scheme)}:${fmt(value)}, ${resolved === null ? "which is linked to no subject" : `which is subject #${String(resolved)}`}, but the record is filed under subject #${String(r.subject_id)})`);
    }
  }
  if (wrong.length > 0) f.problem({ ...base, message: `${where}: the row disagrees with the record as submitted: ${wrong.join("; ")}` });
}

export function checkQuarantined(f: Findings, r: { seq: number; source: string; record_id: string; body: string; hash: string }): void {
  const where = `quarantine seq=${String(r.seq)} (${fmt(r.source)}/${fmt(r.record_id)})`;
  const base = { kind: "record", where, table: "quarantine", key: [r.seq] };
  if (typeof r.body !== "string" || sha256Hex(r.body) !== r.hash) {
    f.problem({ ...base, message: `${where}: the body does not hash to the record's stored hash: the record was altered after it was received` });
    return;
  }
  let b: { source?: unknown; id?: unknown } = {};
  try {
    b = JSON.parse(r.body) as typeof b;
  } catch {
    // reported below as a disagreement
  }
  if (b.source !== r.source || b.id !== r.record_id) f.problem({ ...base, message: `${where}: the row's source/id disagree with the record as submitted` });
}

export interface PolicyCheckRow {
  readonly seq: number;
  readonly ref: string;
  readonly text: string;
  readonly hash: string;
  readonly effective: number;
  readonly published_at: number;
}

export interface CatalogueVersion {
  readonly version: string;
  readonly text: string;
  readonly adopted_at: number;
}

/** The adopted catalogue in force at an instant (undefined: the one shipped with Standing). */
export function catalogueAt(adopted: readonly CatalogueVersion[]): (at: number) => { version: string; text: string } | undefined {
  return (at) => {
    let c: { version: string; text: string } | undefined;
    for (const a of adopted) if (Number(a.adopted_at) <= at) c = { version: a.version, text: a.text };
    return c;
  };
}

/** A published policy must still compile to the version, hash and effective date it was published with. */
export function checkPolicy(f: Findings, p: PolicyCheckRow, catalogueFor: (at: number) => { version: string; text: string } | undefined, bad: Set<string>): void {
  const ref = String(p.ref);
  const where = `policies seq=${String(p.seq)} (${ref})`;
  const base = { kind: "policy", where, table: "policies", key: [p.seq] };
  const adopted = catalogueFor(Number(p.published_at));
  let catalogue = defaultCatalogue;
  if (adopted) {
    const parsed = parseCatalogue(adopted.text, `catalogue ${adopted.version}`);
    if (!parsed.ok) {
      bad.add(ref);
      f.problem({ ...base, message: `${where}: the catalogue it was published under (${adopted.version}) no longer parses: it was altered after adoption` });
      return;
    }
    catalogue = parsed.catalogue;
  }
  const r = compilePolicy(String(p.text), ref, catalogue);
  if (!r.ok) {
    bad.add(ref);
    f.problem({ ...base, message: `${where}: the stored policy text no longer compiles (${r.errors[0]?.message ?? "error"}): it was altered after publication` });
    return;
  }
  const wrong: string[] = [];
  if (r.policy.hash !== p.hash) wrong.push("its text does not hash to the published hash");
  if (r.policy.ref !== ref) wrong.push(`its text says ${r.policy.ref}`);
  if (r.policy.effective !== Number(p.effective)) wrong.push(`its text takes effect ${iso(r.policy.effective)}, the row says ${iso(p.effective)}`);
  if (wrong.length > 0) {
    bad.add(ref);
    f.problem({ ...base, message: `${where}: ${wrong.join("; ")}: the policy was altered after publication` });
  }
}

export interface StateCheckRow {
  readonly subject_id: number;
  readonly policy_ref: string;
  readonly evaluated_at: number;
  readonly next_change_at: number | null;
  readonly has_measures: number;
  readonly state: string;
}

/**
 * One stored state against its replay: the version it names must have been the one in
 * force, and the replay (computed by `replay`, which may throw) must equal it.
 * Returns false when the state was not replayed because its policy is damaged.
 */
export function checkState(
  f: Findings,
  s: StateCheckRow,
  inForceAt: (t: number) => string | null,
  badPolicies: ReadonlySet<string>,
  replay: () => unknown,
): boolean {
  const subject = Number(s.subject_id);
  const where = `subject #${subject} (states subject_id=${subject})`;
  const base = { kind: "replay", where, table: "states", key: [subject], subject };
  const ref = String(s.policy_ref);
  const inForce = inForceAt(Number(s.evaluated_at));
  if (inForce !== null && inForce !== ref) {
    f.problem({ ...base, message: `the state was evaluated at ${iso(s.evaluated_at)} under ${ref}, but ${inForce} was in force then (a re-evaluation that did not finish: run \`standing tick\` to complete it)` });
  }
  let stored: unknown;
  try {
    stored = JSON.parse(String(s.state));
  } catch {
    f.problem({ ...base, message: `the stored state is not valid JSON` });
    return true;
  }
  if (badPolicies.has(ref)) return false;
  let replayed: unknown;
  try {
    replayed = JSON.parse(JSON.stringify(replay()));
  } catch (e) {
    f.problem({ ...base, message: `the state cannot be replayed under ${ref} at ${iso(s.evaluated_at)}: ${(e as Error).message}` });
    return true;
  }
  const diff = firstDifference(stored, replayed);
  if (diff) {
    f.problem({ ...base, message: `the stored state differs from its replay under ${ref} at ${iso(s.evaluated_at)}: ${diff}` });
    return true;
  }
  const r = replayed as { nextChangeAt?: unknown; measures?: unknown };
  if (typeof r.nextChangeAt === "string" || r.nextChangeAt === null) {
    const expect = r.nextChangeAt === null ? null : Date.parse(r.nextChangeAt);
    if ((s.next_change_at ?? null) !== expect) f.problem({ ...base, message: `next_change_at is ${s.next_change_at === null ? "null" : iso(s.next_change_at)}, the state says ${String(r.nextChangeAt)}` });
  }
  if (Array.isArray(r.measures) && Number(s.has_measures) !== (r.measures.length > 0 ? 1 : 0)) {
    f.problem({ ...base, message: `has_measures is ${String(s.has_measures)}, but the state has ${r.measures.length} measure(s)` });
  }
  return true;
}

/** Raised by a replay that names a version nobody published. */
export function noSuchPolicy(ref: string): StandingError {
  return new StandingError("not-found", `no published policy ${ref}`, { policy: ref });
}
