// The policy compiler: YAML text in, either a compiled policy or every error found,
// each with file:line:col and the guardrail or rule it breaks. The guardrails are not
// options: nothing in a policy can switch them off.
import { Ajv, type ErrorObject } from "ajv";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Scalar } from "yaml";
import { sha256Hex } from "../canonical.js";
import { durationExceeds, isValidZone, parseDuration, parseInstant, type IsoDuration } from "../time.js";
import { categoryOf, defaultCatalogue, type Catalogue } from "./catalogue.js";
import { allowedFunctions, parseCel, type FieldUse, type Literal } from "./cel.js";
import {
  eventDay,
  fuzzyTerm,
  identityTerm,
  launderingTerm,
  otherPersonTerm,
  prohibitedGround,
  prohibitedGroundInValue,
  refusingValue,
  smuggledKey,
  statusTerm,
  words,
} from "./grounds.js";
import { policySchema } from "./schema.js";
import {
  guardrails,
  severityClasses,
  type CompiledExpr,
  type CompiledPolicy,
  type CompileResult,
  type ContextDef,
  fieldKinds,
  legacyFieldTypes,
  type FieldDef,
  type FieldKind,
  type FieldType,
  type LegacyFieldType,
  type GuardrailCode,
  type IdentifierSchemeDef,
  type ListDef,
  type MeasureDef,
  type PointsRule,
  type PolicyDiagnostic,
  type RecordTypeDef,
  type SeverityClass,
} from "./types.js";

type Path = readonly (string | number)[];
type Code = PolicyDiagnostic["code"];

/** Hard ceiling on any severity maximum: no policy can make a penalty near-permanent. */
export const SEVERITY_CEILING = parseDuration("P5Y") as IsoDuration;
const DEFAULT_DISPUTE_DEADLINE = parseDuration("P30D") as IsoDuration;
const ZERO = parseDuration("PT0S") as IsoDuration;
const ONE_DAY = parseDuration("P1D") as IsoDuration;

const ajv = new Ajv({ allErrors: true, strict: false });
const validateSchema = ajv.compile(policySchema);

const fieldSchemaAjv = new Ajv({ allErrors: true, strict: false });

// Raw (schema-shaped) policy document; only read after schema validation.
interface RawTrigger {
  on: string | string[];
  when?: string;
}
interface RawPolicy {
  standing: 1;
  policy: string;
  version: string;
  title?: string;
  effective: string;
  timezone: string;
  severity: Record<SeverityClass, string>;
  identifiers?: Record<string, { registers?: boolean }>;
  records: Record<
    string,
    {
      category: string;
      severity?: SeverityClass;
      sources: string[];
      fields?: Record<string, string | RawField>;
      evidence?: "required" | "optional";
      description?: string;
      dispute?: { deadline?: string; suspend?: boolean };
    }
  >;
  score: { base: number; tiers: Record<string, number> };
  points?: {
    rule: string;
    on: string | string[];
    when?: string;
    points: number | string;
    for?: string;
    cap?: { total: number; per: string };
    description?: string;
  }[];
  lists?: Record<
    string,
    {
      effect: "restrict" | "privilege";
      enter?: string | string[] | RawTrigger;
      leave?: string | string[] | RawTrigger;
      for?: string;
      "early-exit"?: { after: string };
      when?: string;
      description?: string;
    }
  >;
  contexts?: Record<string, { related: string[]; why?: string; description?: string }>;
  measures?: {
    measure: string;
    context: string;
    effect: "deny" | "privilege";
    lists: string[];
    code?: string;
    basis?: string;
    notice?: string | { period: string; reason?: string };
    description?: string;
  }[];
  screening?: { names?: { threshold?: number; outcome?: string } };
}

interface RawField {
  kind?: string;
  type?: string;
  values?: string[];
  required?: boolean;
  description?: string;
}

class Diagnostics {
  readonly errors: PolicyDiagnostic[] = [];
  readonly warnings: PolicyDiagnostic[] = [];

  constructor(
    private readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly text: string,
  ) {}

  position(path: Path, opts: { key?: boolean; extra?: number } = {}): { line: number; col: number } {
    const node = nodeAt(this.doc, path, opts.key ?? false);
    let offset = node?.range?.[0] ?? 0;
    if (opts.extra !== undefined && node && isScalar(node)) {
      const quoted = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE";
      offset = sourceOffset(this.text, node, opts.extra) ?? offset + opts.extra + (quoted ? 1 : 0);
    }
    const pos = this.lines.linePos(offset);
    return { line: pos.line, col: pos.col };
  }

  error(code: Code, path: Path, message: string, opts: { key?: boolean; extra?: number } = {}): void {
    const { line, col } = this.position(path, opts);
    this.errors.push({ file: this.file, line, col, code, message, path: path.join(".") });
  }

  warn(code: Code, path: Path, message: string, opts: { key?: boolean } = {}): void {
    const { line, col } = this.position(path, opts);
    this.warnings.push({ file: this.file, line, col, code, message, path: path.join(".") });
  }

  guard(g: GuardrailCode, path: Path, message: string, opts: { key?: boolean; extra?: number } = {}): void {
    this.error(g, path, message, opts);
  }
}

/**
 * Where character `at` of a scalar's value sits in the file. Escapes, folded lines and
 * block indentation make value offsets differ from file offsets, but the value is
 * still a subsequence of the scalar's source, so matching it character by character
 * finds the place an official should look.
 */
function sourceOffset(text: string, node: Scalar, at: number): number | undefined {
  const value = String(node.value);
  const [start, , end] = node.range ?? [0, 0, 0];
  const block = node.type === "BLOCK_FOLDED" || node.type === "BLOCK_LITERAL";
  // skip the opening quote, or the whole ">-" / "|" header line
  let src = block ? text.indexOf("\n", start) + 1 : node.type === "PLAIN" ? start : start + 1;
  if (block && src === 0) return undefined;
  let last = src - 1;
  for (let i = 0; i < value.length && i <= at; i++) {
    const found = text.indexOf(value[i] as string, src);
    if (found < 0 || found >= end) return undefined;
    last = found;
    src = found + 1;
  }
  return at < value.length ? last : last + 1;
}

function nodeAt(doc: Document.Parsed, path: Path, wantKey: boolean): Node | undefined {
  let node: unknown = doc.contents;
  let last: Node | undefined = (doc.contents as Node | null) ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const isLast = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return last;
      if (isLast && wantKey) return pair.key as Node;
      node = pair.value;
      // A key with an empty value has no value node; point at the key.
      last = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg];
      if (item === undefined) return last;
      node = item;
      last = item as Node;
    } else {
      return last;
    }
  }
  return last;
}

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function normaliseTrigger(t: string | string[] | RawTrigger | undefined): { on: string[]; when?: string } | undefined {
  if (t === undefined) return undefined;
  if (typeof t === "string" || Array.isArray(t)) return { on: asList(t) };
  return { on: asList(t.on), ...(t.when !== undefined ? { when: t.when } : {}) };
}

function normKey(k: string): string {
  return words(k).join(" ");
}

function label(g: GuardrailCode): string {
  return `guardrail ${g.slice(1)} (${guardrails[g].name})`;
}

/**
 * Compiles a policy. `file` is used in diagnostics only. Record types must name
 * categories of `catalogue`, by default the one shipped with Standing; a policy
 * published under another catalogue must be compiled with that catalogue.
 */
