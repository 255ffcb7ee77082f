// What `npm start` prints: where to look, a demo key for each role, and commands that
// work exactly as printed.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Role } from "../auth/principals.js";
import type { Standing } from "../standing.js";
import type { Identifier } from "../store/types.js";

export interface DemoKeys {
  readonly file: string;
  readonly keys: Record<string, string>;
  readonly debtor: Identifier;
  readonly debtorId: number;
}

/** The demo subject the printed commands use: a court debtor whose air-travel ban is in force. */
export async function findDemoDebtor(s: Standing): Promise<{ identifier: Identifier; id: number } | undefined> {
  for (let after = 0; ; ) {
    const page = await s.reads.statesWithMeasures(after, 1000);
    if (page.length === 0) return undefined;
    for (const { subjectId, identifiers, state } of page) {
      if (state.measures.some((m) => m.context === "air-travel" && m.effect === "deny" && m.status === "active" && m.code === "SPC-DEBTOR")) {
        const nid = identifiers.find((i) => i.scheme === "national-id");
        if (nid) return { identifier: nid, id: subjectId };
      }
    }
    after = (page[page.length - 1] as { subjectId: number }).subjectId;
  }
}

/**
 * Demo keys are created once per database and kept in plain text beside it (mode 600),
 * so every start can print them. This is for the demo only: real keys are shown once.
 */
export async function demoKeys(s: Standing, db: string): Promise<DemoKeys | undefined> {
  const file = join(dirname(db), "demo-keys.json");
  if (existsSync(file)) {
    try {
      const kept = JSON.parse(readFileSync(file, "utf8")) as DemoKeys;
      // Only if they still open this database: a file left beside a deleted or replaced
      // database would print keys that every command answers with 401.
      let valid = await s.reads.subjectExists(kept.debtorId);
      // A file from an older demo lacks the roles added since (the policy approver): made afresh.
      valid &&= DEMO_ROLES.every((name) => typeof kept.keys[name] === "string");
      for (const k of Object.values(kept.keys)) valid &&= await validKey(s, k);
      if (valid) return kept;
    } catch {
      // unreadable: made afresh below
    }
  }
  const debtor = await findDemoDebtor(s);
  if (!debtor) return undefined;
  const wanted: [string, Role, { source?: string; contexts?: string[]; subjectId?: number }, string][] = [
    ["source", "source", { source: "court" }, "demo court"],
    ["checkpoint", "checkpoint", { contexts: ["air-travel"] }, "demo airline booking system"],
    ["checkpoint-rail", "checkpoint", { contexts: ["rail-high-speed"] }, "demo railway ticket office"],
    ["admin", "admin", {}, "demo admin"],
    ["policy-author", "policy-author", {}, "demo policy author"],
    ["policy-approver", "policy-approver", {}, "demo policy approver"],
    ["reviewer", "reviewer", {}, "demo reviewer"],
    ["auditor", "auditor", {}, "demo auditor"],
    ["subject", "subject", { subjectId: debtor.id }, `demo subject ${debtor.identifier.value}`],
  ];
  const made = await s.createKeys(wanted.map(([, role, extra, label]) => ({ role, label, ...extra })));
  const keys = Object.fromEntries(wanted.map(([name], i) => [name, made[i]?.key as string]));
  const out: DemoKeys = { file, keys, debtor: debtor.identifier, debtorId: debtor.id };
  writeFileSync(file, JSON.stringify(out, null, 2) + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  return out;
}

const DEMO_ROLES = ["source", "checkpoint", "checkpoint-rail", "admin", "policy-author", "policy-approver", "reviewer", "auditor", "subject"] as const;

async function validKey(s: Standing, key: unknown): Promise<boolean> {
  if (typeof key !== "string") return false;
  try {
    return (await s.authenticate(`Bearer ${key}`)).kind === "key";
  } catch {
    return false;
  }
}

/** `db`: a database file, or a store URL (postgres://…), shown and suggested as given. */
export async function printWelcome(s: Standing, url: string, db: string, indexed: number, demo: DemoKeys | undefined): Promise<void> {
  const policy = s.activePolicy();
  const debtorCase = demo ? await caseOf(s, demo.debtorId) : "";
  const isUrl = /^postgres(ql)?:\/\//i.test(db);
  const rel = isUrl ? db : relative(process.cwd(), db) || db;
  const lines = [
    "",
    `Standing is serving at ${url}`,
    `  web portal:     ${url}/   (sign in at ${url}/login with a key below: subject, reviewer, admin…)`,
    `  API reference:  ${url}/docs   (OpenAPI: ${url}/openapi.json)`,
    `  rulebook:       ${url}/v1/policy   statistics: ${url}/v1/stats`,
    `  database:       ${rel}`,
    `  policy:         ${policy?.ref ?? "none published"}`,
    `  ${indexed} subjects with measures in the decision index`,
  ];
  if (demo) {
    const k = demo.keys;
    const who = `${demo.debtor.scheme}:${demo.debtor.value}`;
    lines.push(
      "",
      `Demo keys (kept in ${relative(process.cwd(), demo.file) || demo.file}; real keys: npx standing keys create --role …):`,
      ...Object.entries(k).map(([role, key]) => `  ${role.padEnd(16)} ${key}`),
      "",
      "Try (each works as printed):",
      `  # an airline's booking system asks whether ${who} may fly: deny, with reason and basis`,
      `  curl -s -X POST ${url}/v1/checks -H 'authorization: Bearer ${k.checkpoint}' -H 'content-type: application/json' -d '{"subject":{"scheme":"${demo.debtor.scheme}","value":"${demo.debtor.value}"},"context":"air-travel"}'`,
      `  # the subject reads their own file, including who looked them up`,
      `  curl -s '${url}/v1/subjects/${demo.debtorId}/statement?format=text' -H 'authorization: Bearer ${k.subject}'`,
      `  # a court reports that the judgment was paid: the subject leaves the debtor list`,
      `  curl -s -X POST ${url}/v1/records -H 'authorization: Bearer ${k.source}' -H 'content-type: application/json' -d '{"source":"court","id":"demo-fulfilled-${demo.debtorId}-${new Date(s.now()).toISOString().slice(0, 10)}","type":"court.judgment.fulfilled","subject":{"scheme":"${demo.debtor.scheme}","value":"${demo.debtor.value}"},"occurredAt":"${new Date(s.now()).toISOString().slice(0, 10)}T00:00:00Z","fields":{"case":"${debtorCase}"}}'`,
      "",
      `  npx standing statement ${who} ${isUrl ? "--store" : "--db"} ${rel}`,
    );
  }
  lines.push("", "Press Ctrl-C to stop.");
  console.log(lines.join("\n"));
}

async function caseOf(s: Standing, subjectId: number): Promise<string> {
  for (const r of await s.reads.recordsOf(subjectId)) {
    if (r.type === "court.judgment.default") {
      const body = JSON.parse(r.body) as { fields?: { case?: string } };
      if (body.fields?.case) return body.fields.case;
    }
  }
  return "";
}
