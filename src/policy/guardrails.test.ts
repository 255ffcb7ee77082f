// Table tests for the guardrails that used to rest on names alone: each row is a small
// edit of the municipal example, in the spelling an author trying to get round the
// rules would use, and the guardrail it must be refused for (or "ok" for ordinary
// wording that must compile). Rows cover every kind of way through found so far:
// folded and split words, regular expressions, other languages, compound field names,
// status, literal references, laundering record types, caps that cap nothing and
// smuggled keys and values.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compilePolicy, formatDiagnostic } from "./compile.js";
import { parseCatalogue } from "./catalogue.js";
import { defaultCatalogueText } from "./catalogue-default.js";
import type { GuardrailCode } from "./types.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const municipal = readFileSync(join(root, "policies", "municipal-credit.yaml"), "utf8");

function edit(from: string, to: string): string {
  const at = municipal.indexOf(from);
  if (at < 0 || municipal.indexOf(from, at + 1) >= 0) throw new Error(`edit target must occur exactly once: ${from}`);
  return municipal.slice(0, at) + to + municipal.slice(at + from.length);
}
const field = (f: string): string => edit("fields: { case: reference, amount: amount }", `fields: { case: reference, amount: amount, ${f} }`);
const entry = (when: string): string => edit("    enter: aviation.onboard-misconduct\n", `    enter: { on: aviation.onboard-misconduct, when: ${JSON.stringify(when)} }\n`);
const listKey = (k: string): string => edit("    for: P2Y\n    early-exit:", `    for: P2Y\n    ${k}\n    early-exit:`);
const recordType = (name: string, category: string): string => edit("  volunteer.service:\n", `  ${name}:\n    category: ${category}\n    severity: general\n    sources: [court]\n  volunteer.service:\n`);
const cap = (per: string): string => edit("cap: { total: -10, per: P1Y }", `cap: { total: -10, per: ${per} }`);
const screening = (names: string): string => `${municipal}\nscreening:\n  names: { ${names} }\n`;

