// CEL for conditions and point expressions. Every expression is parsed once per
// policy version, inspected (which variables and fields it reads, which literals it
// compares against) so the guardrails can refuse it at compile time, and planned
// into a reusable evaluator.
import { CelScalar, celEnv, celFunc, isCelError, parse, plan } from "@bufbuild/cel";
import type { CompiledExpr, ExprBindings } from "./types.js";

/** A structural view of the parts of CEL's AST that we walk. */
interface AstExpr {
  id: bigint | string | number;
  exprKind: { case: string | undefined; value?: unknown };
}

export interface ExprRead {
  /** Root variable read (record, entry, score, tier, or anything else the author wrote). */
  readonly root: string;
  /** Field selected on the root, when there is one. */
  readonly field: string | undefined;
  /** Offset in the expression text. */
  readonly offset: number;
}

export interface ExprAnalysis {
  readonly reads: readonly ExprRead[];
  /**
   * Every string the expression can produce at compile time: literals, and what
   * concatenations, ternaries of literals and the readings of a regular expression
   * fold to, so a word assembled from pieces is checked as if written out.
   */
  readonly strings: readonly { value: string; offset: number; folded: boolean }[];
  readonly functions: readonly { name: string; offset: number }[];
  /** How each field of record or entry is used: tested with has(), compared, or anything else. */
  readonly uses: readonly FieldUse[];
}

/** What a field is compared with. */
export type Operand =
  | { readonly kind: "field"; readonly root: string; readonly field: string }
  | { readonly kind: "literal"; readonly values: readonly Literal[] }
  | { readonly kind: "other" };

export type Literal = string | number | boolean | null;

export interface FieldUse {
  readonly root: string;
  readonly field: string;
  readonly offset: number;
  readonly how: "has" | "compare" | "other";
  /** For comparisons: ==, !=, <, <=, >, >=, in */
  readonly op: string | undefined;
  readonly against: Operand | undefined;
}

export interface ParsedCel {
  readonly ok: true;
  readonly analysis: ExprAnalysis;
  readonly build: () => CompiledExpr;
}

export interface CelSyntaxError {
  readonly ok: false;
  readonly message: string;
  readonly offset: number;
}

const num = CelScalar.DOUBLE;
const env = celEnv({
  variables: { record: CelScalar.DYN, entry: CelScalar.DYN, score: num, tier: CelScalar.STRING },
  funcs: [
    celFunc("min", [num, num], num, (a, b) => Math.min(a, b)),
    celFunc("max", [num, num], num, (a, b) => Math.max(a, b)),
    celFunc("abs", [num], num, (a) => Math.abs(a)),
    celFunc("floor", [num], num, (a) => Math.floor(a)),
    celFunc("ceil", [num], num, (a) => Math.ceil(a)),
  ],
});

export const allowedFunctions = new Set([
  "min", "max", "abs", "floor", "ceil", "size", "has", "startsWith", "endsWith", "contains", "matches",
  "exists", "all", "exists_one", "map", "filter", "int", "double", "string",
]);

function offsetOf(positions: Record<string, number>, id: AstExpr["id"]): number {
  return positions[String(id)] ?? 0;
}

