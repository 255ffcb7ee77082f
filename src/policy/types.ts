import type { IsoDuration } from "../time.js";

export const severityClasses = ["minor", "general", "serious"] as const;
export type SeverityClass = (typeof severityClasses)[number];

/**
 * What a record field may hold. A closed set on purpose: none of them can name a
 * person, and each says how an expression may use it (docs/policy-language.md).
 */
export const fieldKinds = ["amount", "count", "duration", "date", "reference", "enum", "text"] as const;
export type FieldKind = (typeof fieldKinds)[number];

/**
 * Spellings from before field kinds, still accepted (with a warning) so that published
 * versions keep compiling and stored records keep validating. Each maps to the
 * strictest kind that keeps its old meaning: a string becomes a reference, which can
 * only be matched against another record's reference, never against a literal.
 */
export const legacyFieldTypes = { string: "reference", number: "amount", integer: "count", date: "date", boolean: "boolean", money: "amount", currency: "amount", decimal: "amount" } as const;
export type LegacyFieldType = keyof typeof legacyFieldTypes;

/** How a field's value looks in JSON: what readers that predate kinds expect. */
export type FieldType = "string" | "number" | "integer" | "boolean" | "date";

export interface FieldDef {
  readonly name: string;
  /** "boolean" only for a field declared with the legacy type boolean. */
  readonly kind: FieldKind | "boolean";
  readonly type: FieldType;
  /** The declared values of an enum field. */
  readonly values: readonly string[] | undefined;
  readonly required: boolean;
  readonly description: string | undefined;
}

export interface RecordTypeDef {
  readonly name: string;
  readonly category: string;
  readonly severity: SeverityClass | undefined;
  readonly sources: readonly string[];
  readonly fields: readonly FieldDef[];
  readonly evidence: "required" | "optional";
  readonly description: string | undefined;
  readonly dispute: { readonly deadline: IsoDuration; readonly suspend: boolean };
  /** Validates `fields` of an incoming record; returns readable problems. */
  readonly validateFields: (fields: unknown) => string[];
  /** Who records of this type can be about, from the category in the catalogue. */
  readonly subjects: readonly ("person" | "organisation")[];
}

/** A compiled CEL expression: evaluates against bindings, never throws. */
export interface CompiledExpr {
  readonly source: string;
  readonly evalBool: (bindings: ExprBindings) => boolean;
  readonly evalNumber: (bindings: ExprBindings) => number;
}

export interface ExprBindings {
  record?: Readonly<Record<string, unknown>>;
  entry?: Readonly<Record<string, unknown>>;
  score?: number;
  tier?: string;
}

export interface PointsRule {
  readonly rule: string;
  readonly on: readonly string[];
  readonly when: CompiledExpr | undefined;
  readonly points: number | CompiledExpr;
  /** +1 for rules that can only add, -1 for rules that can only subtract. */
  readonly direction: 1 | -1;
  readonly for: IsoDuration | undefined;
  readonly cap: { readonly total: number; readonly per: IsoDuration };
  readonly description: string | undefined;
}

export interface ListDef {
  readonly name: string;
  readonly effect: "restrict" | "privilege";
  readonly enter: { readonly on: readonly string[]; readonly when: CompiledExpr | undefined } | undefined;
  readonly leave: { readonly on: readonly string[]; readonly when: CompiledExpr | undefined } | undefined;
  readonly for: IsoDuration | undefined;
  /** Restrict lists: a subject may apply to leave once this long has passed since entry. */
  readonly earlyExit: IsoDuration | undefined;
  /** Privilege lists only: a condition on score and tier. */
  readonly when: CompiledExpr | undefined;
  readonly description: string | undefined;
}

export interface ContextDef {
  readonly name: string;
  readonly related: readonly string[];
  readonly why: string;
  readonly description: string | undefined;
}

export interface MeasureDef {
  readonly measure: string;
  readonly context: string;
  readonly effect: "deny" | "privilege";
  readonly lists: readonly string[];
  readonly code: string;
  readonly basis: string | undefined;
  readonly notice: IsoDuration;
  readonly noticeReason: string | undefined;
  readonly description: string | undefined;
}