type Want = GuardrailCode | "ok";
const rows: [string, Want, string][] = [
  // meaning split or hidden in expressions
  ["a word built by concatenation", "G1", entry("record.flight != 'chu' + 'rch'")],
  ["a word in a ternary of literals", "G1", entry("record.flight != (true ? 'mos' + 'que' : 'x')")],
  ["a word in a regular expression with alternatives", "G1", entry("record.flight.matches('^(M|m)os(q|k)ue$')")],
  ["a word in a regular expression with a character class", "G1", entry("record.flight.matches('[Cc]hurch')")],
  ["a word spelt letter by letter", "G1", entry("record.flight != 'c.h.u.r.c.h'")],
  ["a word split across two literals", "G1", field("area: { kind: enum, values: [reli, x] }, unit: { kind: enum, values: [gion, y] }").replace("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"record.area == 'reli' && record.unit == 'gion'\" }\n")],
  ["a word spelt one letter per literal", "G1", entry("['c', 'h', 'u', 'r', 'c', 'h'].exists(x, x == 'z')")],
  ["pinyin split into syllables", "G1", entry("record.flight != 'fa lun gong'")],
  // other languages and other words
  ["German church attendance", "G1", recordType("civic.kirchgang", "civil-judgment")],
  ["German compound religious affiliation", "G1", field("religionszugehoerigkeit: { kind: enum, values: [a, b] }")],
  ["pinyin petitioning", "G1", field("shangfang-count: count")],
  ["Chinese characters for a church", "G1", entry("record.flight != '教会'")],
  ["French trade-unionist", "G1", field("syndicaliste: { kind: enum, values: [oui, non] }")],
  ["Spanish pilgrimage", "G1", recordType("viaje.peregrinacion", "civil-judgment")],
  ["a pilgrimage", "G1", recordType("travel.hajj-trip", "aviation-conduct")],
  ["cohabitation before marriage", "G1", recordType("conduct.premarital-cohabitation", "civil-judgment")],
  ["household registration", "G1", field("hukou-type: { kind: enum, values: [urban, rural] }")],
  ["a category outside the catalogue", "G1", recordType("neighbourhood.note", "community-standing")],
  ["a person's health category", "G1", recordType("clinic.visit", "health-records")],
  ["a person's health on an organisation's record", "G1", recordType("restaurant.staff-hiv-status", "food-hygiene")],
  ["a venue compared with a temple", "G1", entry("record.flight != 'temple'")],
  ["Christianity in pinyin as an enum value", "G1", field("faith-kind: { kind: enum, values: [none, jidujiao] }")],
  ["democracy in Chinese characters", "G1", entry("record.flight != '民主'")],
  // field names that carry identity or another person
  ["guarantor-id", "G2", field("guarantor-id: reference")],
  ["guarantorId", "G2", field("guarantorId: reference")],
  ["co-signer", "G2", field("co-signer: reference")],
  ["employer-id", "G2", field("employer-id: reference")],
  ["holder_name", "G7", field("holder_name: text")],
  ["id-number", "G7", field("id-number: reference")],
  ["national_id_number", "G7", field("national_id_number: reference")],
  ["a kind that names a person", "G7", field("debtor: person")],
  ["a kind that names another person", "G2", field("debtor: guarantor")],
  // exemptions by status or by literal
  ["a rank", "G7", field("rank: count")],
  ["a cadre level", "G7", field("cadre-level: count")],
  ["a VIP flag", "G7", field("vip: { kind: enum, values: [yes, no] }")],
  ["an enum value for officials", "G7", field("role: { kind: enum, values: [regular, official] }")],
  ["an enum value for privileged", "G7", field("standing-class: { kind: enum, values: [ordinary, privileged] }")],
  ["party membership", "G7", field("party-member: { kind: enum, values: [yes, no] }")],
  ["party membership in pinyin", "G7", field("dangyuan: { kind: enum, values: [shi, fou] }")],
  ["flight numbers as literals", "G7", entry("!(record.flight in ['CA1234', 'MU5101'])")],
  ["a flight number in a macro", "G7", entry("['CA1234'].exists(x, x == record.flight)")],
  ["a reference read by a function", "G7", entry("record.flight.startsWith('CA')")],
  ["a docket number as a literal", "G7", edit("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"record.case != '(2026) Jing 0105 Zhi 1234'\" }\n")],
  ["docket numbers as enum values", "G7", field("docket: { kind: enum, values: ['(2026) Jing 0105 Zhi 1234', other] }")],
  ["a text field read by a computed key", "G7", field("remarks: text").replace("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"record['re' + 'marks'].contains('x')\" }\n")],
  ["a record read as a whole by a macro", "G7", edit("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"record.exists(k, k == 'case')\" }\n")],
  ["a text field read by a rule", "G7", field("remarks: text").replace("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"size(record.remarks) > 0\" }\n")],
  // laundering through record types
  ["a tier-downgraded record type", "G3", recordType("credit.tier-downgraded", "civil-judgment")],
  ["a credit-rating category", "G3", recordType("bureau.report", "credit-rating")],
  ["a score field on a person's record", "G3", field("credit-score: count")],
  ["a screening-hit record type", "G8", recordType("aviation.watchlist-hit", "aviation-conduct")],
  ["a name-match record type", "G8", recordType("screening.name-match", "aviation-conduct")],
  // caps that cap nothing
  ["a cap per second", "G6", cap("PT1S")],
  ["a cap per 23 hours", "G6", cap("PT23H")],
  ["a cap shorter than the points last", "G6", cap("P1M")],
  // smuggled keys and values
  ["exemptions in German", "G7", listKey("ausnahmen: [x]")],
  ["exemptions in pinyin", "G7", listKey("huo-mian: [x]")],
  ["an exemption as a list effect", "G7", edit("  rail-banned:\n    effect: restrict", "  rail-banned:\n    effect: exempt")],
  ["dependants in German", "G2", listKey("gilt-fuer-angehoerige: true")],
  ["family in French", "G2", listKey("applique-a-la-famille: true")],
  ["relatives in Spanish", "G2", listKey("aplica-a-familiares: true")],
  ["a cascade", "G2", listKey("cascade: linked-accounts")],
  ["a score threshold key", "G3", listKey("min-score: 600")],
  ["fuzzy matching in German", "G8", screening("threshold: 0.9, outcome: possible, unscharfer-abgleich: sperren")],
  ["a refusing screening value in Chinese", "G8", screening("threshold: 0.9, outcome: possible, on-hit: \"拦截\"")],
  ["a fuzzy screening mode", "G8", screening("threshold: 0.8, mode: fuzzy-deny")],
  // ordinary wording that must compile
  ["a case-id field", "ok", field("case-id: reference")],
  ["a persons-injured count", "ok", field("persons-injured: count")],
  ["an other-charges amount", "ok", field("other-charges: amount")],
  ["a restaurant's health inspection", "ok", recordType("restaurant.health-inspection", "food-hygiene")],
  ["bad-faith litigation", "ok", recordType("court.bad-faith-claim", "litigation-conduct")],
  ["a housing-association landlord", "ok", recordType("housing-association.rent-arrears", "housing-tenancy")],
  ["an audit opinion", "ok", recordType("accounts.adverse-audit-opinion", "financial-reporting")],
  ["evidence gathering", "ok", recordType("court.evidence-gathering-obstructed", "litigation-conduct")],
  ["a restaurant's trading name as text", "ok", recordType("restaurant.inspection", "food-hygiene").replace("    sources: [court]\n  volunteer.service:", "    sources: [court]\n    fields: { business-name: text }\n  volunteer.service:")],
  ["a person's name as text", "G7", field("debtor-name: text")],
  ["a category named by its alias", "ok", recordType("library.book-overdue", "library-fines")],
  ["a restaurant inspection under an alias of food-hygiene", "ok", recordType("restaurant.health-inspection", "restaurant-hygiene")],
  ["a record type about the Temple Bar court district", "ok", recordType("court.temple-bar-fine", "civil-judgment")],
  ["months as enum values", "ok", field("month: { kind: enum, values: [january, march, may] }")],
  ["a tax year as an enum value", "ok", field("tax-year: { kind: enum, values: [2024-25, 2025-26] }")],
  ["an offence code as an enum value", "ok", field("code: { kind: enum, values: [SP30, CU80] }")],
  ["a date compared with a commencement date", "ok", field("judgment-date: date").replace("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"record['judgment-date'] >= '2026-01-01'\" }\n")],
  ["a cap per day on points lasting a day", "ok", edit("points: -2, for: P3M, cap: { total: -10, per: P1Y }", "points: -2, for: P1D, cap: { total: -10, per: P1D }")],
];

