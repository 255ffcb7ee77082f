// The decision index: identifier -> precomputed, time-bounded measures. Only
// subjects with a measure are in it; absence means allow. A check is a hash lookup
// and a few comparisons: no SQL and no policy evaluation.
//
// Layout, and why. At a million subjects and more, a check costs what it misses in
// cache and TLB (on a VM with nested paging a miss walks two levels of page tables),
// not what it computes. Nested Maps of arrays of measure objects touched ~5 scattered
// cache lines per hit and cost ~590 B of V8 heap per subject. Here everything lives in
// typed arrays, off the V8 heap and invisible to the garbage collector:
//
//   slots  open addressing, linear probing, 2 words a slot: [32-bit key hash, key
//          record offset]; 0 = empty. Deletion shifts back (no tombstones).
//   arena  one block per subject, contiguous:
//            [m, k]  then m × [since, until] (float64)  then m kind ids
//            then k key records: [block offset, hash, scheme id << 1 | in-table, length,
//            UTF-16 code units, two per word]
//   filter two bits per key in one 32-bit word, 8 bits per slot (2 MiB at a million
//          keys, small enough to stay in cache), in front of the slots.
// So a hit reads one filter word, one slot line and one block (usually one or two
// lines), and most absent identifiers (most checks in practice) read only the filter.
//
// A measure's strings (measure, context, effect, code, basis) take a handful of
// distinct values per policy: they are interned once as a "kind", and a measure in the
// arena is (kind id, since, until). Key equality is exact: the stored code units are
// compared whenever the 32-bit hash matches, so a collision costs time, never an answer.
//
// `denies()` allocates nothing; `check()` allocates only the decision it returns (and,
// the first time an `until` is seen, its ISO text, which is part of that decision).
import { decisionOf, type TimedMeasure } from "./decide.js";
import type { Decision, MeasureState, Reason } from "./types.js";
import { isoUtc, type Instant } from "../time.js";

export interface IndexIdentifier {
  readonly scheme: string;
  readonly value: string;
}

/** For tests only. */
export interface DecisionIndexOptions {
  /**
   * ANDed into every key hash. A small mask (0, 1, 3) makes most keys collide, which
   * exercises probing, backward-shift deletion and the exact key comparison.
   */
  readonly hashMask?: number;
  /** Free arena words tolerated beyond the live ones before compacting (default 65,536). */
  readonly compactSlack?: number;
}

/** What `DecisionIndex.image()` copies out: see there. */
export interface IndexImage {
  readonly meta: {
    readonly top: number;
    readonly liveWords: number;
    readonly freeWords: number;
    readonly freeBySize: readonly (readonly [number, number])[];
    readonly mask: number;
    readonly used: number;
    readonly filterShift: number;
    readonly stale: number;
    readonly hashMask: number;
    readonly schemes: readonly string[];
    readonly contexts: readonly string[];
    readonly kinds: readonly Kind[];
  };
  readonly words: Int32Array;
  readonly slots: Int32Array;
  readonly filter: Int32Array;
  readonly subjects: Float64Array;
  readonly blocks: Int32Array;
}

interface Kind {
  readonly measure: string;
  readonly context: string;
  readonly effect: "deny" | "privilege";
  readonly code: string;
  readonly basis: string | null;
}

const none: readonly TimedMeasure[] = [];
type Privilege = Decision["privileges"][number];
// Shared by every decision that has none: a decision's lists are never changed once made.
const noReasons: Reason[] = Object.freeze([]) as unknown as Reason[];
const noPrivileges: Privilege[] = Object.freeze([]) as unknown as Privilege[];
const GRANT_BITS = 12;
const GRANT_CACHE = 1 << GRANT_BITS;

// Above this the table doubles. Linear probing stays short up to ~0.75, and eight
// slots share a cache line, so a longer probe rarely costs another line.
const MAX_LOAD = 0.75;
const MIN_SLOTS = 16;
const MIN_WORDS = 1024;