/** Parses and inspects a CEL expression. Integer literals become doubles, because every number a policy sees is a double and CEL refuses to mix the two. */
export function parseCel(source: string): ParsedCel | CelSyntaxError {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (e) {
    const err = e as { message?: string; location?: { column?: number; offset?: number } };
    const m = /^<input>:(\d+):(\d+): (.*)$/s.exec(err.message ?? "");
    const offset = m ? lineColToOffset(source, Number(m[1]), Number(m[2])) : 0;
    return { ok: false, message: m ? (m[3] as string) : String(err.message ?? e), offset };
  }
  const positions = (parsed.sourceInfo?.positions ?? {}) as Record<string, number>;
  const reads: ExprRead[] = [];
  const strings: { value: string; offset: number }[] = [];
  const functions: { name: string; offset: number }[] = [];

  const visit = (e: AstExpr | undefined, scope: ReadonlySet<string>): void => {
    if (!e) return;
    const k = e.exprKind;
    switch (k.case) {
      case "constExpr": {
        const c = k.value as { constantKind: { case: string; value: unknown } };
        if (c.constantKind.case === "int64Value" || c.constantKind.case === "uint64Value") {
          const v = Number(c.constantKind.value);
          c.constantKind = { case: "doubleValue", value: v };
        } else if (c.constantKind.case === "stringValue") {
          strings.push({ value: String(c.constantKind.value), offset: offsetOf(positions, e.id) });
        }
        return;
      }
      case "identExpr": {
        const name = (k.value as { name: string }).name;
        if (!scope.has(name)) reads.push({ root: name, field: undefined, offset: offsetOf(positions, e.id) });
        return;
      }
      case "selectExpr": {
        const s = k.value as { operand: AstExpr; field: string };
        const op = s.operand;
        if (op.exprKind.case === "identExpr") {
          const root = (op.exprKind.value as { name: string }).name;
          if (!scope.has(root)) {
            reads.push({ root, field: s.field, offset: offsetOf(positions, e.id) });
            return;
          }
        }
        visit(op, scope);
        return;
      }
      case "callExpr": {
        const c = k.value as { function: string; target?: AstExpr; args: AstExpr[] };
        // Operators (_+_, -_, !_, @in, and @not_strictly_false from the all/exists
        // macros) are spelled as calls in the AST but are not functions an author wrote.
        if (!/^[_@!-]/.test(c.function)) {
          functions.push({ name: c.function, offset: offsetOf(positions, e.id) });
        }
        // record["field"] is the same read as record.field
        if (c.function === "_[_]" && c.args[0]?.exprKind.case === "identExpr") {
          const root = (c.args[0].exprKind.value as { name: string }).name;
          const key = c.args[1]?.exprKind;
          if (!scope.has(root) && key?.case === "constExpr") {
            const ck = (key.value as { constantKind: { case: string; value: unknown } }).constantKind;
            reads.push({ root, field: String(ck.value), offset: offsetOf(positions, e.id) });
            if (ck.case === "stringValue") return;
          }
          // record['re' + 'marks'] is record.remarks: a computed key that folds is read as the field it names.
          const folded = key?.case !== "constExpr" ? fold(c.args[1]) : undefined;
          if (!scope.has(root) && folded?.length === 1 && typeof folded[0] === "string") {
            reads.push({ root, field: folded[0], offset: offsetOf(positions, e.id) });
            return;
          }
        }
        visit(c.target, scope);
        for (const a of c.args) visit(a, scope);
        return;
      }
      case "listExpr": {
        for (const el of (k.value as { elements: AstExpr[] }).elements) visit(el, scope);
        return;
      }
      case "structExpr": {
        for (const en of (k.value as { entries: { keyKind: { case: string; value: unknown }; value: AstExpr }[] })
          .entries) {
          if (en.keyKind.case === "mapKey") visit(en.keyKind.value as AstExpr, scope);
          visit(en.value, scope);
        }
        return;
      }
      case "comprehensionExpr": {
        const c = k.value as {
          iterVar: string;
          iterVar2?: string;
          accuVar: string;
          iterRange: AstExpr;
          accuInit: AstExpr;
          loopCondition: AstExpr;
          loopStep: AstExpr;
          result: AstExpr;
        };
        visit(c.iterRange, scope);
        visit(c.accuInit, scope);
        const inner = new Set(scope);
        inner.add(c.iterVar);
        if (c.iterVar2) inner.add(c.iterVar2);
        inner.add(c.accuVar);
        visit(c.loopCondition, inner);
        visit(c.loopStep, inner);
        visit(c.result, inner);
        return;
      }
      default:
        return;
    }
  };
  visit(parsed.expr as unknown as AstExpr, new Set());
  const { uses, folded } = inspect(parsed.expr as unknown as AstExpr, positions);

  return {
    ok: true,
    analysis: { reads, strings: [...strings.map((x) => ({ ...x, folded: false })), ...folded], functions, uses },
    build: () => {
      const run = plan(env, parsed);
      const evaluate = (b: ExprBindings): unknown => {
        try {
          const bindings: Record<string, unknown> = {};
          if (b.record) bindings.record = b.record;
          if (b.entry) bindings.entry = b.entry;
          if (b.score !== undefined) bindings.score = b.score;
          if (b.tier !== undefined) bindings.tier = b.tier;
          const r = run(bindings as never);
          return isCelError(r) ? undefined : r;
        } catch {
          return undefined;
        }
      };
      // An expression is pure, and re-evaluation asks the same few questions millions of
      // times (a score threshold at every score boundary, a rule's condition on the same
      // handful of field values), so answers are remembered by what the expression reads:
      // the fields it names (present or absent), the score and the tier. An expression
      // that reads a record as a whole (a macro over it, a computed key) is not
      // remembered. Bounded: keys longer than MEMO_KEY_MAX are not kept, and the memo is
      // dropped whole when it holds MEMO_MAX answers.
      const recordFields = fieldsRead(reads, "record");
      const entryFields = fieldsRead(reads, "entry");
      const memo = new Map<string, unknown>();
      const remembered = (b: ExprBindings): unknown => {
        if ((b.record !== undefined && recordFields === null) || (b.entry !== undefined && entryFields === null)) return evaluate(b);
        // Only ordinary objects (what JSON.parse makes) are keyed by their fields: CEL reads
        // an object without Object's prototype differently, so equal fields need not mean equal answers.
        if (!ordinary(b.record) || !ordinary(b.entry)) return evaluate(b);
        const rec = b.record === undefined ? [] : pick(b.record, recordFields as string[]);
        const ent = b.entry === undefined ? [] : pick(b.entry, entryFields as string[]);
        // JSON writes -0 as 0, and `1.0 / x` tells them apart: such bindings are not remembered.
        if (hasNegativeZero(rec) || hasNegativeZero(ent) || Object.is(b.score, -0)) return evaluate(b);
        const k = JSON.stringify([b.record === undefined ? 0 : rec, b.entry === undefined ? 0 : ent, b.score, b.tier]);
        if (k.length > MEMO_KEY_MAX) return evaluate(b);
        if (memo.has(k)) return memo.get(k);
        const r = evaluate(b);
        if (memo.size >= MEMO_MAX) memo.clear();
        memo.set(k, r);
        return r;
      };
      return {
        source,
        // A condition that cannot be evaluated (a missing optional field, a type
        // mismatch in data) does not hold: absent evidence never counts against anyone.
        evalBool: (b) => remembered(b) === true,
        evalNumber: (b) => {
          const r = remembered(b);
          const n = typeof r === "bigint" ? Number(r) : r;
          return typeof n === "number" && Number.isFinite(n) ? n : 0;
        },
      };
    },
  };
}

