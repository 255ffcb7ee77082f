// The prohibited grounds of guardrail 1, fixed in code on purpose: a policy cannot
// switch them off. Names in a policy (record types, categories, fields, lists,
// contexts, measures, rules) and string literals in expressions are split into words
// and matched against these terms. Matching is by whole word or word pair so that,
// say, "postal" or "unionpay" do not trip "post" or "union".

export type Ground =
  | "political opinion"
  | "speech or expression"
  | "religion or belief"
  | "ethnic origin"
  | "association or assembly"
  | "trade-union membership"
  | "health"
  | "sex life or orientation"
  | "biometrics"
  | "family or relationships";

const terms: Record<Ground, string[]> = {
  "political opinion": [
    "political", "politics", "opinion", "opinions", "dissent", "dissident", "dissidents", "petition",
    "petitions", "petitioner", "petitioning", "vote", "votes", "voting", "voter", "ideology", "ideological",
    "loyalty", "disloyal", "party member", "party membership", "subversion", "subversive",
  ],
  "speech or expression": [
    "speech", "expression", "posts", "online comments", "critical comments", "posting", "social media", "socialmedia", "weibo", "wechat", "tweet",
    "tweets", "blog", "blogs", "blogger", "criticism", "criticising",
    "criticizing", "critical of", "rumor", "rumors", "rumour", "rumours", "online speech", "publication of",
    "censorship", "journalism", "journalist", "press freedom", "opinion post",
  ],
  "religion or belief": [
    "religion", "religions", "religious", "belief", "beliefs", "faith", "church", "mosque", "temple attendance",
    "synagogue", "worship", "prayer", "praying", "atheist", "atheism", "christian", "muslim", "islam",
    "islamic", "buddhist", "buddhism", "jewish", "hindu", "falun", "falungong", "cult", "sect", "spiritual",
  ],
  "ethnic origin": [
    "ethnic", "ethnicity", "race", "racial", "ancestry",  "uyghur", "uighur",
    "tibetan", "roma", "ethnic minority", "national minority", "caste", "tribe", "tribal", "skin colour", "skin color", "national origin",
  ],
  "association or assembly": [
    "association", "associations", "assembly", "assemblies", "protest", "protests", "protester",
    "protesters", "protesting", "demonstration", "demonstrations", "demonstrator", "rally", "rallies",
    "sit in", "activism", "activist", "activists",
  ],
  "trade-union membership": [
    "trade union", "tradeunion", "labour union", "labor union", "union member", "union membership",
    "unionist", "unionists", "unionised", "unionized", "collective bargaining", "picket", "picketing",
  ],
  health: [
    "health", "medical", "illness", "illnesses", "disease", "diseases", "diagnosis", "diagnosed", "hiv",
    "mental", "psychiatric", "disability", "disabled", "pregnancy", "pregnant", "covid", "vaccination",
    "vaccinated", "unvaccinated", "vaccine", "genetic", "genome", "dna", "patient", "symptom", "symptoms",
    "infection", "infected", "addiction", "therapy",
  ],
  "sex life or orientation": [
    "sex life", "sexlife", "orientation", "sexuality", "sexual orientation", "gay", "lesbian",
    "homosexual", "homosexuality", "bisexual", "transgender", "lgbt", "lgbtq", "lgbtqi", "queer",
    "dating", "adultery", "cohabitation", "gender identity",
  ],
  biometrics: [
    "biometric", "biometrics", "facial", "face scan", "face image", "face match", "fingerprint", "fingerprints", "iris", "retina",
    "gait", "voiceprint", "palmprint", "face recognition", "facial recognition",
  ],
  "family or relationships": [
    "family", "families", "relative", "relatives", "relationship", "relationships", "kin", "kinship",
    "parent", "parents", "parental", "child", "children", "son", "sons", "daughter", "daughters", "spouse",
    "spouses", "husband", "wife", "sibling", "siblings", "brother", "sister", "household", "households",
    "marriage", "married", "divorce", "divorced", "father", "mother", "offspring", "descendant",
    "descendants", "grandparent", "grandchild", "friend", "friends", "acquaintance", "acquaintances",
    "associate", "associates", "partner of", "next of kin", "guardian of",
  ],
};

const single = new Map<string, Ground>();
const pairs = new Map<string, Ground>();
for (const [ground, list] of Object.entries(terms) as [Ground, string[]][]) {
  for (const t of list) (t.includes(" ") ? pairs : single).set(t, ground);
}

/** Splits "court.judgment-default", "socialMedia_posts" into lower-case words. */
export function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

export interface GroundHit {
  readonly ground: Ground;
  readonly term: string;
}

/** Finds the first prohibited ground named by a policy name or literal, if any. */
export function prohibitedGround(name: string): GroundHit | undefined {
  const ws = words(name);
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i] as string;
    const next = ws[i + 1];
    if (next !== undefined) {
      const pair = `${w} ${next}`;
      const g = pairs.get(pair);
      if (g) return { ground: g, term: pair };
    }
    const g = single.get(w);
    if (g) return { ground: g, term: w };
  }
  // Names glued without separators ("socialmedia") are matched as written too.
  const joined = ws.join("");
  const g = single.get(joined);
  return g ? { ground: g, term: joined } : undefined;
}

// Names that identify the subject (guardrail 7) or another person (guardrail 2) in
// expressions and keys.
export const identityWords = new Set([
  "subject", "subjects", "id", "ids", "identifier", "identifiers", "name", "names", "fullname", "surname",
  "nationalid", "passport", "ssn", "citizen", "person", "who", "individual",
]);

export const otherPersonWords = new Set([
  "parent", "parents", "child", "children", "relative", "relatives", "family", "household", "spouse",
  "associates", "associate", "guarantor", "sibling", "siblings", "others", "other", "kin", "contacts",
  "friends", "employer", "employees", "members", "beneficiary", "dependants", "dependents",
]);

// Keys that would widen a rule beyond its subject (G2) or single one out (G7).
export const associationKeys = new Set([
  "applies to", "apply to", "applies", "extends to", "extend to", "extends", "also applies to",
  "also", "relatives", "family", "household", "associates", "co subjects", "joint", "joint and several",
  "target", "targets", "subject", "propagate", "propagate to", "spill over", "include relatives",
  "beneficiaries", "beneficiary", "for relatives", "linked subjects", "related subjects", "guarantors", "dependants",
  "dependents", "cosigner", "co signer", "heirs",
]);

export const exemptionKeys = new Set([
  "exempt", "exempts", "exemption", "exemptions", "except", "except for", "unless subject", "excluding",
  "exclude", "excluded", "override", "overrides", "whitelist", "allowlist", "vip", "vips", "immune",
  "immunity", "waive", "waiver", "waivers", "subjects", "ids", "only for",
]);