export interface IdentifierSchemeDef {
  readonly scheme: string;
  /** Records naming an unknown identifier of this scheme create the subject. */
  readonly registers: boolean;
}

export interface CompiledPolicy {
  readonly standing: 1;
  readonly id: string;
  readonly version: string;
  readonly title: string | undefined;
  readonly effective: number;
  readonly timezone: string;
  readonly severity: Readonly<Record<SeverityClass, IsoDuration>>;
  /** Undefined means every scheme registers subjects. */
  readonly identifiers: ReadonlyMap<string, IdentifierSchemeDef> | undefined;
  readonly records: ReadonlyMap<string, RecordTypeDef>;
  readonly score: { readonly base: number; readonly tiers: readonly { name: string; min: number }[] };
  readonly points: readonly PointsRule[];
  readonly lists: ReadonlyMap<string, ListDef>;
  readonly contexts: ReadonlyMap<string, ContextDef>;
  readonly measures: readonly MeasureDef[];
  readonly screening: { readonly names: { readonly threshold: number } | undefined };
  /** The catalogue of permitted record categories the policy was compiled against. */
  readonly catalogue: { readonly id: string; readonly version: string; readonly hash: string };
  /** The YAML text as published; the policy hash is over it. */
  readonly text: string;
  readonly hash: string;
  /** "id@version", as decisions cite it. */
  readonly ref: string;
}

export type GuardrailCode = "G1" | "G2" | "G3" | "G4" | "G5" | "G6" | "G7" | "G8";

export const guardrails: Record<GuardrailCode, { name: string; rule: string }> = {
  G1: {
    name: "prohibited-grounds",
    rule: "every record type belongs to a category of the catalogue of permitted record categories, and no name, field, value or expression may be about a prohibited ground (political opinion, speech or expression, religion or belief, ethnic origin, association or assembly, trade-union membership, health, sex life or orientation, biometrics, family or relationships)",
  },
  G2: {
    name: "no-guilt-by-association",
    rule: "every rule, list and measure applies only to the subject of the records that caused it; no key, field or expression may name or reach another person",
  },
  G3: {
    name: "score-alone-never-restricts",
    rule: "a deny measure may only come from a restrict list entered by records whose categories the measure's context declares related, with a written justification; score and tier may only grant privileges, and no record may carry a score, tier or rating back in",
  },
  G4: {
    name: "everything-negative-expires",
    rule: "every negative points rule, restrict list and deny measure has a finite duration within its record type's severity class maximum",
  },
  G5: {
    name: "basis-and-notice",
    rule: "every deny measure states its legal basis and reason code and takes effect only after its notice period; a zero notice period needs a stated reason",
  },
  G6: {
    name: "proportionality",
    rule: "points rules carry caps per period of at least a day and at least as long as the points last, and no single minor record may move a subject across more than one tier",
  },
  G7: {
    name: "no-exemptions",
    rule: "there is no per-subject or per-case override, no field or expression may say who the subject is (id, identifiers, name) or what status they hold (rank, office, party membership, VIP, privilege), and no reference may be compared with a literal",
  },
  G8: {
    name: "fuzzy-is-never-final",
    rule: "a name-similarity hit is a possible match for human review, never an automatic deny, and never a record",
  },
};

export interface PolicyDiagnostic {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** A guardrail code, or a rule name for ordinary errors (yaml, schema, reference, cel). */
  readonly code: GuardrailCode | "yaml" | "schema" | "reference" | "cel" | "rule";
  readonly message: string;
  /** The JSON path in the policy, e.g. lists.aviation-banned.for */
  readonly path: string;
}

export type CompileResult =
  | { readonly ok: true; readonly policy: CompiledPolicy; readonly warnings: readonly PolicyDiagnostic[] }
  | { readonly ok: false; readonly errors: readonly PolicyDiagnostic[] };