export function compilePolicy(text: string, file = "<policy>", catalogue: Catalogue = defaultCatalogue): CompileResult {
  const lines = new LineCounter();
  const tooDeep = nestingTooDeep(text);
  if (tooDeep) {
    return { ok: false, errors: [{ file, line: tooDeep.line, col: tooDeep.col, code: "yaml", message: `the document is nested more than ${MAX_DEPTH} levels deep; a policy never needs that`, path: "" }] };
  }
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const d = new Diagnostics(file, doc, lines, text);

  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      // linePos is only filled in with prettyErrors, which would also put a code frame
      // into the message; the offset is always there.
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      d.errors.push({ file, line: pos.line, col: pos.col, code: "yaml", message: e.message.split("\n")[0] ?? e.message, path: "" });
    }
    return { ok: false, errors: d.errors };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    d.error("yaml", [], `the document cannot be read: ${(e as Error).message}`);
    return { ok: false, errors: d.errors };
  }

  const flaggedKeys = scanKeys(doc, d);
  checkSchema(raw, d, flaggedKeys);
  // A smuggled key leaves the rest of the policy well-formed, so the other guardrails
  // are still checked and every one the policy breaks is named; a wrong shape, or a
  // smuggled value in a closed-set key, stops here.
  const shapeBroken = d.errors.some((e) => e.code === "schema") || [...flaggedKeys].some((k) => VALUE_KEYS.has(k.split(".").at(-1) ?? ""));
  if (shapeBroken) return { ok: false, errors: sortDiagnostics(d.errors) };

  const policy = checkSemantics(raw as RawPolicy, d, text, catalogue);
  if (d.errors.length > 0 || !policy) return { ok: false, errors: sortDiagnostics(d.errors) };
  return { ok: true, policy, warnings: d.warnings };
}

const MAX_DEPTH = 64;

/**
 * Refuses absurd nesting before the YAML parser recurses into it: thousands of
 * levels can exhaust the stack in a way that is not always catchable.
 */
function nestingTooDeep(text: string): { line: number; col: number } | undefined {
  let depth = 0;
  let line = 1;
  let col = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    col++;
    if (c === "\n") {
      line++;
      col = 0;
      if (quote === "'") quote = undefined;
      const indent = /^ */.exec(text.slice(i + 1, i + 1 + 4 * MAX_DEPTH + 1))?.[0].length ?? 0;
      if (indent > 4 * MAX_DEPTH) return { line, col: indent + 1 };
      continue;
    }
    if (quote) {
      if (c === quote && text[i - 1] !== "\\") quote = undefined;
      continue;
    }
    if (c === "#" && (i === 0 || /\s/.test(text[i - 1] as string))) {
      const nl = text.indexOf("\n", i);
      col += (nl < 0 ? text.length : nl) - i - 1;
      i = (nl < 0 ? text.length : nl) - 1;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === "[" || c === "{") {
      depth++;
      if (depth > MAX_DEPTH) return { line, col };
    } else if ((c === "]" || c === "}") && depth > 0) depth--;
  }
  return undefined;
}

function sortDiagnostics(list: PolicyDiagnostic[]): PolicyDiagnostic[] {
  return [...list].sort((a, b) => a.line - b.line || a.col - b.col);
}

// Every key the language itself defines; a key outside this set that names another
// person or an exemption is reported as the guardrail it would break.
const KNOWN_KEYS = new Set([
  "standing", "policy", "version", "title", "description", "effective", "timezone", "severity", "minor", "general",
  "serious", "identifiers", "registers", "records", "category", "sources", "fields", "type", "required", "evidence",
  "dispute", "deadline", "suspend", "score", "base", "tiers", "points", "rule", "on", "when", "for", "cap", "total",
  "per", "lists", "effect", "enter", "leave", "early-exit", "after", "contexts", "related", "why", "measures",
  "measure", "context", "code", "basis", "notice", "period", "reason", "screening", "names", "threshold", "outcome",
  "kind", "values",
]);

// Known keys whose values are a closed set of words, where a smuggled value is read like a smuggled key.
const VALUE_KEYS = new Set(["effect", "severity", "evidence", "registers", "suspend"]);
const LANGUAGE_VALUES = new Set(["restrict", "privilege", "deny", "minor", "general", "serious", "required", "optional", "true", "false"]);

/** The guardrail a smuggled key breaks, by what its words say. */
function smuggleGuardrail(kind: NonNullable<ReturnType<typeof smuggledKey>>["kind"]): { g: GuardrailCode; why: string } {
  switch (kind) {
    case "other-person":
    case "cascade":
      return { g: "G2", why: "would extend a rule to someone other than the subject of the records" };
    case "exemption":
      return { g: "G7", why: "would single subjects out for different treatment" };
    case "status":
      return { g: "G7", why: "would make treatment depend on a subject's status (rank, office, party, VIP, privilege)" };
    case "identity":
      return { g: "G7", why: "would make treatment depend on who the subject is" };
    case "fuzzy":
    case "screening":
      return { g: "G8", why: "would let a name-similarity match decide" };
    case "score":
      return { g: "G3", why: "would let a score, tier or rating decide" };
  }
}

/**
 * Looks at every key the language does not define, in any spelling or language, for
 * attempts to reach other people, single someone out or make fuzzy matches final, so
 * they are reported as the guardrail they break and never only as an unknown key.
 */
function scanKeys(doc: Document.Parsed, d: Diagnostics): Set<string> {
  const flagged = new Set<string>();
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        const here = [...path, key];
        const nk = normKey(key);
        // Keys under records.<type>.fields and similar name things rather than
        // behaviour; names get their checks in checkSemantics.
        const isNameSlot =
          (path.length === 1 && ["records", "lists", "contexts", "identifiers"].includes(String(path[0]))) ||
          (path.length === 3 && path[0] === "records" && path[2] === "fields") ||
          (path.length === 2 && path[0] === "score" && path[1] === "tiers");
        if (VALUE_KEYS.has(key) && isScalar(pair.value) && !LANGUAGE_VALUES.has(String(pair.value.value))) {
          // "effect: exempt" is an exemption, not merely a value outside the enum.
          const smuggled = smuggledKey(String(pair.value.value));
          if (smuggled) {
            const { g, why } = smuggleGuardrail(smuggled.kind);
            d.guard(g, here, `"${key}: ${String(pair.value.value)}" ${why} ("${smuggled.term}"); ${label(g)}: ${guardrails[g].rule}`);
            flagged.add(here.join("."));
          }
        }
        if (!isNameSlot && !KNOWN_KEYS.has(key)) {
          const value = isScalar(pair.value) ? String(pair.value.value) : "";
          const smuggled = smuggledKey(key);
          const flag = (g: GuardrailCode, message: string): void => {
            d.guard(g, here, `${message}; ${label(g)}: ${guardrails[g].rule}`, { key: true });
            flagged.add(here.join("."));
          };
          if (smuggled) {
            const { g, why } = smuggleGuardrail(smuggled.kind);
            flag(g, `"${key}" ${why} ("${smuggled.term}")`);
          } else if ((nk === "match" || nk === "matching" || nk === "on match") && (fuzzyTerm(value) || /name|similar|sound|fuzzy/i.test(value) || refusingValue(value))) {
            flag("G8", `"${key}: ${value}" would let a name-similarity match decide`);
          } else if (path[0] === "screening" && (refusingValue(value) || fuzzyTerm(value))) {
            // Any screening setting that would turn a name hit into a refusal, whatever it is called.
            flag("G8", `screening "${key}: ${value}" would make a name-similarity hit refuse someone`);
          } else {
            // An unknown key whose value says what it is for ("scope: household", "mode: exempt").
            const values = isSeq(pair.value) ? pair.value.items.filter(isScalar).map((x) => String(x.value)) : value ? [value] : [];
            for (const v of values) {
              const byValue = smuggledKey(v) ?? (otherPersonTerm(v) ? { kind: "other-person" as const, term: otherPersonTerm(v) as string } : undefined);
              if (!byValue) continue;
              const { g, why } = smuggleGuardrail(byValue.kind);
              flag(g, `"${key}: ${v}" ${why} ("${byValue.term}")`);
              break;
            }
          }
        }
        walk(pair.value, here);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
  };
  walk(doc.contents, []);
  return flagged;
}