describe("guardrails against a determined author", () => {
  it.each(rows)("given %s, when compiled, then it is refused for exactly %s (or compiles when ok)", (_what, want, text) => {
    const r = compilePolicy(text, "policy.yaml");
    const shown = r.ok ? "" : r.errors.map((e) => formatDiagnostic(e)).join("\n");
    if (want === "ok") {
      expect(shown).toBe("");
      return;
    }
    expect(r.ok).toBe(false);
    expect([...new Set(r.ok ? [] : r.errors.map((e) => e.code))], shown).toEqual([want]);
  });

  it("given a date field compared for equality with the anniversary of a political event, when compiled, then G1 names the day", () => {
    const text = field("day: date").replace("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"record.day == '2026-06-04'\" }\n");
    const r = compilePolicy(text, "policy.yaml");
    expect(r.ok ? [] : r.errors.map((e) => e.code)).toContain("G1");
    expect(r.ok ? "" : r.errors.map((e) => e.message).join("\n")).toContain("particular days");
  });
});

describe("several ways through at once", () => {
  it("given a smuggled exemption key and a field naming a guarantor, when compiled, then both guardrails are named", () => {
    const text = field("guarantor-id: reference").replace("    for: P2Y\n    early-exit:", "    for: P2Y\n    exempt-officials: true\n    early-exit:");
    const r = compilePolicy(text, "policy.yaml");
    expect([...new Set(r.ok ? [] : r.errors.map((e) => e.code))].sort()).toEqual(["G2", "G7"]);
  });
});

describe("the catalogue a policy is compiled against", () => {
  it("given a catalogue without a category the policy uses, when compiled against it, then G1 refuses that record type's category", () => {
    const narrower = parseCatalogue(defaultCatalogueText.replace(/\n {2}traffic:\n(?: {4}.*\n)+/, "\n"), "narrow.yaml");
    if (!narrower.ok) throw new Error(narrower.errors.map((e) => e.message).join("; "));
    const r = compilePolicy(municipal, "policy.yaml", narrower.catalogue);
    expect(r.ok ? [] : r.errors.map((e) => [e.code, e.path])).toEqual([
      ["G1", "records.traffic.speeding.category"],
      ["G1", "records.traffic.red-light.category"],
      ["G1", "records.traffic.jaywalking.category"],
    ]);
  });

  it("given record types that name a category by an alias and a context that relates it by its name, when compiled, then they are the same category", () => {
    const tax = readFileSync(join(root, "policies", "accepted", "tax-arrears.yaml"), "utf8");
    const aliased = tax.replaceAll("category: tax-compliance", "category: tax-arrears");
    expect(aliased).not.toBe(tax);
    const r = compilePolicy(aliased, "tax.yaml");
    expect(r.ok ? [] : r.errors.map((e) => formatDiagnostic(e))).toEqual([]);
    expect(r.ok && r.policy.measures.map((m) => m.measure)).toContain("no-tax-clearance");
  });

  it("given the default catalogue, when a policy compiles, then it cites the catalogue's id, version and hash", () => {
    const r = compilePolicy(municipal, "policy.yaml");
    const parsed = parseCatalogue(defaultCatalogueText);
    if (!r.ok || !parsed.ok) throw new Error("expected both to parse");
    expect(r.policy.catalogue).toEqual({ id: parsed.catalogue.id, version: parsed.catalogue.version, hash: parsed.catalogue.hash });
  });
});

