// The catalogue of permitted record categories: the allow-list every policy's record
// types must name a category from. It is a document of its own (catalogue/categories.yaml),
// versioned and hashed, because what may be recorded about people at all is a decision
// above any one policy, and an allow-list cannot be beaten by a synonym the way a word
// list can. Pure: the shell loads the text, stores versions and journals changes.
import { Ajv } from "ajv";
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { sha256Hex } from "../canonical.js";
import { defaultCatalogueText } from "./catalogue-default.js";
import { identityTerm, launderingTerm, otherPersonTerm, prohibitedGround, statusTerm } from "./grounds.js";
import { guardrails, type GuardrailCode, type PolicyDiagnostic } from "./types.js";

export const subjectKinds = ["person", "organisation"] as const;
export type SubjectKind = (typeof subjectKinds)[number];

export interface CategoryDef {
  readonly name: string;
  readonly subjects: readonly SubjectKind[];
  readonly description: string;
  /** The law or rule under which records of this category may be held. */
  readonly basis: string;
  /** Other names a policy may use for this category ("library-fines" for library-loans). */
  readonly aliases: readonly string[];
}

export interface Catalogue {
  readonly id: string;
  readonly version: string;
  /** SHA-256 of the text as published: what a compiled policy and the journal cite. */
  readonly hash: string;
  readonly text: string;
  readonly categories: ReadonlyMap<string, CategoryDef>;
}

/** The category a policy names, by its name or one of its aliases. */
export function categoryOf(c: Catalogue, name: string): CategoryDef | undefined {
  const direct = c.categories.get(name);
  if (direct) return direct;
  for (const def of c.categories.values()) if (def.aliases.includes(name)) return def;
  return undefined;
}

export type CatalogueResult =
  | { readonly ok: true; readonly catalogue: Catalogue }
  | { readonly ok: false; readonly errors: readonly PolicyDiagnostic[] };

const name = { type: "string", pattern: "^[a-z][a-z0-9]*(-[a-z0-9]+)*$", maxLength: 80 };
export const catalogueSchema = {
  type: "object",
  additionalProperties: false,
  required: ["catalogue", "version", "categories"],
  properties: {
    catalogue: name,
    version: { type: "string", minLength: 1, maxLength: 64 },
    categories: {
      type: "object",
      minProperties: 1,
      propertyNames: name,
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        required: ["subjects", "description", "basis"],
        properties: {
          subjects: { type: "array", minItems: 1, uniqueItems: true, items: { enum: [...subjectKinds] } },
          description: { type: "string", minLength: 10, maxLength: 2000 },
          basis: { type: "string", minLength: 5, maxLength: 2000 },
          aliases: { type: "array", uniqueItems: true, items: name },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: false }).compile(catalogueSchema);

interface RawCatalogue {
  catalogue: string;
  version: string;
  categories: Record<string, { subjects: SubjectKind[]; description: string; basis: string; aliases?: string[] }>;
}

function label(g: GuardrailCode): string {
  return `guardrail ${g.slice(1)} (${guardrails[g].name})`;
}

/**
 * Parses and checks a catalogue. A category is refused when its name is about a
 * prohibited ground (G1), names another person (G2), would bring back a score, tier or
 * rating (G3) or a name-screening result (G8), or says who someone is or what status
 * they hold (G7).
 */
export function parseCatalogue(text: string, file = "<catalogue>"): CatalogueResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const errors: PolicyDiagnostic[] = [];
  const at = (path: readonly string[], code: PolicyDiagnostic["code"], message: string): void => {
    const node = keyNode(doc, path);
    const pos = lines.linePos(node?.range?.[0] ?? 0);
    errors.push({ file, line: pos.line, col: pos.col, code, message, path: path.join(".") });
  };
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      errors.push({ file, line: pos.line, col: pos.col, code: "yaml", message: e.message.split("\n")[0] ?? e.message, path: "" });
    }
    return { ok: false, errors };
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 10 });
  if (!validate(raw)) {
    for (const e of validate.errors ?? []) {
      const path = e.instancePath.split("/").slice(1);
      at(path, "schema", `${path.join(".") || "the catalogue"} ${e.message ?? "is invalid"}${e.keyword === "additionalProperties" ? ` ("${(e.params as { additionalProperty: string }).additionalProperty}")` : ""}`);
    }
    return { ok: false, errors };
  }
  const r = raw as RawCatalogue;
  const categories = new Map<string, CategoryDef>();
  const taken = new Set(Object.keys(r.categories));
  for (const [cat, def] of Object.entries(r.categories)) {
    const path = ["categories", cat];
    const organisationOnly = !def.subjects.includes("person");
    for (const alias of def.aliases ?? []) {
      if (taken.has(alias)) at(path, "schema", `alias "${alias}" of category "${cat}" is already a category or another category's alias`);
      taken.add(alias);
    }
    // An alias is a name a policy can use, so it is checked like one.
    for (const alias of def.aliases ?? []) checkCategoryName(alias, organisationOnly, path, at);
    checkCategoryName(cat, organisationOnly, path, at);
    categories.set(cat, { name: cat, subjects: def.subjects, description: def.description.trim(), basis: def.basis.trim(), aliases: def.aliases ?? [] });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, catalogue: { id: r.catalogue, version: r.version, hash: sha256Hex(text), text, categories } };
}