function checkSchema(raw: unknown, d: Diagnostics, flagged: Set<string>): void {
  if (validateSchema(raw)) return;
  const errors = (validateSchema.errors ?? []) as ErrorObject[];
  // oneOf failures repeat every branch's complaint; keep the most useful ones.
  const seen = new Set<string>();
  for (const e of errors) {
    const path = e.instancePath.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    const asPath: (string | number)[] = path.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    let message: string;
    let at = asPath;
    let key = false;
    switch (e.keyword) {
      case "additionalProperties": {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        at = [...asPath, extra];
        if (flagged.has(at.join("."))) continue;
        key = true;
        message = `unknown key "${extra}"${asPath.length ? ` in ${asPath.join(".")}` : " at the top level"}`;
        break;
      }
      case "required":
        message = `${asPath.length ? asPath.join(".") : "the policy"} needs "${(e.params as { missingProperty: string }).missingProperty}"`;
        break;
      case "enum":
        message = `${asPath.join(".")} must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(", ")}`;
        break;
      case "pattern":
        message = path[path.length - 1] === "code" ? `${asPath.join(".")} must be an upper-case reason code such as SPC-DEBTOR` : `${asPath.join(".")} ${e.message ?? "is malformed"}`;
        break;
      case "oneOf":
        message = `${asPath.join(".")} has the wrong shape (see docs/policy-language.md)`;
        break;
      case "propertyNames":
        message = `${asPath.join(".")} has a key that is not a valid name (letters, digits, '.', '-', '_')`;
        break;
      default:
        message = `${asPath.join(".") || "the policy"} ${e.message ?? "is invalid"}`;
    }
    if (flagged.has(at.join("."))) continue;
    const sig = `${at.join(".")}|${e.keyword === "oneOf" ? "shape" : message}`;
    if (seen.has(sig)) continue;
    // Inside a oneOf, branch errors are noise once the oneOf itself is reported.
    if (e.schemaPath.includes("oneOf") && e.keyword !== "oneOf" && errors.some((o) => o.keyword === "oneOf" && o.instancePath === e.instancePath)) continue;
    seen.add(sig);
    d.error("schema", at, message, { key });
  }
}

/** The fields an expression may read on `record` or `entry`, with their declarations (one per record type). */
type FieldsInScope = ReadonlyMap<string, readonly FieldDef[]>;

interface ExprSpec {
  /** Variables the expression may read, with the fields known for record-like ones. */
  record?: FieldsInScope;
  entry?: FieldsInScope;
  score?: boolean;
  /** Names the guardrail when score or tier is read here. */
  scoreGuardrail?: { g: GuardrailCode; why: string };
  /** Used when the expression must be a number or a boolean. */
  what: string;
}

const showLiterals = (values: readonly Literal[]): string => values.slice(0, 3).map((v) => JSON.stringify(v)).join(", ") + (values.length > 3 ? ", …" : "");

function compileExpr(source: string, path: Path, spec: ExprSpec, d: Diagnostics): CompiledExpr | undefined {
  const parsed = parseCel(source);
  if (!parsed.ok) {
    d.error("cel", path, `${spec.what} is not valid CEL: ${parsed.message}`, { extra: parsed.offset });
    return undefined;
  }
  const before = d.errors.length;
  for (const r of parsed.analysis.reads) {
    const at = { extra: r.offset };
    if (r.root === "record" || r.root === "entry") {
      const fields = r.root === "record" ? spec.record : spec.entry;
      if (!fields) {
        d.error("reference", path, `${spec.what} cannot read "${r.root}" here`, at);
        continue;
      }
      if (r.field === undefined) {
        // Reading a record as a whole (a macro over its keys, a key computed from data)
        // would read fields past their kinds: free text, references.
        const guarded = [...fields.values()].flat().filter((f) => f.kind === "text" || f.kind === "reference");
        if (guarded.length > 0) d.guard("G7", path, `${spec.what} reads "${r.root}" as a whole or by a computed key, which would read ${guarded.map((f) => f.name).join(", ")} past what their kinds allow; name each field instead; ${label("G7")}: ${guardrails.G7.rule}`, at);
        continue;
      }
      const hit = prohibitedGround(r.field);
      const other = otherPersonTerm(r.field);
      const who = identityTerm(r.field) ?? statusTerm(r.field);
      if (hit) d.guard("G1", path, `${spec.what} reads "${r.root}.${r.field}", which is about ${hit.ground}; ${label("G1")}`, at);
      else if (!fields.has(r.field) && other) d.guard("G2", path, `${spec.what} reads "${r.root}.${r.field}", another person ("${other}"); ${label("G2")}: ${guardrails.G2.rule}`, at);
      else if (!fields.has(r.field) && who) d.guard("G7", path, `${spec.what} reads "${r.root}.${r.field}", which says who the subject is or what status they hold ("${who}"); ${label("G7")}: ${guardrails.G7.rule}`, at);
      else if (!fields.has(r.field)) d.error("reference", path, `${spec.what} reads "${r.root}.${r.field}" but no such field is declared for the record type(s) it applies to (declared: ${[...fields.keys()].join(", ") || "none"})`, at);
    } else if (r.root === "score" || r.root === "tier") {
      if (!spec.score) {
        if (spec.scoreGuardrail) d.guard(spec.scoreGuardrail.g, path, `${spec.what} reads "${r.root}": ${spec.scoreGuardrail.why}; ${label(spec.scoreGuardrail.g)}: ${guardrails[spec.scoreGuardrail.g].rule}`, at);
        else d.error("reference", path, `${spec.what} cannot read "${r.root}" here`, at);
      } else if (r.field !== undefined) {
        d.error("reference", path, `"${r.root}" has no field "${r.field}"`, at);
      }
    } else if (otherPersonTerm(r.root)) {
      d.guard("G2", path, `${spec.what} reads "${r.root}", another person; ${label("G2")}: ${guardrails.G2.rule}`, at);
    } else if (identityTerm(r.root) ?? statusTerm(r.root)) {
      d.guard("G7", path, `${spec.what} reads "${r.root}${r.field ? "." + r.field : ""}", which says who the subject is or what status they hold; ${label("G7")}: ${guardrails.G7.rule}`, at);
    } else if (prohibitedGround(r.root)) {
      d.guard("G1", path, `${spec.what} reads "${r.root}", which is about ${prohibitedGround(r.root)?.ground}; ${label("G1")}`, at);
    } else {
      const can = [spec.record ? "record" : "", spec.entry ? "entry" : "", spec.score ? "score, tier" : ""].filter(Boolean).join(", ");
      d.error("reference", path, `${spec.what} reads unknown variable "${r.root}"; it may read only: ${can || "nothing"}`, at);
    }
  }
  // Words first: a literal that names a ground or a status is reported as that, not
  // also as a reference compared with a literal.
  const wordHit = checkStrings(parsed.analysis.strings, path, spec, d);
  checkFieldUses(parsed.analysis.uses, path, spec, d, wordHit);
  for (const f of parsed.analysis.functions) {
    if (!allowedFunctions.has(f.name)) d.error("cel", path, `${spec.what} calls unknown function "${f.name}"`, { extra: f.offset });
  }
  if (d.errors.length > before) return undefined;
  return parsed.build();
}

const kindsOf = (defs: readonly FieldDef[] | undefined): Set<FieldDef["kind"]> => new Set((defs ?? []).map((f) => f.kind));

