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
  readonly strings: readonly { value: string; offset: number }[];
  readonly functions: readonly { name: string; offset: number }[];
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

  return {
    ok: true,
    analysis: { reads, strings, functions },
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
