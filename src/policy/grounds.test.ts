// The word lists, the second line behind the structural guardrails: splitting, stems,
// compounds, languages, and the legal phrases that are not grounds.
import { describe, expect, it } from "vitest";
import { regexReadings } from "./cel.js";
import { eventDay, identityTerm, launderingTerm, otherPersonTerm, prohibitedGround, smuggledKey, stems, statusTerm, words } from "./grounds.js";

describe("splitting names", () => {
  it.each([
    ["court.judgment-default", ["court", "judgment", "default"]],
    ["socialMedia_posts", ["social", "media", "posts"]],
    ["holderName", ["holder", "name"]],
    ["Gläubiger", ["glaubiger"]],
    ["religión", ["religion"]],
    ["covid19-status", ["covid", "19", "status"]],
    ["HTTPServer", ["http", "server"]],
  ])("given %s, when split, then the words are %j", (name, want) => {
    expect(words(name)).toEqual(want);
  });

  it("given inflected words, when stemmed, then the stems include the dictionary form", () => {
    expect(stems("protesters")).toContain("protest");
    expect(stems("worshipping")).toContain("worship");
    expect(stems("families")).toContain("family");
    expect(stems("sons")).toEqual([]);
  });
});

describe("prohibited grounds in five languages", () => {
  it.each([
    ["religion", "church-visits"],
    ["religion", "Kirchenbesuch"],
    ["religion", "zongjiao-huodong"],
    ["religion", "宗教活动"],
    ["religion", "iglesia"],
    ["religion", "mosquée"],
    ["political opinion", "shang-fang"],
    ["political opinion", "上访"],
    ["political opinion", "politische-meinung"],
    ["trade-union membership", "Gewerkschaftsmitglied"],
    ["trade-union membership", "syndicaliste"],
    ["trade-union membership", "sindicato"],
    ["trade-union membership", "tradeUnion"],
    ["health", "schwangerschaft"],
    ["health", "enfermedad"],
    ["health", "怀孕"],
    ["sex life or orientation", "concubinage"],
    ["sex life or orientation", "tong-ju"],
    ["ethnic origin", "hukou"],
    ["biometrics", "empreinte-digitale"],
    ["association or assembly", "Kundgebung"],
    ["family or relationships", "ehepartner"],
    ["speech or expression", "weibo-posts"],
    ["association or assembly", "demonstrationsteilnahme"],
    ["religion", "Kirchenmitgliedschaft"],
    ["religion", "asistencia-a-misa"],
    ["religion", "Glaeubige"],
    ["ethnic origin", "Migrationshintergrund"],
  ])("given a name about %s (%s), when checked, then the ground is found", (ground, name) => {
    expect(prohibitedGround(name)?.ground.startsWith(ground.split(" ")[0] as string)).toBe(true);
  });

  it.each(["bad-faith-litigation", "housing-association", "audit-opinion", "credit-union.default", "unionpay.chargeback", "postal.fraud", "section-3-offence", "fundamental-breach", "competition-law", "transparency-report", "kindergarten-fees", "creditor", "glaubiger", "Glaeubiger-antrag", "demonstrated-competence", "prozesspartei", "hit-and-run", "parking.fine", "match-fixing", "loyalty-card"])(
    "given the ordinary name %s, when checked, then no ground is found",
    (name) => {
      expect(prohibitedGround(name)).toBeUndefined();
    },
  );

  it("given health words on an organisation's record, when checked for organisations, then they are not a ground; for people they are", () => {
    expect(prohibitedGround("restaurant.health-inspection", { organisation: true })).toBeUndefined();
    expect(prohibitedGround("restaurant.health-inspection")?.ground).toBe("health");
    expect(prohibitedGround("church-attendance", { organisation: true })?.ground).toBe("religion or belief");
    // a person's health put on an organisation's record is still a person's health
    expect(prohibitedGround("staff-hiv-status", { organisation: true })?.ground).toBe("health");
    expect(prohibitedGround("employee-pregnancies", { organisation: true })?.ground).toBe("health");
  });
});

describe("identity, other people, status, laundering", () => {
  it.each([["holder_name"], ["id-number"], ["idNo"], ["national-id"], ["passport-no"], ["date-of-birth"], ["Vorname"], ["shenfenzheng"]])("given %s, when checked, then it says who someone is", (n) => {
    expect(identityTerm(n)).toBeDefined();
  });
  it.each([["case-id"], ["ticket-number"], ["persons-injured"], ["flight"]])("given %s, when checked, then it does not say who someone is", (n) => {
    expect(identityTerm(n)).toBeUndefined();
  });
  it.each([["guarantor-id"], ["co-signer"], ["cosigner"], ["employer-id"], ["avalista"], ["担保人"]])("given %s, when checked, then it names another person", (n) => {
    expect(otherPersonTerm(n)).toBeDefined();
  });
  it.each([["rank"], ["vip-status"], ["privileged"], ["party-membership"], ["Parteimitglied"], ["Parteizugehoerigkeit"], ["fonctionnaire"], ["ganbu"], ["党员"]])("given %s, when checked, then it is a status", (n) => {
    expect(statusTerm(n)).toBeDefined();
  });
  it.each([["tier-downgraded", "G3"], ["credit-score", "G3"], ["blacklisted", "G3"], ["watchlist-hit", "G8"], ["name-match", "G8"], ["screening-result", "G8"]])("given %s, when checked, then it launders under %s", (n, g) => {
    expect(launderingTerm(n)?.guardrail).toBe(g);
  });
  it("given a hygiene rating, when checked, then it is an allowed phrase, not a laundered rating", () => {
    expect(launderingTerm("food-hygiene-rating")).toBeUndefined();
  });
  it.each([["gilt-fuer-angehoerige", "other-person"], ["ausnahmen", "exemption"], ["huo-mian", "exemption"], ["cascade", "cascade"], ["unscharfer-abgleich", "fuzzy"], ["watchlist-hit", "screening"], ["fuzzy-threshold", "fuzzy"]])("given the key %s, when classified, then it is %s", (k, kind) => {
    expect(smuggledKey(k)?.kind).toBe(kind);
  });
  it("given dates, when checked, then only the anniversary of a political event is named", () => {
    expect([eventDay("1989-06-04"), eventDay("2026-06-04"), eventDay("2026-04-06"), eventDay("2026-06-14")]).toEqual(["06-04", "06-04", undefined, undefined]);
  });
});

describe("reading regular expressions", () => {
  it.each([
    ["^(M|m)os(q|k)ue$", "mosque"],
    ["[Cc]hurch", "church"],
    ["(?i)syna(g|j)ogue", "synagogue"],
    ["chur?ch", "church"],
    ["\\bprotest(er)?s?\\b", "protesters"],
  ])("given %s, when read, then %s is among its readings", (re, want) => {
    expect(regexReadings(re).map((r) => r.toLowerCase())).toContain(want);
  });
});