function checkCategoryName(cat: string, organisationOnly: boolean, path: readonly string[], at: (path: readonly string[], code: PolicyDiagnostic["code"], message: string) => void): void {
  const ground = prohibitedGround(cat, { organisation: organisationOnly });
  const laundering = launderingTerm(cat);
  const other = otherPersonTerm(cat);
  const who = identityTerm(cat) ?? statusTerm(cat);
  if (ground) at(path, "G1", `category "${cat}" is about ${ground.ground} ("${ground.term}"); ${label("G1")}: ${guardrails.G1.rule}`);
  if (other) at(path, "G2", `category "${cat}" names another person ("${other}"); ${label("G2")}: ${guardrails.G2.rule}`);
  if (laundering) at(path, laundering.guardrail, `category "${cat}" would record ${laundering.guardrail === "G3" ? "a score, tier or rating" : "a name-screening result"} ("${laundering.term}"), which is an outcome, never a record; ${label(laundering.guardrail)}: ${guardrails[laundering.guardrail].rule}`);
  if (who) at(path, "G7", `category "${cat}" is about who someone is or the status they hold ("${who}"); ${label("G7")}: ${guardrails.G7.rule}`);
}

function keyNode(doc: Document.Parsed, path: readonly string[]): Node | undefined {
  let node: unknown = doc.contents;
  let last: Node | undefined;
  for (const seg of path) {
    if (!isMap(node)) return last;
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
    if (!pair) return last;
    last = pair.key as Node;
    node = pair.value;
  }
  return last;
}

/** Parses a catalogue that must be valid, such as the one shipped with the product. */
export function catalogueOrThrow(text: string, file: string): Catalogue {
  const r = parseCatalogue(text, file);
  if (!r.ok) throw new Error(`catalogue ${file} is invalid: ${r.errors.map((e) => `${e.line}:${e.col} [${e.code}] ${e.message}`).join("; ")}`);
  return r.catalogue;
}

/** The catalogue shipped with this version of Standing (catalogue/categories.yaml). */
export const defaultCatalogue: Catalogue = catalogueOrThrow(defaultCatalogueText, "catalogue/categories.yaml");

export interface CatalogueChange {
  readonly from: { readonly version: string; readonly hash: string };
  readonly to: { readonly version: string; readonly hash: string };
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Categories whose subjects, description or basis changed. */
  readonly changed: readonly string[];
}

/**
 * What changes between two catalogues: the content of the journal entry the shell
 * writes when the catalogue is replaced. A new catalogue must carry a new version.
 */
export function diffCatalogues(from: Catalogue, to: Catalogue): CatalogueChange {
  const added = [...to.categories.keys()].filter((c) => !from.categories.has(c)).sort();
  const removed = [...from.categories.keys()].filter((c) => !to.categories.has(c)).sort();
  const changed = [...to.categories.values()]
    .filter((c) => {
      const old = from.categories.get(c.name);
      return old !== undefined && JSON.stringify(old) !== JSON.stringify(c);
    })
    .map((c) => c.name)
    .sort();
  return { from: { version: from.version, hash: from.hash }, to: { version: to.version, hash: to.hash }, added, removed, changed };
}

/** The catalogue as the transparency portal and GET endpoints show it. */
export function catalogueView(c: Catalogue) {
  return {
    catalogue: c.id,
    version: c.version,
    hash: c.hash,
    categories: [...c.categories.values()].map((x) => ({ category: x.name, aliases: x.aliases, subjects: x.subjects, description: x.description, basis: x.basis })),
  };
}