/** Holds each read of a field to what its kind allows. */
function checkFieldUses(uses: readonly FieldUse[], path: Path, spec: ExprSpec, d: Diagnostics, wordHit: boolean): void {
  const named = (v: Literal): boolean => typeof v === "string" && (prohibitedGroundInValue(v) !== undefined || statusTerm(v) !== undefined || otherPersonTerm(v, { value: true }) !== undefined || eventDay(v) !== undefined);
  for (const u of uses) {
    const scope = u.root === "record" ? spec.record : spec.entry;
    const defs = scope?.get(u.field);
    const at = { extra: u.offset };
    const name = `${u.root}${/^[A-Za-z_][A-Za-z0-9_]*$/.test(u.field) ? `.${u.field}` : `['${u.field}']`}`;
    const kinds = kindsOf(defs);
    // A docket, plate or identity number written into a rule singles one case out,
    // whatever the field is declared as (or if it is not declared at all).
    const ids = u.how === "compare" && u.against?.kind === "literal" && !kinds.has("date") && !kinds.has("duration") && !kinds.has("reference") && !wordHit ? u.against.values.filter((v): v is string => typeof v === "string" && identifierLike(v)) : [];
    if (ids.length > 0) {
      d.guard("G7", path, `${spec.what} compares ${name} with ${showLiterals(ids)}, a particular case, docket, plate or identity number: a rule for particular cases is the per-case exception that "unless" is refused for; ${label("G7")}: ${guardrails.G7.rule}`, at);
      continue;
    }
    if (!defs) continue;
    for (const kind of kindsOf(defs)) {
      switch (kind) {
        case "text":
          if (u.how !== "has") d.guard("G7", path, `${spec.what} reads ${name}, a text field: free text is shown to people and never read by a rule, because it can say who someone is; ${label("G7")}: ${guardrails.G7.rule}`, at);
          break;
        case "reference": {
          if (u.how === "has") break;
          const other = u.against?.kind === "field" ? u.against : undefined;
          const otherScope = other?.root === "record" ? spec.record : other?.root === "entry" ? spec.entry : undefined;
          const matched = u.how === "compare" && (u.op === "==" || u.op === "!=") && other !== undefined && other.root !== u.root && kindsOf(otherScope?.get(other.field)).has("reference");
          if (matched) break;
          if (u.against?.kind === "literal" ? u.against.values.some(named) : wordHit) break;
          if (u.against?.kind === "literal") {
            d.guard("G7", path, `${spec.what} compares reference ${name} with ${showLiterals(u.against.values)}: a rule for particular cases, dockets or plates is the per-case exception that "unless" is refused for; a reference may only be matched with another record's reference (record.case == entry.case); ${label("G7")}: ${guardrails.G7.rule}`, at);
          } else {
            d.guard("G7", path, `${spec.what} uses reference ${name} other than to match it with another record's reference (record.case == entry.case); a reference says which case a record is about, and a rule may not pick cases out by it; ${label("G7")}: ${guardrails.G7.rule}`, at);
          }
          break;
        }
        case "enum": {
          if (u.how !== "compare" || u.against?.kind !== "literal") break;
          const values = new Set(defs.flatMap((f) => f.values ?? []));
          for (const v of u.against.values) {
            // A value that names a ground or a status is reported as that guardrail by checkStrings.
            if (typeof v === "string" && !values.has(v) && !prohibitedGroundInValue(v) && !statusTerm(v)) d.error("reference", path, `${spec.what} compares ${name} with "${v}", which is not one of its declared values (${[...values].join(", ")})`, at);
          }
          break;
        }
        case "date":
          if (u.how === "compare" && u.against?.kind === "literal" && (u.op === "==" || u.op === "!=" || u.op === "in")) {
            d.guard("G1", path, `${spec.what} picks out ${name} on particular days (${showLiterals(u.against.values)}): a day stands for an event or an anniversary, not for anyone's conduct; compare dates with <, <=, > or >= (a law's commencement) instead; ${label("G1")}: ${guardrails.G1.rule}`, at);
          }
          break;
        case "amount":
        case "count":
        case "duration":
        case "boolean":
          break;
      }
    }
  }
}

