// Peers with the same decision semantics: deny when the subject is on a restrict list
// that a deny measure of this context names, with that measure's reason code; else
// allow. Each peer gets the subject's current list memberships (the timing looks them
// up by identifier, as our index does) and decides with its own engine. Their answers
// are cross-checked against ours before anything is timed.
import { createRequire } from "node:module";
import { Engine } from "json-rules-engine";
import { ZenEngine, type ZenDecision } from "@gorules/zen-engine";
import type { MeasureDef } from "../src/policy/types.js";

const require = createRequire(import.meta.url);
// The Node.js build of Cedar (wasm); its typings come with the package.
const cedar = require("@cedar-policy/cedar-wasm/nodejs") as typeof import("@cedar-policy/cedar-wasm/nodejs");

export interface PeerAnswer {
  readonly decision: "allow" | "deny";
  readonly codes: readonly string[]; // sorted
}

export interface Peer {
  readonly name: string;
  /** `lists`: the restrict lists the subject is on now ([] when absent from every list). */
  decide(subjectKey: string, lists: readonly string[], context: string): PeerAnswer | Promise<PeerAnswer>;
  readonly async: boolean;
}

const denyDefs = (defs: readonly MeasureDef[]) => defs.filter((d) => d.effect === "deny");
const answer = (codes: string[]): PeerAnswer => {
  const uniq = [...new Set(codes)].sort();
  return { decision: uniq.length > 0 ? "deny" : "allow", codes: uniq };
};

// ---------------------------------------------------------------- json-rules-engine

export function jsonRulesEnginePeer(defs: readonly MeasureDef[]): Peer {
  const engine = new Engine([], { allowUndefinedFacts: true });
  for (const d of denyDefs(defs)) {
    engine.addRule({
      name: d.measure,
      conditions: {
        all: [
          { fact: "context", operator: "equal", value: d.context },
          { any: d.lists.map((l) => ({ fact: "lists", operator: "contains", value: l })) },
        ],
      },
      event: { type: "deny", params: { code: d.code, measure: d.measure } },
    });
  }
  return {
    name: "json-rules-engine",
    async: true,
    async decide(_key, lists, context) {
      const { events } = await engine.run({ context, lists });
      return answer(events.map((e) => String((e.params as { code: string }).code)));
    },
  };
}

// ---------------------------------------------------------------- GoRules ZEN

export function zenPeer(defs: readonly MeasureDef[]): Peer & { dispose(): void } {
  const rules = denyDefs(defs).map((d, k) => ({
    _id: `r${k}`,
    ctx: JSON.stringify(d.context),
    lists: d.lists.map((l) => `contains($, ${JSON.stringify(l)})`).join(" or "),
    code: JSON.stringify(d.code),
    measure: JSON.stringify(d.measure),
  }));
  const jdm = {
    nodes: [
      { id: "in", type: "inputNode", name: "request", position: { x: 0, y: 0 } },
      {
        id: "table",
        type: "decisionTableNode",
        name: "deny-measures",
        position: { x: 200, y: 0 },
        content: {
          hitPolicy: "collect",
          inputs: [
            { id: "ctx", name: "Context", field: "context" },
            { id: "lists", name: "Lists", field: "lists" },
          ],
          outputs: [
            { id: "code", name: "Code", field: "code" },
            { id: "measure", name: "Measure", field: "measure" },
          ],
          rules,
        },
      },
      { id: "out", type: "outputNode", name: "decision", position: { x: 400, y: 0 } },
    ],
    edges: [
      { id: "e1", sourceId: "in", targetId: "table", type: "edge" },
      { id: "e2", sourceId: "table", targetId: "out", type: "edge" },
    ],
  };
  const engine = new ZenEngine();
  const decision: ZenDecision = engine.createDecision(jdm);
  return {
    name: "@gorules/zen-engine",
    async: true,
    async decide(_key, lists, context) {
      const r = await decision.evaluate({ context, lists });
      const rows = (Array.isArray(r.result) ? r.result : []) as { code: string }[];
      return answer(rows.map((x) => x.code));
    },
    dispose() {
      engine.dispose();
    },
  };
}

// ---------------------------------------------------------------- Cedar (wasm)

export function cedarPeer(defs: readonly MeasureDef[]): Peer {
  const codeOf = new Map<string, string>();
  const staticPolicies: Record<string, string> = { "permit-all": `permit(principal, action == Action::"check", resource);` };
  for (const d of denyDefs(defs)) {
    const cond = d.lists.map((l) => `principal.lists.contains(${JSON.stringify(l)})`).join(" || ");
    staticPolicies[d.measure] = `forbid(principal, action == Action::"check", resource) when { resource.context == ${JSON.stringify(d.context)} && (${cond}) };`;
    codeOf.set(d.measure, d.code);
  }
  const parsed = cedar.preparsePolicySet("standing", { staticPolicies });
  if (parsed.type !== "success") throw new Error(`cedar policy set: ${JSON.stringify(parsed)}`);
  const action = { type: "Action", id: "check" };
  return {
    name: "@cedar-policy/cedar-wasm",
    async: false,
    decide(key, lists, context) {
      const principal = { type: "Subject", id: key };
      const resource = { type: "Checkpoint", id: context };
      const r = cedar.statefulIsAuthorized({
        principal,
        action,
        resource,
        context: {},
        preparsedPolicySetId: "standing",
        entities: [
          { uid: principal, attrs: { lists: [...lists] }, parents: [] },
          { uid: resource, attrs: { context }, parents: [] },
        ],
      });
      if (r.type !== "success") throw new Error(`cedar: ${JSON.stringify(r.errors)}`);
      if (r.response.diagnostics.errors.length > 0) throw new Error(`cedar: ${JSON.stringify(r.response.diagnostics.errors)}`);
      if (r.response.decision === "allow") return { decision: "allow", codes: [] };
      return answer(r.response.diagnostics.reason.map((id) => codeOf.get(id) ?? `?${id}`));
    },
  };
}