describe("field kinds", () => {
  const kinds = field("due: date, period: duration, outcome: { kind: enum, values: [paid, unpaid] }, note: { kind: text, required: false }, items: count");

  it("given a field of each kind, when a record is validated at ingest, then each value is held to its kind", () => {
    const r = compilePolicy(kinds, "policy.yaml");
    if (!r.ok) throw new Error(r.errors.map((e) => formatDiagnostic(e)).join("\n"));
    const v = r.policy.records.get("court.judgment.default")?.validateFields;
    const ok = { case: "K-1", amount: 10.5, due: "2026-01-31", period: "P6M", outcome: "paid", items: 2 };
    expect(v?.(ok)).toEqual([]);
    expect(v?.({ ...ok, note: "free text" })).toEqual([]);
    expect(v?.({ ...ok, due: "31/01/2026" })).toEqual(["fields.due must be a date YYYY-MM-DD"]);
    expect(v?.({ ...ok, period: "six months" })).toEqual(["fields.period must be an ISO 8601 duration such as P6M"]);
    expect(v?.({ ...ok, outcome: "waived" })).toEqual(["fields.outcome must be one of paid, unpaid"]);
    expect(v?.({ ...ok, items: -1 })).toEqual(["fields.items must be >= 0"]);
    expect(v?.({ ...ok, case: "" })).toEqual(["fields.case must NOT have fewer than 1 characters"]);
  });

  it("given the old spellings string and number, when compiled, then they compile with a warning naming the kinds, and a string is a reference", () => {
    const text = edit("fields: { case: reference, amount: amount }", "fields: { case: string, amount: number }");
    const r = compilePolicy(text, "policy.yaml");
    if (!r.ok) throw new Error(r.errors.map((e) => formatDiagnostic(e)).join("\n"));
    expect(r.warnings.map((w) => w.path)).toEqual(["records.court.judgment.default.fields.case", "records.court.judgment.default.fields.amount"]);
    expect(r.warnings[0]?.message).toContain("amount, count, duration, date, reference, enum, text");
    expect(r.policy.records.get("court.judgment.default")?.fields.map((f) => [f.name, f.kind, f.type])).toEqual([["case", "reference", "string"], ["amount", "amount", "number"]]);
    const literal = text.replace("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"record.case != 'K-1'\" }\n");
    expect(compilePolicy(literal, "policy.yaml").ok).toBe(false);
  });

  it("given the municipal example written with the field types it was first published with, as stored databases hold it, when compiled, then it compiles with only deprecation warnings", () => {
    const stored = municipal.replace(/: reference\b/g, ": string").replace(/: amount\b/g, ": number");
    expect(stored).not.toBe(municipal);
    const r = compilePolicy(stored, "stored.yaml");
    if (!r.ok) throw new Error(r.errors.map((e) => formatDiagnostic(e)).join("\n"));
    expect(r.warnings.length).toBeGreaterThan(0);
    expect(r.warnings.every((w) => w.code === "rule" && w.message.includes("which is not one of the field kinds; it is read as"))).toBe(true);
  });

  it("given a reference matched with the entering record's reference in a leave rule, when compiled, then it compiles", () => {
    expect(compilePolicy(municipal, "policy.yaml").ok).toBe(true);
  });

  it("given a reference matched with an amount, when compiled, then G7 refuses it", () => {
    const text = edit('leave: { on: court.judgment.fulfilled, when: "record.case == entry.case" }', 'leave: { on: court.judgment.fulfilled, when: "record.case == entry.amount" }');
    const r = compilePolicy(text, "policy.yaml");
    expect(r.ok ? [] : r.errors.map((e) => e.code)).toEqual(["G7"]);
  });

  it("given an enum compared with a value it does not declare, when compiled, then a reference error lists the declared values", () => {
    const text = kinds.replace("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"record.outcome == 'settled'\" }\n");
    const r = compilePolicy(text, "policy.yaml");
    expect(r.ok ? [] : r.errors.map((e) => [e.code, e.message.includes("(paid, unpaid)")])).toEqual([["reference", true]]);
  });

  it("given has() on a text field, when compiled, then it compiles: only reading its content is refused", () => {
    const text = kinds.replace("    enter: court.judgment.default\n", "    enter: { on: court.judgment.default, when: \"!has(record.note)\" }\n");
    expect(compilePolicy(text, "policy.yaml").ok).toBe(true);
  });

  it("given an enum without values, a kind that does not exist, and values on an amount, when compiled, then each is an ordinary rule error", () => {
    const r = compilePolicy(field("a: enum, b: banana, c: { kind: amount, values: [x] }"), "policy.yaml");
    expect(r.ok ? [] : r.errors.map((e) => [e.code, e.path])).toEqual([
      ["rule", "records.court.judgment.default.fields.a"],
      ["rule", "records.court.judgment.default.fields.b"],
      ["rule", "records.court.judgment.default.fields.c.values"],
    ]);
  });
});