/** FNV-1a over UTF-16 code units, seeded by the scheme, then a murmur3 finaliser so the low bits (the home slot) are well mixed. */
function hashKey(scheme: number, value: string): number {
  let h = Math.imul(scheme + 1, 0x9e3779b1) ^ value.length;
  for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

// `until` texts, direct-mapped by instant: far fewer distinct ends than measures are
// checked, and a fixed-size cache keeps memory bounded however many there are.
const UNTIL_CACHE = 4096;
const untilKeys = new Float64Array(UNTIL_CACHE).fill(NaN);
const untilTexts: string[] = new Array<string>(UNTIL_CACHE).fill("");
function untilIso(until: number): string | null {
  if (!Number.isFinite(until)) return null;
  const i = Math.imul((until / 1000) | 0, 0x9e3779b1) >>> 20;
  if (untilKeys[i] === until) return untilTexts[i] as string;
  const s = isoUtc(until);
  untilKeys[i] = until;
  untilTexts[i] = s;
  return s;
}

export class DecisionIndex {
  // The arena, three views of one buffer: int32 words, float64 (word / 2), uint16 (word * 2).
  private words = new Int32Array(MIN_WORDS);
  private times = new Float64Array(this.words.buffer);
  private units = new Uint16Array(this.words.buffer);
  private top = 2; // words 0 and 1 are never a block, so offset 0 can mean "none"
  private liveWords = 0;
  private freeWords = 0;
  private readonly freeBySize = new Map<number, number>(); // block size -> first free block; a free block's word 0 links the next

  private slots = new Int32Array(2 * MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  private used = 0;
  // The membership filter (see the top of the file). Removal leaves bits behind; the
  // filter is rebuilt when removals since the last build outnumber the keys. Its size
  // follows the slots (at least 4 words: a shift by 32 would be a shift by 0).
  private filter = new Int32Array(MIN_SLOTS / 4);
  private filterShift = 32 - Math.log2(MIN_SLOTS / 4);
  private stale = 0;

  private readonly blockOf = new Map<number, number>(); // subject id -> block offset
  private readonly schemeIds = new Map<string, number>();
  private readonly contextIds = new Map<string, number>();
  private readonly kinds: Kind[] = [];
  private readonly kindsByMeasure = new Map<string, number[]>();
  private kindContext = new Int32Array(16); // kind -> context id
  private kindDenyContext = new Int32Array(16); // kind -> context id when it denies, else -1
  private readonly hashMask: number;
  // One-entry caches: consecutive checks mostly name the same scheme and context, and
  // comparing a string with the last one is cheaper than a Map lookup.
  private lastScheme: string | undefined = undefined;
  private lastSchemeId = -1;
  private lastContext: string | undefined = undefined;
  private lastContextId = -1;
  private readonly compactSlack: number;

  constructor(options: DecisionIndexOptions = {}) {
    this.hashMask = options.hashMask ?? -1;
    this.compactSlack = options.compactSlack ?? MIN_WORDS * 64;
  }

  /** Replaces what the index holds for one subject. */
  put(subjectId: number, identifiers: readonly IndexIdentifier[], measures: readonly MeasureState[]): void {
    this.remove(subjectId);
    if (measures.length === 0) return;
    const m = measures.length;
    const k = identifiers.length;
    let size = 2 + 5 * m;
    for (let j = 0; j < k; j++) size += 4 + (((identifiers[j] as IndexIdentifier).value.length + 1) >> 1);
    size += size & 1; // float64 alignment of the next block
    const kindIds = new Int32Array(m);
    for (let j = 0; j < m; j++) kindIds[j] = this.kindOf(measures[j] as MeasureState);
    const schemes = new Int32Array(k);
    for (let j = 0; j < k; j++) schemes[j] = this.schemeOf((identifiers[j] as IndexIdentifier).scheme);

    const b = this.alloc(size);
    const I = this.words;
    const F = this.times;
    const U = this.units;
    I[b] = m;
    I[b + 1] = k;
    for (let j = 0; j < m; j++) {
      const s = measures[j] as MeasureState;
      F[(b >> 1) + 1 + 2 * j] = s.since === null ? -Infinity : Date.parse(s.since);
      F[(b >> 1) + 2 + 2 * j] = s.until === null ? Infinity : Date.parse(s.until);
      I[b + 2 + 4 * m + j] = kindIds[j] as number;
    }
    let p = b + 2 + 5 * m;
    for (let j = 0; j < k; j++) {
      const value = (identifiers[j] as IndexIdentifier).value;
      const sid = schemes[j] as number;
      const h = hashKey(sid, value) & this.hashMask;
      I[p] = b;
      I[p + 1] = h;
      I[p + 2] = sid << 1;
      I[p + 3] = value.length;
      const u = (p + 4) << 1;
      for (let c = 0; c < value.length; c++) U[u + c] = value.charCodeAt(c);
      this.link(p);
      p += 4 + ((value.length + 1) >> 1);
    }
    this.blockOf.set(subjectId, b);
  }

  remove(subjectId: number): void {
    const b = this.blockOf.get(subjectId);
    if (b === undefined) return;
    this.blockOf.delete(subjectId);
    const I = this.words;
    const m = I[b] as number;
    const k = I[b + 1] as number;
    let p = b + 2 + 5 * m;
    for (let j = 0; j < k; j++) {
      if ((I[p + 2] as number) & 1) {
        this.unlinkSlot(this.slotPointingTo(p));
      } else {
        // Another put took this identifier over since; removing this subject still
        // removes the identifier, whoever holds it now (as the Map-based index did).
        const i = this.slotMatching(p);
        if (i >= 0) {
          const q = this.slots[2 * i + 1] as number;
          I[q + 2] = (I[q + 2] as number) & ~1;
          this.unlinkSlot(i);
        }
      }
      p += 4 + (((I[p + 3] as number) + 1) >> 1);
    }
    const size = p - b + ((p - b) & 1);
    this.release(b, size);
  }

  measuresFor(scheme: string, value: string): readonly TimedMeasure[] {
    const p = this.find(scheme, value);
    if (p === 0) return none;
    const I = this.words;
    const F = this.times;
    const b = I[p] as number;
    const m = I[b] as number;
    const out: TimedMeasure[] = [];
    for (let j = 0; j < m; j++) {
      const kind = this.kinds[I[b + 2 + 4 * m + j] as number] as Kind;
      out.push({
        measure: kind.measure,
        context: kind.context,
        effect: kind.effect,
        code: kind.code,
        basis: kind.basis,
        since: F[(b >> 1) + 1 + 2 * j] as number,
        until: F[(b >> 1) + 2 + 2 * j] as number,
      });
    }
    return out;
  }

  /** The same decision `decide(measuresFor(...), ...)` gives, read straight from the arena. */
  check(scheme: string, value: string, context: string, at: Instant, policy: string): Decision {
    const p = this.find(scheme, value);
    if (p === 0) return decisionOf(context, noReasons, noPrivileges, policy, at);
    const ctx = this.contextId(context);
    if (ctx < 0) return decisionOf(context, noReasons, noPrivileges, policy, at);
    let reasons: Reason[] | undefined;
    let privileges: Privilege[] | undefined;
    const I = this.words;
    const F = this.times;
    const b = I[p] as number;
    const m = I[b] as number;
    const kindBase = b + 2 + 4 * m;
    for (let j = 0, t = (b >> 1) + 1; j < m; j++, t += 2) {
      const kind = I[kindBase + j] as number;
      // The same comparisons as decide(), so NaN instants behave the same way.
      if (this.kindContext[kind] !== ctx || (F[t] as number) > at || at >= (F[t + 1] as number)) continue;
      const until = F[t + 1] as number;
      if (this.kindDenyContext[kind] === ctx) (reasons ??= []).push(this.reasonOf(kind, until));
      else (privileges ??= []).push(this.privilegeOf(kind, until));
    }
    return decisionOf(context, reasons ?? noReasons, privileges ?? noPrivileges, policy, at);
  }

  // A reason or privilege is the same frozen object for the same measure kind and end,
  // direct-mapped like the `until` texts: a decision allocates only itself and its list.
  private readonly grantKeys = new Float64Array(GRANT_CACHE).fill(NaN);
  private readonly grantKinds = new Int32Array(GRANT_CACHE).fill(-1);
  private readonly grants: (Reason | Privilege | undefined)[] = new Array<Reason | Privilege | undefined>(GRANT_CACHE).fill(undefined);

  private grantSlot(kind: number, until: number): number {
    const u = Number.isFinite(until) ? (until / 1000) | 0 : 0x7fffffff;
    return Math.imul(u ^ Math.imul(kind + 1, 0x27d4eb2d), 0x9e3779b1) >>> (32 - GRANT_BITS);
  }

  private reasonOf(kind: number, until: number): Reason {
    const i = this.grantSlot(kind, until);
    if (this.grantKinds[i] === kind && Object.is(this.grantKeys[i], until)) return this.grants[i] as Reason;
    const d = this.kinds[kind] as Kind;
    const r: Reason = Object.freeze({ code: d.code, measure: d.measure, basis: d.basis, until: untilIso(until) });
    this.remember(i, kind, until, r);
    return r;
  }

  private privilegeOf(kind: number, until: number): Privilege {
    const i = this.grantSlot(kind, until);
    if (this.grantKinds[i] === kind && Object.is(this.grantKeys[i], until)) return this.grants[i] as Privilege;
    const d = this.kinds[kind] as Kind;
    const r: Privilege = Object.freeze({ code: d.code, measure: d.measure, until: untilIso(until) });
    this.remember(i, kind, until, r);
    return r;
  }

  private remember(i: number, kind: number, until: number, grant: Reason | Privilege): void {
    this.grantKeys[i] = until;
    this.grantKinds[i] = kind;
    this.grants[i] = grant;
  }

  /** Deny-only fast path: true when an active deny measure applies. Allocates nothing. */
  denies(scheme: string, value: string, context: string, at: Instant): boolean {
    const p = this.find(scheme, value);
    if (p === 0) return false;
    const ctx = this.contextId(context);
    if (ctx < 0) return false;
    const I = this.words;
    const F = this.times;
    const D = this.kindDenyContext;
    const b = I[p] as number;
    const m = I[b] as number;
    const kindBase = b + 2 + 4 * m;
    for (let j = 0, t = (b >> 1) + 1; j < m; j++, t += 2) {
      if (D[I[kindBase + j] as number] === ctx && (F[t] as number) <= at && at < (F[t + 1] as number)) return true;
    }
    return false;
  }

  get subjects(): number {
    return this.blockOf.size;
  }

  // ------------------------------------------------------------------ image

  /**
   * Everything the index holds, copied: typed arrays and the interned strings. A checkpoint
   * keeps it on disk (src/index-snapshot.ts) and starts from it instead of reading every
   * state; `DecisionIndex.fromImage` gives back an index that answers, and changes, exactly
   * as this one.
   */
  image(): IndexImage {
    const subjects = new Float64Array(this.blockOf.size);
    const blocks = new Int32Array(this.blockOf.size);
    let i = 0;
    for (const [subject, b] of this.blockOf) {
      subjects[i] = subject;
      blocks[i++] = b;
    }
    return {
      meta: {
        top: this.top,
        liveWords: this.liveWords,
        freeWords: this.freeWords,
        freeBySize: [...this.freeBySize],
        mask: this.mask,
        used: this.used,
        filterShift: this.filterShift,
        stale: this.stale,
        hashMask: this.hashMask,
        schemes: [...this.schemeIds.keys()],
        contexts: [...this.contextIds.keys()],
        kinds: this.kinds.map((k) => ({ ...k })),
      },
      words: this.words.slice(0, this.top),
      slots: this.slots.slice(),
      filter: this.filter.slice(),
      subjects,
      blocks,
    };
  }

  /** The index an image was taken of. Throws on an image that does not hold together. */
  static fromImage(img: IndexImage, options: Omit<DecisionIndexOptions, "hashMask"> = {}): DecisionIndex {
    const m = img.meta;
    const fail = (what: string): never => {
      throw new Error(`decision index image: ${what}`);
    };
    const slotCount = m.mask + 1;
    if (!Number.isInteger(m.top) || m.top < 2 || img.words.length !== m.top) fail("arena length");
    if (slotCount < MIN_SLOTS || (slotCount & m.mask) !== 0 || img.slots.length !== 2 * slotCount) fail("slot table size");
    if (img.filter.length !== slotCount / 4 || m.filterShift !== 32 - Math.log2(slotCount / 4)) fail("filter size");
    if (img.subjects.length !== img.blocks.length) fail("subject list");
    const index = new DecisionIndex({ ...options, hashMask: m.hashMask });
    let n = MIN_WORDS;
    while (n < m.top) n = Math.ceil((n * 1.5) / 2) * 2;
    const words = new Int32Array(n);
    words.set(img.words);
    index.setArena(words, 0);
    index.top = m.top;
    index.liveWords = m.liveWords;
    index.freeWords = m.freeWords;
    for (const [size, head] of m.freeBySize) index.freeBySize.set(size, head);
    index.slots = Int32Array.from(img.slots);
    index.mask = m.mask;
    index.used = m.used;
    index.filter = Int32Array.from(img.filter);
    index.filterShift = m.filterShift;
    index.stale = m.stale;
    for (let i = 0; i < img.subjects.length; i++) {
      const b = img.blocks[i] as number;
      if (b < 2 || b >= m.top) fail("a block outside the arena");
      index.blockOf.set(img.subjects[i] as number, b);
    }
    for (const scheme of m.schemes) index.schemeOf(scheme);
    for (const context of m.contexts) if (!index.contextIds.has(context)) index.contextIds.set(context, index.contextIds.size);
    // Kinds are interned in image order, so each gets the id the arena refers to.
    m.kinds.forEach((k, i) => {
      if (index.kindOf({ ...k, status: "active", since: null, until: null, lists: [] }) !== i) fail("a kind named twice");
    });
    if (index.schemeIds.size !== m.schemes.length || index.contextIds.size !== m.contexts.length) fail("a scheme or context named twice");
    return index;
  }

  // ------------------------------------------------------------------ lookup

  /** The offset of the key record for (scheme, value), or 0. */
  private find(scheme: string, value: string): number {
    let sid = this.lastSchemeId;
    if (scheme !== this.lastScheme) {
      sid = this.schemeIds.get(scheme) ?? -1;
      this.lastScheme = scheme;
      this.lastSchemeId = sid;
    }
    if (sid < 0) return 0;
    const h = hashKey(sid, value) & this.hashMask;
    const bits = (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
    if (((this.filter[h >>> this.filterShift] as number) & bits) !== bits) return 0;
    const S = this.slots;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const p = S[2 * i + 1] as number;
      if (p === 0) return 0;
      if (S[2 * i] === h && this.keyIs(p, sid, value)) return p;
    }
  }

  private contextId(context: string): number {
    if (context !== this.lastContext) {
      this.lastContextId = this.contextIds.get(context) ?? -1;
      this.lastContext = context;
    }
    return this.lastContextId;
  }

  private keyIs(p: number, sid: number, value: string): boolean {
    const I = this.words;
    if ((I[p + 2] as number) >> 1 !== sid || I[p + 3] !== value.length) return false;
    const U = this.units;
    const u = (p + 4) << 1;
    for (let c = 0; c < value.length; c++) if (U[u + c] !== value.charCodeAt(c)) return false;
    return true;
  }

  private sameKey(p: number, q: number): boolean {
    const I = this.words;
    if (I[p + 1] !== I[q + 1] || (I[p + 2] as number) >> 1 !== (I[q + 2] as number) >> 1 || I[p + 3] !== I[q + 3]) return false;
    const U = this.units;
    const n = I[p + 3] as number;
    const a = (p + 4) << 1;
    const c = (q + 4) << 1;
    for (let x = 0; x < n; x++) if (U[a + x] !== U[c + x]) return false;
    return true;
  }

  // ------------------------------------------------------------------ slots

  /** Points the table at key record p: it takes over the identifier if another record held it. */
  private link(p: number): void {
    if ((this.used + 1) > MAX_LOAD * (this.mask + 1)) this.resizeSlots(2 * (this.mask + 1));
    const I = this.words;
    const S = this.slots;
    const mask = this.mask;
    const h = I[p + 1] as number;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const q = S[2 * i + 1] as number;
      if (q === 0) break;
      if (S[2 * i] === h && this.sameKey(p, q)) {
        I[q + 2] = (I[q + 2] as number) & ~1;
        S[2 * i + 1] = p;
        I[p + 2] = (I[p + 2] as number) | 1;
        return;
      }
    }
    S[2 * i] = h;
    S[2 * i + 1] = p;
    I[p + 2] = (I[p + 2] as number) | 1;
    this.used++;
    this.addToFilter(h);
  }

  private addToFilter(h: number): void {
    const w = h >>> this.filterShift;
    this.filter[w] = (this.filter[w] as number) | (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
  }

  private rebuildFilter(): void {
    const words = (this.mask + 1) / 4;
    this.filter = new Int32Array(words);
    this.filterShift = 32 - Math.log2(words);
    const S = this.slots;
    for (let o = 0; o < S.length; o += 2) if (S[o + 1] !== 0) this.addToFilter(S[o] as number);
    this.stale = 0;
  }

  private slotPointingTo(p: number): number {
    const S = this.slots;
    const mask = this.mask;
    for (let i = (this.words[p + 1] as number) & mask; ; i = (i + 1) & mask) if (S[2 * i + 1] === p) return i;
  }

  /** The slot whose key equals record p's key, or -1. */
  private slotMatching(p: number): number {
    const S = this.slots;
    const mask = this.mask;
    const h = this.words[p + 1] as number;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const q = S[2 * i + 1] as number;
      if (q === 0) return -1;
      if (S[2 * i] === h && this.sameKey(p, q)) return i;
    }
  }

  /** Backward-shift deletion: later members of the probe run move up, so no tombstones are needed. */
  private unlinkSlot(i: number): void {
    const S = this.slots;
    const mask = this.mask;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const q = S[2 * j + 1] as number;
      if (q === 0) break;
      const home = (S[2 * j] as number) & mask;
      // j's entry may fill the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      S[2 * i] = S[2 * j] as number;
      S[2 * i + 1] = q;
      i = j;
    }
    S[2 * i] = 0;
    S[2 * i + 1] = 0;
    this.used--;
    if (++this.stale > this.used + MIN_SLOTS) this.rebuildFilter();
  }

  private resizeSlots(n: number): void {
    const old = this.slots;
    const S = new Int32Array(2 * n);
    const mask = n - 1;
    for (let o = 0; o < old.length; o += 2) {
      const p = old[o + 1] as number;
      if (p === 0) continue;
      const h = old[o] as number;
      let i = h & mask;
      while (S[2 * i + 1] !== 0) i = (i + 1) & mask;
      S[2 * i] = h;
      S[2 * i + 1] = p;
    }
    this.slots = S;
    this.mask = mask;
    this.rebuildFilter();
  }

  // ------------------------------------------------------------------ arena

  private alloc(size: number): number {
    this.liveWords += size;
    const head = this.freeBySize.get(size);
    if (head !== undefined) {
      const next = this.words[head] as number;
      if (next === 0) this.freeBySize.delete(size);
      else this.freeBySize.set(size, next);
      this.freeWords -= size;
      return head;
    }
    if (this.top + size > this.words.length) this.growArena(this.top + size);
    const b = this.top;
    this.top += size;
    return b;
  }

  private release(b: number, size: number): void {
    this.liveWords -= size;
    this.words[b] = this.freeBySize.get(size) ?? 0;
    this.freeBySize.set(size, b);
    this.freeWords += size;
    // Free lists reuse blocks of the same size; when sizes drift (or many subjects
    // leave for good) the free space is reclaimed by compacting.
    if (this.freeWords > this.liveWords + this.compactSlack) this.compact();
  }

  private growArena(need: number): void {
    // 1.5× rather than 2×: the slack is real memory, and copying is rare either way.
    let n = this.words.length;
    while (n < need) n = Math.ceil((n * 1.5) / 2) * 2;
    this.setArena(new Int32Array(n), this.top);
  }

  private setArena(words: Int32Array<ArrayBuffer>, copy: number): void {
    if (copy > 0) words.set(this.words.subarray(0, copy));
    this.words = words;
    this.times = new Float64Array(words.buffer);
    this.units = new Uint16Array(words.buffer);
  }

  /** Copies live blocks to a fresh arena, dropping free space, and rebuilds the slots. */
  private compact(): void {
    const old = this.words;
    let n = MIN_WORDS;
    while (n < this.liveWords + 2) n *= 2;
    const words = new Int32Array(n);
    let top = 2;
    for (const [subject, b] of this.blockOf) {
      const m = old[b] as number;
      const k = old[b + 1] as number;
      let p = b + 2 + 5 * m;
      for (let j = 0; j < k; j++) p += 4 + (((old[p + 3] as number) + 1) >> 1);
      const size = p - b + ((p - b) & 1);
      words.set(old.subarray(b, b + size), top);
      for (let j = 0, q = top + 2 + 5 * m; j < k; j++) {
        words[q] = top;
        q += 4 + (((words[q + 3] as number) + 1) >> 1);
      }
      this.blockOf.set(subject, top);
      top += size;
    }
    this.setArena(words, 0);
    this.top = top;
    this.freeWords = 0;
    this.freeBySize.clear();
    let slots = MIN_SLOTS;
    while (this.used > MAX_LOAD * slots) slots *= 2;
    this.slots = new Int32Array(2 * slots);
    this.mask = slots - 1;
    const S = this.slots;
    for (const b of this.blockOf.values()) {
      const m = words[b] as number;
      const k = words[b + 1] as number;
      for (let j = 0, p = b + 2 + 5 * m; j < k; j++) {
        if ((words[p + 2] as number) & 1) {
          let i = (words[p + 1] as number) & (slots - 1);
          while (S[2 * i + 1] !== 0) i = (i + 1) & (slots - 1);
          S[2 * i] = words[p + 1] as number;
          S[2 * i + 1] = p;
        }
        p += 4 + (((words[p + 3] as number) + 1) >> 1);
      }
    }
    this.rebuildFilter();
  }

  // ------------------------------------------------------------------ interning

  private schemeOf(scheme: string): number {
    let id = this.schemeIds.get(scheme);
    if (id === undefined) {
      id = this.schemeIds.size;
      this.schemeIds.set(scheme, id);
      this.lastScheme = undefined;
    }
    return id;
  }

  private kindOf(s: MeasureState): number {
    let list = this.kindsByMeasure.get(s.measure);
    if (list === undefined) {
      list = [];
      this.kindsByMeasure.set(s.measure, list);
    }
    for (const id of list) {
      const d = this.kinds[id] as Kind;
      if (d.context === s.context && d.effect === s.effect && d.code === s.code && d.basis === s.basis) return id;
    }
    const id = this.kinds.length;
    this.kinds.push({ measure: s.measure, context: s.context, effect: s.effect, code: s.code, basis: s.basis });
    list.push(id);
    let ctx = this.contextIds.get(s.context);
    if (ctx === undefined) {
      ctx = this.contextIds.size;
      this.contextIds.set(s.context, ctx);
      this.lastContext = undefined;
    }
    if (id >= this.kindContext.length) {
      const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.kindContext = grow(this.kindContext);
      this.kindDenyContext = grow(this.kindDenyContext);
    }
    this.kindContext[id] = ctx;
    this.kindDenyContext[id] = s.effect === "deny" ? ctx : -1;
    return id;
  }
}
