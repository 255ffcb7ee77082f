// The catalogue of permitted record categories: the shipped document, its identity
// (version and hash), the checks it passes at load, and what a change between two
// versions shows.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../canonical.js";
import { catalogueView, categoryOf, defaultCatalogue, diffCatalogues, parseCatalogue } from "./catalogue.js";
import { defaultCatalogueText } from "./catalogue-default.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const shipped = readFileSync(join(root, "catalogue", "categories.yaml"), "utf8");

const one = (name: string, subjects: string, extra = ""): string =>
  `catalogue: test\nversion: "1"\ncategories:\n  ${name}:\n    subjects: [${subjects}]\n    description: A category used only in this test.\n    basis: A test statute, s.1.${extra}\n`;

describe("the shipped catalogue", () => {
  it("given catalogue/categories.yaml, when compared with the text built into the core, then they are the same", () => {
    expect(defaultCatalogueText).toBe(shipped);
  });

  it("given the shipped catalogue, when loaded, then it has a version and its hash is the SHA-256 of its text", () => {
    expect(defaultCatalogue.version).toMatch(/^\d{4}\.\d+\.\d+$/);
    expect(defaultCatalogue.hash).toBe(sha256Hex(shipped));
  });

  it("given the shipped catalogue, when listed, then it holds the ordinary categories and no category for a score, a tier, a rating or a screening result", () => {
    const names = [...defaultCatalogue.categories.keys()];
    expect(names).toEqual(expect.arrayContaining(["civil-judgment", "driving-conduct", "library-loans", "tax-compliance", "food-hygiene"]));
    expect(names.filter((n) => /score|tier|rating|screen|match|watch/.test(n))).toEqual([]);
  });

  it("given the shipped catalogue, when shown, then each category says who it is about, what it is and its legal basis", () => {
    for (const c of catalogueView(defaultCatalogue).categories) {
      expect(c.subjects.length).toBeGreaterThan(0);
      expect(c.description.length).toBeGreaterThanOrEqual(10);
      expect(c.basis.length).toBeGreaterThanOrEqual(5);
    }
  });
});

describe("checks at load", () => {
  const rows: [string, string, string, string][] = [
    ["a category about religion", "church-attendance", "person", "G1"],
    ["a category about a person's health", "health-records", "person", "G1"],
    ["a category for credit scores", "credit-score", "person", "G3"],
    ["a category for tier changes", "tier-changes", "person", "G3"],
    ["a category for screening hits", "watchlist-hits", "person", "G8"],
    ["a category naming another person", "guarantor-defaults", "person", "G2"],
    ["a category for officials", "official-conduct-of-cadres", "person", "G7"],
  ];
  it.each(rows)("given %s, when parsed, then it is refused under the guardrail it breaks", (_what, name, subjects, code) => {
    const r = parseCatalogue(one(name, subjects), "c.yaml");
    expect(r.ok ? [] : r.errors.map((e) => e.code)).toEqual([code]);
    expect(r.ok ? undefined : r.errors[0]?.line).toBe(4);
  });

  it("given a hygiene category for organisations only, when parsed, then health words in it are not read as a person's health", () => {
    expect(parseCatalogue(one("public-health-premises", "organisation"), "c.yaml").ok).toBe(true);
    expect(parseCatalogue(one("public-health-premises", "person, organisation"), "c.yaml").ok).toBe(false);
  });

  it("given a category without a legal basis, when parsed, then a schema error names it", () => {
    const r = parseCatalogue("catalogue: test\nversion: '1'\ncategories:\n  tolls:\n    subjects: [person]\n    description: Unpaid road tolls.\n", "c.yaml");
    expect(r.ok ? [] : r.errors.map((e) => [e.code, e.message])).toEqual([["schema", "categories.tolls must have required property 'basis'"]]);
  });

  it("given an alias about a prohibited ground, or one that another category already uses, when parsed, then it is refused", () => {
    const bad = parseCatalogue(one("tolls", "person", "\n    aliases: [church-tolls]"), "c.yaml");
    expect(bad.ok ? [] : bad.errors.map((e) => e.code)).toEqual(["G1"]);
    const twice = parseCatalogue(one("tolls", "person", "\n    aliases: [tolls]"), "c.yaml");
    expect(twice.ok ? [] : twice.errors.map((e) => e.code)).toEqual(["schema"]);
  });

  it("given the shipped catalogue, when a policy names a category by an alias, then it resolves to that category", () => {
    expect(categoryOf(defaultCatalogue, "library-fines")?.name).toBe("library-loans");
    expect(categoryOf(defaultCatalogue, "tax-arrears")?.name).toBe("tax-compliance");
    expect(categoryOf(defaultCatalogue, "community-standing")).toBeUndefined();
  });

  it("given an unknown kind of subject, when parsed, then it is refused", () => {
    expect(parseCatalogue(one("tolls", "household"), "c.yaml").ok).toBe(false);
  });
});

describe("changing the catalogue", () => {
  it("given a new version that adds, removes and rewords categories, when diffed, then each change is listed with both versions and hashes", () => {
    const next = parseCatalogue(
      defaultCatalogueText
        .replace("version: 2026.1.0", "version: 2026.2.0")
        .replace(/\n {2}parking:\n(?: {4}.*\n)+/, "\n  road-tolls:\n    subjects: [person, organisation]\n    description: Unpaid road and bridge tolls.\n    basis: Road user charging schemes.\n")
        .replace("Items borrowed from a public library returned late", "Items borrowed from a public or school library returned late"),
      "next.yaml",
    );
    if (!next.ok) throw new Error(next.errors.map((e) => e.message).join("; "));
    const change = diffCatalogues(defaultCatalogue, next.catalogue);
    expect(change).toEqual({
      from: { version: "2026.1.0", hash: defaultCatalogue.hash },
      to: { version: "2026.2.0", hash: next.catalogue.hash },
      added: ["road-tolls"],
      removed: ["parking"],
      changed: ["library-loans"],
    });
  });
});