const MEMO_MAX = 20_000;
const MEMO_KEY_MAX = 512;

/** The fields of `root` an expression names, sorted; null when it reads `root` as a whole. */
function fieldsRead(reads: readonly ExprRead[], root: string): string[] | null {
  const of = reads.filter((r) => r.root === root);
  if (of.some((r) => r.field === undefined)) return null;
  return [...new Set(of.map((r) => r.field as string))].sort();
}

/** Each named field as [value] when present and [] when absent, so null and absent differ. */
function pick(v: Record<string, unknown>, fields: readonly string[]): unknown[][] {
  return fields.map((f) => (Object.hasOwn(v, f) ? [v[f]] : []));
}

function ordinary(v: unknown): boolean {
  return v === undefined || Object.getPrototypeOf(v) === Object.prototype;
}

function hasNegativeZero(v: unknown): boolean {
  if (typeof v === "number") return Object.is(v, -0);
  if (typeof v !== "object" || v === null) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (hasNegativeZero(x)) return true;
  return false;
}

function lineColToOffset(text: string, line: number, col: number): number {
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", off);
    if (nl < 0) break;
    off = nl + 1;
  }
  return Math.max(0, off + col - 1);
}

const COMPARISONS: Record<string, string> = { "_==_": "==", "_!=_": "!=", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=" };
/** Folding stops here: enough to read any word an author could assemble, small enough to stay cheap. */
const FOLD_MAX = 64;

interface CallValue {
  function: string;
  target?: AstExpr;
  args: AstExpr[];
}

function constantOf(e: AstExpr): Literal | undefined {
  if (e.exprKind.case !== "constExpr") return undefined;
  const c = (e.exprKind.value as { constantKind: { case: string | undefined; value: unknown } }).constantKind;
  switch (c.case) {
    case "stringValue":
      return String(c.value);
    case "doubleValue":
    case "int64Value":
    case "uint64Value":
      return Number(c.value);
    case "boolValue":
      return Boolean(c.value);
    case "nullValue":
      return null;
    default:
      return undefined;
  }
}

/** The values a constant expression can take, or undefined when it depends on data. */
function fold(e: AstExpr | undefined): Literal[] | undefined {
  if (!e) return undefined;
  const c = constantOf(e);
  if (c !== undefined) return [c];
  if (e.exprKind.case === "listExpr") {
    const out: Literal[] = [];
    for (const el of (e.exprKind.value as { elements: AstExpr[] }).elements) {
      const f = fold(el);
      if (!f) return undefined;
      out.push(...f);
    }
    return out.slice(0, FOLD_MAX);
  }
  if (e.exprKind.case !== "callExpr") return undefined;
  const call = e.exprKind.value as CallValue;
  if (call.function === "_+_") {
    const a = fold(call.args[0]);
    const b = fold(call.args[1]);
    if (!a || !b || !a.every((x) => typeof x === "string") || !b.every((x) => typeof x === "string")) return undefined;
    const out: string[] = [];
    for (const x of a) for (const y of b) if (out.length < FOLD_MAX) out.push(`${x}${y}`);
    return out;
  }
  if (call.function === "_?_:_") {
    const a = fold(call.args[1]);
    const b = fold(call.args[2]);
    return a && b ? [...a, ...b].slice(0, FOLD_MAX) : undefined;
  }
  return undefined;
}

function fieldRead(e: AstExpr | undefined): { root: string; field: string } | undefined {
  if (!e) return undefined;
  if (e.exprKind.case === "selectExpr") {
    const s = e.exprKind.value as { operand: AstExpr; field: string; testOnly?: boolean };
    if (s.testOnly || s.operand.exprKind.case !== "identExpr") return undefined;
    return { root: (s.operand.exprKind.value as { name: string }).name, field: s.field };
  }
  if (e.exprKind.case === "callExpr") {
    const c = e.exprKind.value as CallValue;
    if (c.function !== "_[_]" || c.args[0]?.exprKind.case !== "identExpr" || !c.args[1]) return undefined;
    const keys = fold(c.args[1]);
    const key = keys?.length === 1 ? keys[0] : undefined;
    if (typeof key !== "string") return undefined;
    return { root: (c.args[0].exprKind.value as { name: string }).name, field: key };
  }
  return undefined;
}

function operandOf(e: AstExpr | undefined): Operand {
  const f = fieldRead(e);
  if (f) return { kind: "field", ...f };
  const values = fold(e);
  return values ? { kind: "literal", values } : { kind: "other" };
}

/**
 * Finds how every field is used and what the expression's strings fold to. Scoped
 * variables (a macro's `x`) shadow nothing here: `record` and `entry` cannot be
 * rebound in CEL.
 */
function inspect(root: AstExpr, positions: Record<string, number>): { uses: FieldUse[]; folded: { value: string; offset: number; folded: true }[] } {
  const uses: FieldUse[] = [];
  const folded: { value: string; offset: number; folded: true }[] = [];
  const use = (e: AstExpr, how: FieldUse["how"], op?: string, against?: Operand): boolean => {
    const f = fieldRead(e);
    if (!f || (f.root !== "record" && f.root !== "entry")) return false;
    uses.push({ ...f, offset: offsetOf(positions, e.id), how, op, against });
    return true;
  };
  const walk = (e: AstExpr | undefined): void => {
    if (!e) return;
    const k = e.exprKind;
    switch (k.case) {
      case "selectExpr": {
        const s = k.value as { operand: AstExpr; field: string; testOnly?: boolean };
        if (s.testOnly && s.operand.exprKind.case === "identExpr") {
          const r = (s.operand.exprKind.value as { name: string }).name;
          if (r === "record" || r === "entry") uses.push({ root: r, field: s.field, offset: offsetOf(positions, e.id), how: "has", op: undefined, against: undefined });
          return;
        }
        if (!use(e, "other")) walk(s.operand);
        return;
      }
      case "callExpr": {
        const c = k.value as CallValue;
        if (use(e, "other")) return;
        const op = COMPARISONS[c.function];
        if (op !== undefined || c.function === "@in") {
          const [a, b] = c.args;
          const o = op ?? "in";
          const usedA = use(a as AstExpr, "compare", o, operandOf(b));
          const usedB = op !== undefined && use(b as AstExpr, "compare", o, operandOf(a));
          if (!usedA) walk(a);
          if (!usedB) walk(b);
          return;
        }
        if ((c.function === "_+_" || c.function === "_?_:_") && fold(e)) {
          for (const v of fold(e) ?? []) if (typeof v === "string") folded.push({ value: v, offset: offsetOf(positions, e.id), folded: true });
        }
        if (c.function === "matches") {
          const re = constantOf((c.target ? c.args[0] : c.args[1]) ?? e);
          if (typeof re === "string") for (const v of regexReadings(re)) folded.push({ value: v, offset: offsetOf(positions, e.id), folded: true });
        }
        walk(c.target);
        for (const a of c.args) walk(a);
        return;
      }
      case "listExpr":
        for (const el of (k.value as { elements: AstExpr[] }).elements) walk(el);
        return;
      case "structExpr":
        for (const en of (k.value as { entries: { keyKind: { case: string; value: unknown }; value: AstExpr }[] }).entries) {
          if (en.keyKind.case === "mapKey") walk(en.keyKind.value as AstExpr);
          walk(en.value);
        }
        return;
      case "comprehensionExpr": {
        const c = k.value as { iterRange: AstExpr; accuInit: AstExpr; loopCondition: AstExpr; loopStep: AstExpr; result: AstExpr };
        for (const x of [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result]) walk(x);
        return;
      }
      default:
        return;
    }
  };
  walk(root);
  return { uses, folded };
}

/**
 * The strings a regular expression plainly spells: alternatives and character classes
 * expanded, optional parts taken with and without, anchors and flags dropped. Enough
 * to read "^(M|m)os(q|k)ue$" or "[Cc]hurch" as the words they are; a pattern too
 * clever for this is still checked as written.
 */
export function regexReadings(source: string): string[] {
  let i = 0;
  const src = source.replace(/^\(\?[a-z]+\)/i, "");
  const cap = (xs: string[]): string[] => [...new Set(xs)].slice(0, FOLD_MAX);
  const product = (a: string[], b: string[]): string[] => {
    const out: string[] = [];
    for (const x of a) for (const y of b) if (out.length < FOLD_MAX) out.push(x + y);
    return out;
  };
  const parseAlt = (): string[] => {
    let alts: string[] = [];
    let seq: string[] = [""];
    while (i < src.length && src[i] !== ")") {
      if (src[i] === "|") {
        i++;
        alts = cap([...alts, ...seq]);
        seq = [""];
        continue;
      }
      let atom: string[];
      const ch = src[i] as string;
      if (ch === "(") {
        i++;
        if (src[i] === "?") i += src[i + 1] === "<" ? src.indexOf(">", i) - i + 1 : 2;
        atom = parseAlt();
        i++;
      } else if (ch === "[") {
        const end = src.indexOf("]", i + 1);
        const body = end < 0 ? "" : src.slice(i + 1, end);
        i = end < 0 ? src.length : end + 1;
        atom = body.startsWith("^") ? [""] : cap([...body.replace(/\\./g, "").replace(/(.)-(.)/g, "$1")]);
        if (atom.length === 0) atom = [""];
      } else if (ch === "\\") {
        const next = src[i + 1] ?? "";
        i += 2;
        atom = [/[bBAzZ]/.test(next) ? "" : /[sS]/.test(next) ? " " : /[dDwW]/.test(next) ? "" : next];
      } else if (ch === "^" || ch === "$" || ch === ".") {
        i++;
        atom = [""];
      } else {
        i++;
        atom = [ch];
      }
      const q = src[i];
      if (q === "?" || q === "*") {
        i++;
        atom = cap([...atom, ""]);
      } else if (q === "+") {
        i++;
      } else if (q === "{") {
        const end = src.indexOf("}", i);
        i = end < 0 ? src.length : end + 1;
      }
      if (src[i] === "?" || src[i] === "+") i++;
      seq = product(seq, atom);
    }
    return cap([...alts, ...seq]);
  };
  const out: string[] = [];
  while (i < src.length) {
    out.push(...parseAlt());
    i++;
  }
  return cap(out);
}