/** The word checks on every string an expression holds or folds to. */
function checkStrings(strings: readonly { value: string; offset: number; folded: boolean }[], path: Path, spec: ExprSpec, d: Diagnostics): boolean {
  let any = false;
  const seen = new Set<string>();
  const check = (value: string, offset: number, how: string): boolean => {
    const key = `${offset}|${value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    const hit = prohibitedGroundInValue(value);
    if (hit) {
      d.guard("G1", path, `${spec.what} ${how} "${value}", which is about ${hit.ground} ("${hit.term}"); ${label("G1")}`, { extra: offset });
      return true;
    }
    const day = eventDay(value);
    if (day) {
      d.guard("G1", path, `${spec.what} ${how} "${value}", the day of a political event (${day}); ${label("G1")}`, { extra: offset });
      return true;
    }
    const status = statusTerm(value);
    if (status) {
      d.guard("G7", path, `${spec.what} ${how} "${value}", a status ("${status}"); treatment may not depend on rank, office, party membership, VIP or privileged status; ${label("G7")}: ${guardrails.G7.rule}`, { extra: offset });
      return true;
    }
    const other = otherPersonTerm(value, { value: true });
    if (other) {
      d.guard("G2", path, `${spec.what} ${how} "${value}", which names another person ("${other}"); ${label("G2")}: ${guardrails.G2.rule}`, { extra: offset });
      return true;
    }
    return false;
  };
  const plain = strings.filter((s) => !s.folded).sort((a, b) => a.offset - b.offset);
  const hitAt = new Set<number>();
  for (const s of plain) if (check(s.value, s.offset, "compares against")) hitAt.add(s.offset);
  for (const s of strings) if (s.folded && !hitAt.has(s.offset)) check(s.value, s.offset, "builds");
  // A word split across two literals compared with two fields ("reli", "gion").
  for (let i = 1; i < plain.length; i++) {
    const a = plain[i - 1] as { value: string; offset: number };
    const b = plain[i] as { value: string; offset: number };
    if (hitAt.has(a.offset) || hitAt.has(b.offset) || a.value.length > 40 || b.value.length > 40) continue;
    if (prohibitedGround(a.value + b.value) && check(a.value + b.value, a.offset, "splits")) any = true;
  }
  // A word spelt out one short literal at a time: ['c', 'h', 'u', 'r', 'c', 'h'].
  for (let i = 0; i < plain.length; ) {
    let j = i;
    while (j < plain.length && (plain[j] as { value: string }).value.length <= 3) j++;
    if (j - i > 2) {
      const run = plain.slice(i, j).map((x) => x.value).join("");
      if (prohibitedGround(run) && check(run, (plain[i] as { offset: number }).offset, "spells")) any = true;
    }
    i = j + 1;
  }
  return any || hitAt.size > 0 || strings.some((s) => s.folded && seen.has(`${s.offset}|${s.value}`) && prohibitedGround(s.value) !== undefined);
}

function checkName(kind: string, name: string, path: Path, d: Diagnostics, key = true, organisation = false): void {
  const hit = prohibitedGround(name, { organisation });
  if (!hit) return;
  d.guard("G1", path, `${kind} "${name}" is about ${hit.ground} ("${hit.term}"); ${label("G1")}: ${guardrails.G1.rule}`, { key });
  if (hit.ground === "family or relationships") {
    d.guard("G2", path, `${kind} "${name}" names a relationship to another person ("${hit.term}"); ${label("G2")}: ${guardrails.G2.rule}`, { key });
  }
}

/** Refuses a name that would bring a score, tier or rating (G3) or a screening result (G8) back as a record. */
function checkLaundering(kind: string, name: string, path: Path, d: Diagnostics, key = true): boolean {
  const l = launderingTerm(name);
  if (!l) return false;
  const what = l.guardrail === "G3" ? "a score, tier, rating or list membership" : "a name-screening result";
  d.guard(l.guardrail, path, `${kind} "${name}" would bring ${what} ("${l.term}") back as an ordinary record; the catalogue of record categories has no place for one, because it is an outcome, never a record; ${label(l.guardrail)}: ${guardrails[l.guardrail].rule}`, { key });
  return true;
}

function duration(text: string | undefined, path: Path, d: Diagnostics, what: string): IsoDuration | undefined {
  if (text === undefined) return undefined;
  const dur = parseDuration(text);
  if (!dur) d.error("rule", path, `${what} "${text}" is not an ISO 8601 duration such as P3M, P1Y or P180D`);
  return dur;
}

function checkSemantics(raw: RawPolicy, d: Diagnostics, text: string, catalogue: Catalogue): CompiledPolicy | undefined {
  // ---- header
  const effective = parseInstant(raw.effective);
  if (effective === undefined) d.error("rule", ["effective"], `effective "${raw.effective}" must be an ISO 8601 instant with an offset, e.g. 2026-12-01T00:00:00+08:00`);
  if (!isValidZone(raw.timezone)) d.error("rule", ["timezone"], `timezone "${raw.timezone}" is not an IANA time zone such as Asia/Shanghai or Europe/Berlin`);
  const zone = isValidZone(raw.timezone) ? raw.timezone : "UTC";

  // ---- severity maxima
  const severity = {} as Record<SeverityClass, IsoDuration>;
  for (const cls of severityClasses) {
    const dur = duration(raw.severity[cls], ["severity", cls], d, `severity maximum for ${cls}`);
    if (!dur) continue;
    if (durationExceeds(dur, SEVERITY_CEILING, zone)) {
      d.guard("G4", ["severity", cls], `the ${cls} maximum ${dur.iso} is longer than ${SEVERITY_CEILING.iso}, the longest any negative effect may last; ${label("G4")}`);
    }
    severity[cls] = dur;
  }
  for (let i = 1; i < severityClasses.length; i++) {
    const lo = severity[severityClasses[i - 1] as SeverityClass];
    const hi = severity[severityClasses[i] as SeverityClass];
    if (lo && hi && durationExceeds(lo, hi, zone)) {
      d.error("rule", ["severity", severityClasses[i] as string], `the ${severityClasses[i]} maximum must not be shorter than the ${severityClasses[i - 1]} maximum`);
    }
  }

  // ---- identifiers
  let identifiers: Map<string, IdentifierSchemeDef> | undefined;
  if (raw.identifiers) {
    identifiers = new Map();
    for (const [scheme, def] of Object.entries(raw.identifiers)) {
      checkName("identifier scheme", scheme, ["identifiers", scheme], d);
      identifiers.set(scheme, { scheme, registers: def?.registers ?? false });
    }
  }

  // ---- record types
  // A category named by an alias is the same category wherever it is named.
  const canon = (c: string): string => categoryOf(catalogue, c)?.name ?? c;
  const records = new Map<string, RecordTypeDef>();
  const categories = new Set<string>();
  for (const [typeName, r] of Object.entries(raw.records)) {
    const p = ["records", typeName];
    const cat = categoryOf(catalogue, r.category);
    // Health words describe premises, not people, when the category is for organisations only.
    const organisation = cat !== undefined && !cat.subjects.includes("person");
    checkName("record type", typeName, p, d, true, organisation);
    checkLaundering("record type", typeName, p, d);
    checkCategory(r.category, [...p, "category"], catalogue, d);
    categories.add(canon(r.category));
    const fields: FieldDef[] = [];
    const validators: FieldValidation[] = [];
    for (const [fname, fdef] of Object.entries(r.fields ?? {})) {
      const f = checkField(fname, fdef, [...p, "fields", fname], organisation, d);
      if (!f) continue;
      fields.push(f.def);
      validators.push(f.validation);
    }
    for (const s of r.sources) {
      checkName("source", s, [...p, "sources"], d, false);
      checkLaundering("source", s, [...p, "sources"], d, false);
    }
    const deadline = duration(r.dispute?.deadline, [...p, "dispute", "deadline"], d, "dispute deadline") ?? DEFAULT_DISPUTE_DEADLINE;
    records.set(typeName, {
      name: typeName,
      category: r.category,
      severity: r.severity,
      sources: r.sources,
      fields,
      evidence: r.evidence ?? "optional",
      description: r.description,
      dispute: { deadline, suspend: r.dispute?.suspend ?? false },
      validateFields: buildFieldValidator(validators),
      subjects: cat?.subjects ?? ["person"],
    });
  }
  const fieldsOf = (types: readonly string[]): Map<string, FieldDef[]> => {
    const out = new Map<string, FieldDef[]>();
    for (const t of types) for (const f of records.get(t)?.fields ?? []) out.set(f.name, [...(out.get(f.name) ?? []), f]);
    return out;
  };
  const checkTypes = (types: readonly string[], path: Path, what: string): boolean => {
    let ok = true;
    for (const t of types) {
      if (!records.has(t)) {
        d.error("reference", path, `${what} names record type "${t}", which is not declared under records`);
        ok = false;
      }
    }
    return ok;
  };
  /** The severity maximum of a record type, or undefined (and an error) if it has none. */
  const maxFor = (t: string, path: Path, what: string): IsoDuration | undefined => {
    const rt = records.get(t);
    if (!rt) return undefined;
    if (!rt.severity) {
      d.guard("G4", path, `${what} counts "${t}" against the subject, but "${t}" has no severity class, so nothing bounds how long it may last; give it severity minor, general or serious; ${label("G4")}`);
      return undefined;
    }
    return severity[rt.severity];
  };

  // ---- score and tiers
  const tiers = Object.entries(raw.score.tiers)
    .map(([name, min]) => ({ name, min }))
    .sort((a, b) => b.min - a.min || a.name.localeCompare(b.name));
  for (const t of tiers) checkName("tier", t.name, ["score", "tiers", t.name], d);
  for (let i = 1; i < tiers.length; i++) {
    if ((tiers[i] as { min: number }).min === (tiers[i - 1] as { min: number }).min) {
      d.error("rule", ["score", "tiers", (tiers[i] as { name: string }).name], `tiers "${tiers[i - 1]?.name}" and "${tiers[i]?.name}" start at the same score`);
    }
  }

  // ---- points rules
  const points: PointsRule[] = [];
  const ruleNames = new Set<string>();
  (raw.points ?? []).forEach((pr, i) => {
    const p = ["points", i];
    checkName("points rule", pr.rule, [...p, "rule"], d, false);
    if (ruleNames.has(pr.rule)) d.error("rule", [...p, "rule"], `points rule "${pr.rule}" is declared twice`);
    ruleNames.add(pr.rule);
    const on = asList(pr.on);
    if (!checkTypes(on, [...p, "on"], `points rule "${pr.rule}"`)) return;
    const recordFields = fieldsOf(on);
    const scoreGuard = { g: "G3" as const, why: "points depend on records, never on the score itself" };
    const when = pr.when === undefined ? undefined : compileExpr(pr.when, [...p, "when"], { record: recordFields, what: `the condition of points rule "${pr.rule}"`, scoreGuardrail: scoreGuard }, d);
    let pts: number | CompiledExpr | undefined;
    if (typeof pr.points === "number") pts = pr.points;
    else pts = compileExpr(pr.points, [...p, "points"], { record: recordFields, what: `the points of rule "${pr.rule}"`, scoreGuardrail: scoreGuard }, d);
    if (!pr.cap) {
      d.guard("G6", p, `points rule "${pr.rule}" has no cap; add cap: { total: …, per: … } so no run of records can pile up without bound; ${label("G6")}`);
      return;
    }
    const per = duration(pr.cap.per, [...p, "cap", "per"], d, "cap period");
    const forOfRule = pr.for === undefined ? undefined : parseDuration(pr.for);
    if (per && (durationExceeds(ONE_DAY, per, zone) || (forOfRule && durationExceeds(forOfRule, per, zone)))) {
      d.guard("G6", [...p, "cap", "per"], `the cap of points rule "${pr.rule}" counts per ${per.iso}; a cap's period must be at least one day (P1D) and at least as long as the points last ("for": ${forOfRule?.iso ?? "none"}), or points granted in one period would still count in the next and the cap would limit nothing; ${label("G6")}: ${guardrails.G6.rule}`);
    }
    if (pr.cap.total === 0) d.error("rule", [...p, "cap", "total"], `cap total of "${pr.rule}" is 0, so the rule can never count`);
    const direction: 1 | -1 = pr.cap.total < 0 ? -1 : 1;
    if (typeof pr.points === "number" && pr.points !== 0 && Math.sign(pr.points) !== direction) {
      d.error("rule", [...p, "points"], `points ${pr.points} and cap total ${pr.cap.total} of "${pr.rule}" have opposite signs; the cap's sign says whether the rule adds or subtracts`);
    }
    const forDur = duration(pr.for, [...p, "for"], d, "duration");
    if (direction < 0) {
      if (!forDur) {
        if (pr.for === undefined) d.guard("G4", p, `points rule "${pr.rule}" subtracts points but has no "for" duration, so they would never expire; ${label("G4")}`);
      } else {
        for (const t of on) {
          const max = maxFor(t, [...p, "on"], `points rule "${pr.rule}"`);
          if (max && durationExceeds(forDur, max, zone)) {
            d.guard("G4", [...p, "for"], `points rule "${pr.rule}" lasts ${forDur.iso}, longer than the ${records.get(t)?.severity} maximum of ${max.iso} for "${t}"; ${label("G4")}`);
          }
        }
      }
    }
    if (!per || pts === undefined || (pr.when !== undefined && !when)) return;
    points.push({ rule: pr.rule, on, when, points: pts, direction, for: forDur, cap: { total: pr.cap.total, per }, description: pr.description });
  });

  // ---- proportionality: one minor record may not cross more than one tier
  const widths: { name: string; width: number }[] = [];
  for (let i = 1; i < tiers.length - 1; i++) {
    widths.push({ name: (tiers[i] as { name: string }).name, width: (tiers[i - 1] as { min: number }).min - (tiers[i] as { min: number }).min });
  }
  const narrowest = widths.sort((a, b) => a.width - b.width)[0];
  if (narrowest) {
    for (const [typeName, rt] of records) {
      if (rt.severity !== "minor") continue;
      let impact = 0;
      let culprit: number | undefined;
      (raw.points ?? []).forEach((pr, i) => {
        if (!asList(pr.on).includes(typeName) || !pr.cap) return;
        const capAbs = Math.abs(pr.cap.total);
        const one = typeof pr.points === "number" ? Math.min(Math.abs(pr.points), capAbs) : capAbs;
        impact += one;
        culprit ??= i;
      });
      if (impact > narrowest.width && culprit !== undefined) {
        d.guard("G6", ["points", culprit], `a single minor "${typeName}" record can move the score by ${impact} points, more than tier "${narrowest.name}" is wide (${narrowest.width}), so one minor record could cross more than one tier; lower the points or the cap; ${label("G6")}`);
      }
    }
  }

  // ---- lists
  const lists = new Map<string, ListDef>();
  for (const [listName, l] of Object.entries(raw.lists ?? {})) {
    const p = ["lists", listName];
    checkName("list", listName, p, d);
    const enter = normaliseTrigger(l.enter);
    const leave = normaliseTrigger(l.leave);
    let ok = true;
    if (enter && !checkTypes(enter.on, [...p, "enter"], `list "${listName}"`)) ok = false;
    if (leave && !checkTypes(leave.on, [...p, "leave"], `list "${listName}"`)) ok = false;
    const forDur = duration(l.for, [...p, "for"], d, "duration");
    let enterWhen: CompiledExpr | undefined;
    let leaveWhen: CompiledExpr | undefined;
    let when: CompiledExpr | undefined;
    const scoreGuard = { g: "G3" as const, why: `"${listName}" is a restrict list, and a score alone never restricts` };
    if (ok && enter?.when !== undefined) {
      enterWhen = compileExpr(enter.when, [...p, "enter", "when"], { record: fieldsOf(enter.on), what: `the entry condition of list "${listName}"`, ...(l.effect === "restrict" ? { scoreGuardrail: scoreGuard } : {}) }, d);
      if (!enterWhen) ok = false;
    }
    if (ok && leave?.when !== undefined) {
      leaveWhen = compileExpr(leave.when, [...p, "leave", "when"], { record: fieldsOf(leave.on), entry: fieldsOf(enter?.on ?? []), what: `the leave condition of list "${listName}"`, ...(l.effect === "restrict" ? { scoreGuardrail: scoreGuard } : {}) }, d);
      if (!leaveWhen) ok = false;
    }
    if (l.effect === "restrict") {
      if (l.when !== undefined) {
        d.guard("G3", [...p, "when"], `restrict list "${listName}" has a "when" condition on score or tier; a restrict list is entered only by records, because a score alone never restricts; ${label("G3")}`);
        ok = false;
      }
      if (!enter) {
        d.guard("G3", p, `restrict list "${listName}" has no "enter" record types; a restrict list is entered only by records; ${label("G3")}`);
        ok = false;
      }
      if (l.for === undefined) {
        d.guard("G4", p, `restrict list "${listName}" has no "for" duration, so membership would never end; ${label("G4")}`);
      } else if (forDur && enter) {
        for (const t of enter.on) {
          const max = maxFor(t, [...p, "enter"], `restrict list "${listName}"`);
          if (max && durationExceeds(forDur, max, zone)) {
            d.guard("G4", [...p, "for"], `restrict list "${listName}" lasts ${forDur.iso}, longer than the ${records.get(t)?.severity} maximum of ${max.iso} for "${t}"; ${label("G4")}`);
          }
        }
      }
    } else {
      if (!enter && l.when === undefined) {
        d.error("rule", p, `privilege list "${listName}" needs "enter" record types or a "when" condition on score or tier`);
        ok = false;
      }
      if (enter && l.when !== undefined) {
        d.error("rule", p, `privilege list "${listName}" has both "enter" and "when"; use one`);
        ok = false;
      }
      if (l.when !== undefined) {
        when = compileExpr(l.when, [...p, "when"], { score: true, what: `the condition of list "${listName}"` }, d);
        if (!when) ok = false;
      }
      if (leave && !enter) {
        d.error("rule", [...p, "leave"], `list "${listName}" has "leave" records but no "enter" records`);
        ok = false;
      }
    }
    const earlyExit = duration(l["early-exit"]?.after, [...p, "early-exit", "after"], d, "early-exit period");
    if (l["early-exit"] !== undefined) {
      if (l.effect !== "restrict") {
        d.error("rule", [...p, "early-exit"], `early exit is a way off a restrict list; "${listName}" is a privilege list`);
        ok = false;
      } else if (earlyExit && forDur && !durationExceeds(forDur, earlyExit, zone)) {
        d.error("rule", [...p, "early-exit", "after"], `early exit after ${earlyExit.iso} is not earlier than the list's own end (${forDur.iso})`);
        ok = false;
      }
    }
    if (!ok) continue;
    lists.set(listName, {
      name: listName,
      effect: l.effect,
      enter: enter ? { on: enter.on, when: enterWhen } : undefined,
      leave: leave ? { on: leave.on, when: leaveWhen } : undefined,
      for: forDur,
      earlyExit,
      when,
      description: l.description,
    });
  }

  // ---- contexts
  const contexts = new Map<string, ContextDef>();
  for (const [ctxName, c] of Object.entries(raw.contexts ?? {})) {
    const p = ["contexts", ctxName];
    checkName("context", ctxName, p, d);
    c.related.forEach((cat, i) => {
      checkName("related category", cat, [...p, "related", i], d, false);
      if (!categories.has(canon(cat))) d.error("reference", [...p, "related", i], `context "${ctxName}" relates category "${cat}", but no record type has that category (known: ${[...categories].sort().join(", ")})`);
    });
    const why = (c.why ?? "").trim();
    if (c.related.length > 0 && why.length < 10) {
      d.guard("G3", p, `context "${ctxName}" relates categories without a written justification ("why"); ${label("G3")}`);
    }
    contexts.set(ctxName, { name: ctxName, related: c.related, why, description: c.description });
  }

  // ---- measures
  const measures: MeasureDef[] = [];
  const measureNames = new Set<string>();
  (raw.measures ?? []).forEach((m, i) => {
    const p = ["measures", i];
    checkName("measure", m.measure, [...p, "measure"], d, false);
    if (measureNames.has(m.measure)) d.error("rule", [...p, "measure"], `measure "${m.measure}" is declared twice`);
    measureNames.add(m.measure);
    const ctx = contexts.get(m.context);
    if (!ctx && raw.contexts?.[m.context] === undefined) d.error("reference", [...p, "context"], `measure "${m.measure}" names context "${m.context}", which is not declared under contexts`);
    let ok = true;
    m.lists.forEach((ln, j) => {
      const rawList = raw.lists?.[ln];
      if (!rawList) {
        d.error("reference", [...p, "lists", j], `measure "${m.measure}" names list "${ln}", which is not declared under lists`);
        ok = false;
        return;
      }
      if (m.effect === "deny") {
        if (rawList.effect !== "restrict") {
          d.guard("G3", [...p, "lists", j], `deny measure "${m.measure}" uses privilege list "${ln}", which may be entered by score or tier; a deny may only come from a restrict list; ${label("G3")}`);
          ok = false;
          return;
        }
        if (ctx) {
          for (const t of normaliseTrigger(rawList.enter)?.on ?? []) {
            const cat = records.get(t)?.category;
            if (cat !== undefined && !ctx.related.some((x) => canon(x) === canon(cat))) {
              d.guard("G3", [...p, "lists", j], `deny measure "${m.measure}" restricts "${m.context}" because of "${t}" records (category "${cat}"), but context "${m.context}" does not declare "${cat}" related (it relates: ${ctx.related.join(", ") || "nothing"}); no detrimental treatment in unrelated contexts; ${label("G3")}`);
              ok = false;
            }
          }
        }
      } else if (rawList.effect !== "privilege") {
        d.error("rule", [...p, "lists", j], `privilege measure "${m.measure}" uses restrict list "${ln}"; privileges come from privilege lists`);
        ok = false;
      }
    });
    if (!m.code) {
      if (m.effect === "deny") d.guard("G5", p, `deny measure "${m.measure}" has no reason code ("code"); ${label("G5")}`);
      else d.error("rule", p, `measure "${m.measure}" needs a reason code ("code")`);
      ok = false;
    }
    let notice: IsoDuration = ZERO;
    let noticeReason: string | undefined;
    if (m.effect === "deny") {
      if (!m.basis || m.basis.trim().length < 5) {
        d.guard("G5", p, `deny measure "${m.measure}" states no legal basis ("basis"); ${label("G5")}`);
        ok = false;
      }
      if (m.notice === undefined) {
        d.guard("G5", p, `deny measure "${m.measure}" has no notice period ("notice"); the subject must be told before it takes effect; ${label("G5")}`);
        ok = false;
      } else {
        const periodText = typeof m.notice === "string" ? m.notice : m.notice.period;
        noticeReason = typeof m.notice === "string" ? undefined : m.notice.reason?.trim() || undefined;
        const dur = duration(periodText, [...p, "notice"], d, "notice period");
        if (dur) {
          notice = dur;
          const isZero = !durationExceeds(dur, ZERO);
          if (isZero && !noticeReason) {
            d.guard("G5", [...p, "notice"], `deny measure "${m.measure}" takes effect without notice but gives no reason; write notice: { period: PT0S, reason: "…" }; ${label("G5")}`);
            ok = false;
          }
        } else ok = false;
      }
    } else if (m.notice !== undefined) {
      d.warn("rule", [...p, "notice"], `privilege measure "${m.measure}" has a notice period; privileges apply at once, so it is ignored`);
    }
    if (!ok || !ctx) return;
    measures.push({ measure: m.measure, context: m.context, effect: m.effect, lists: m.lists, code: m.code as string, basis: m.basis?.trim(), notice, noticeReason, description: m.description });
  });

  // ---- screening
  let names: { threshold: number } | undefined;
  if (raw.screening?.names) {
    const n = raw.screening.names;
    const outcome = (n.outcome ?? "possible").toLowerCase();
    if (outcome !== "possible" && outcome !== "review") {
      d.guard("G8", ["screening", "names", "outcome"], `name screening outcome "${n.outcome}": a name-similarity hit can only be a possible match for human review; ${label("G8")}: ${guardrails.G8.rule}`);
    }
    if (n.threshold !== undefined && n.threshold >= 1) {
      d.warn("rule", ["screening", "names", "threshold"], "a threshold of 1 only matches identical names");
    }
    names = { threshold: n.threshold ?? 0.85 };
  }

  if (d.errors.length > 0 || effective === undefined) return undefined;
  return {
    standing: 1,
    id: raw.policy,
    version: raw.version,
    title: raw.title,
    effective,
    timezone: zone,
    severity,
    identifiers,
    records,
    score: { base: raw.score.base, tiers },
    points,
    lists,
    contexts,
    measures,
    screening: { names },
    catalogue: { id: catalogue.id, version: catalogue.version, hash: catalogue.hash },
    text,
    hash: sha256Hex(text),
    ref: `${raw.policy}@${raw.version}`,
  };
}

/** One field's JSON Schema at ingest and the sentence that explains a failure. */
interface FieldValidation {
  readonly name: string;
  readonly required: boolean;
  readonly schema: Record<string, unknown>;
  readonly expected: string;
}

const ISO_DURATION = "^P(?!$)(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+(\\.\\d+)?S)?)?$";

function fieldValidation(name: string, kind: FieldKind | "boolean", values: readonly string[] | undefined, required: boolean, legacy: boolean): FieldValidation {
  const v = (schema: Record<string, unknown>, expected: string): FieldValidation => ({ name, required, schema, expected });
  switch (kind) {
    case "amount":
      return v({ type: "number" }, "a number");
    case "count":
      // A legacy integer field kept its old range, so records stored under it stay valid.
      return legacy ? v({ type: "integer" }, "a whole number") : v({ type: "integer", minimum: 0 }, "a whole number, 0 or more");
    case "duration":
      return v({ type: "string", pattern: ISO_DURATION }, "an ISO 8601 duration such as P6M");
    case "date":
      return v({ type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$" }, "a date YYYY-MM-DD");
    case "reference":
      return legacy ? v({ type: "string", maxLength: 4096 }, "a string of at most 4096 characters") : v({ type: "string", minLength: 1, maxLength: 200 }, "a reference of 1 to 200 characters");
    case "enum":
      return v({ enum: [...(values ?? [])] }, `one of ${(values ?? []).join(", ")}`);
    case "text":
      return v({ type: "string", maxLength: 4096 }, "text of at most 4096 characters");
    case "boolean":
      return v({ type: "boolean" }, "true or false");
  }
}

function buildFieldValidator(fields: readonly FieldValidation[]): (v: unknown) => string[] {
  const validate = fieldSchemaAjv.compile({
    type: "object",
    additionalProperties: false,
    properties: Object.fromEntries(fields.map((f) => [f.name, f.schema])),
    required: fields.filter((f) => f.required).map((f) => f.name),
  });
  const expected = new Map(fields.map((f) => [f.name, f.expected]));
  return (v) => {
    if (validate(v ?? {})) return [];
    return (validate.errors ?? []).map((e) => {
      const at = e.instancePath ? `fields${e.instancePath.replace(/\//g, ".")}` : "fields";
      if (e.keyword === "additionalProperties") return `fields.${(e.params as { additionalProperty: string }).additionalProperty} is not a field of this record type`;
      if (e.keyword === "required") return `fields.${(e.params as { missingProperty: string }).missingProperty} is required`;
      const field = e.instancePath.split("/")[1]?.replace(/~1/g, "/").replace(/~0/g, "~") ?? "";
      const want = expected.get(field);
      if (e.keyword === "pattern" && want) return `${at} must be ${want}`;
      if (e.keyword === "enum" && want) return `${at} must be ${want}`;
      return `${at} ${e.message ?? "is invalid"}`;
    });
  };
}

/** A category must come from the catalogue; the guardrail says why one that does not is refused. */
function checkCategory(category: string, path: Path, catalogue: Catalogue, d: Diagnostics): void {
  const cat = categoryOf(catalogue, category);
  if (cat) return;
  const ground = prohibitedGround(category);
  if (ground) {
    checkName("category", category, path, d, false);
    return;
  }
  if (checkLaundering("category", category, path, d, false)) return;
  const known = [...catalogue.categories.keys()].sort().join(", ");
  d.guard("G1", path, `category "${category}" is not in the catalogue of permitted record categories (${catalogue.id} ${catalogue.version}); only what the catalogue lists may be recorded, so that nothing about a prohibited ground can be recorded under another name; permitted: ${known}; ${label("G1")}: ${guardrails.G1.rule}`);
}

/**
 * An enum value that looks like a case, docket, plate or identity number rather than a
 * kind of thing. Years and year ranges ("2025-26", a tax year) are kinds of thing;
 * offence codes ("SP30") are short.
 */
function identifierLike(value: string): boolean {
  const withoutYears = value.replace(/(?<!\d)(19|20)\d\d([-/]\d\d(\d\d)?)?(?!\d)/g, "");
  const digits = (withoutYears.match(/\d/g) ?? []).length;
  const compact = value.replace(/[\s-]/g, "");
  const plate = /^[A-Za-z0-9]{5,9}$/.test(compact) && /[A-Za-z]/.test(compact) && (compact.match(/\d/g) ?? []).length >= 3;
  return digits >= 5 || plate || /\((19|20)\d\d\)/.test(value) || /^[A-Z]{2}\d{2}\s?[A-Z]{3}$/i.test(value) || /^[\u4e00-\u9fff][A-Z][A-Z0-9]{5}$/.test(value);
}

function checkField(fname: string, fdef: string | RawField, fp: Path, organisation: boolean, d: Diagnostics): { def: FieldDef; validation: FieldValidation } | undefined {
  checkName("field", fname, fp, d, true, organisation);
  const ground = prohibitedGround(fname, { organisation });
  // A business's trading name shown as text on its own inspection is never read by a
  // rule and names no person; on a person's record any name is refused.
  const shownOnly = organisation && (typeof fdef === "string" ? fdef : (fdef.kind ?? fdef.type)) === "text";
  const who = shownOnly ? undefined : identityTerm(fname);
  const other = otherPersonTerm(fname);
  const status = statusTerm(fname);
  if (ground) {
    // reported by checkName, with G2 as well when it is a family word
  } else if (other) {
    d.guard("G2", fp, `field "${fname}" would name or point at another person ("${other}"); a record is about its subject only; ${label("G2")}: ${guardrails.G2.rule}`, { key: true });
  } else if (who) {
    d.guard("G7", fp, `field "${fname}" would say who a person is inside a record ("${who}"); the subject is named only by the record's identifier; ${label("G7")}: ${guardrails.G7.rule}`, { key: true });
  } else if (status) {
    d.guard("G7", fp, `field "${fname}" carries a status ("${status}"); treatment may not depend on rank, office, party membership, VIP or privileged status; ${label("G7")}: ${guardrails.G7.rule}`, { key: true });
  } else {
    // An organisation's inspection may carry its own rating; a person's record may not carry a score.
    const l = launderingTerm(fname);
    if (l && (l.guardrail === "G8" || !organisation)) checkLaundering("field", fname, fp, d);
  }
  const raw: RawField = typeof fdef === "string" ? { kind: fdef } : fdef;
  const spelled = raw.kind ?? raw.type;
  const kp = typeof fdef === "string" ? fp : [...fp, raw.kind !== undefined ? "kind" : "type"];
  const kinds = fieldKinds.join(", ");
  if (spelled === undefined) {
    d.error("rule", fp, `field "${fname}" needs a kind: one of ${kinds}`, { key: true });
    return undefined;
  }
  let kind: FieldKind | "boolean";
  let legacy = false;
  if ((fieldKinds as readonly string[]).includes(spelled)) kind = spelled as FieldKind;
  else if (Object.hasOwn(legacyFieldTypes, spelled)) {
    kind = legacyFieldTypes[spelled as LegacyFieldType];
    legacy = true;
    d.warn("rule", kp, `field "${fname}" is declared "${spelled}", which is not one of the field kinds; it is read as "${kind}"${spelled === "string" ? " (a reference: it can only be matched with another record's reference, never with a literal)" : ""}; declare one of ${kinds}`);
  } else {
    const person = otherPersonTerm(spelled);
    if (person) d.guard("G2", kp, `field kind "${spelled}" would point at another person; no field kind can; the kinds are ${kinds}; ${label("G2")}: ${guardrails.G2.rule}`);
    else if (identityTerm(spelled) || /^(person|people|subject|individual|citizen|identity)$/i.test(spelled)) d.guard("G7", kp, `field kind "${spelled}" would say who a person is; no field kind can; the kinds are ${kinds}; ${label("G7")}: ${guardrails.G7.rule}`);
    else d.error("rule", kp, `field "${fname}" has kind "${spelled}", which is not a field kind; declare one of ${kinds} (string, number, integer and boolean are deprecated spellings of reference, amount, count and a yes/no field)`);
    return undefined;
  }
  let values: string[] | undefined;
  if (kind === "enum") {
    if (!raw.values || raw.values.length === 0) {
      d.error("rule", fp, `enum field "${fname}" needs its values: { kind: enum, values: [...] }`, { key: true });
      return undefined;
    }
    values = raw.values;
    values.forEach((v, i) => checkEnumValue(fname, v, [...fp, "values", i], organisation, d));
  } else if (raw.values !== undefined) {
    d.error("rule", [...fp, "values"], `field "${fname}" is of kind ${kind}; only an enum field declares values`);
  }
  const required = raw.required ?? true;
  const type: FieldType = kind === "amount" ? "number" : kind === "count" ? "integer" : kind === "boolean" ? "boolean" : kind === "date" ? "date" : "string";
  return { def: { name: fname, kind, type, values, required, description: raw.description }, validation: fieldValidation(fname, kind, values, required, legacy) };
}

/** Enum values are read by rules, so they get every check a name gets, and may not be identifiers. */
function checkEnumValue(field: string, value: string, path: Path, organisation: boolean, d: Diagnostics): void {
  const ground = prohibitedGroundInValue(value, { organisation });
  const what = `value "${value}" of enum field "${field}"`;
  if (ground) {
    d.guard("G1", path, `${what} is about ${ground.ground} ("${ground.term}"); ${label("G1")}: ${guardrails.G1.rule}`);
    return;
  }
  const other = otherPersonTerm(value, { value: true });
  if (other) return d.guard("G2", path, `${what} names another person ("${other}"); ${label("G2")}: ${guardrails.G2.rule}`);
  const status = statusTerm(value);
  if (status) return d.guard("G7", path, `${what} is a status ("${status}"); treatment may not depend on rank, office, party membership, VIP or privileged status; ${label("G7")}: ${guardrails.G7.rule}`);
  const who = identityTerm(value);
  if (who) return d.guard("G7", path, `${what} says who someone is ("${who}"); ${label("G7")}: ${guardrails.G7.rule}`);
  if (identifierLike(value)) return d.guard("G7", path, `${what} looks like a case, docket, plate or identity number; an enum lists kinds of thing, and a list of particular cases is the per-case exception that "unless" is refused for; ${label("G7")}: ${guardrails.G7.rule}`);
  const l = launderingTerm(value);
  if (l && (l.guardrail === "G8" || !organisation)) d.guard(l.guardrail, path, `${what} would bring ${l.guardrail === "G3" ? "a score, tier or rating" : "a name-screening result"} back as a record ("${l.term}"); ${label(l.guardrail)}: ${guardrails[l.guardrail].rule}`);
}

export function formatDiagnostic(x: PolicyDiagnostic, kind: "error" | "warning" = "error"): string {
  const tag = x.code.startsWith("G") ? `${x.code} ${guardrails[x.code as GuardrailCode].name}` : x.code;
  return `${x.file}:${x.line}:${x.col}: ${kind} [${tag}] ${x.message}`;
}
