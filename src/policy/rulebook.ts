// The published rulebook as data: what the transparency portal and GET /v1/policy
// show. Everything here is public by design; nothing about any subject.
import type { CompiledPolicy } from "./types.js";
import { guardrails } from "./types.js";

export function rulebook(p: CompiledPolicy) {
  return {
    ref: p.ref,
    policy: p.id,
    version: p.version,
    title: p.title ?? null,
    effective: new Date(p.effective).toISOString(),
    timezone: p.timezone,
    hash: p.hash,
    catalogue: p.catalogue,
    severity: Object.fromEntries(Object.entries(p.severity).map(([k, v]) => [k, v.iso])),
    records: [...p.records.values()].map((r) => ({
      type: r.name,
      category: r.category,
      severity: r.severity ?? null,
      sources: r.sources,
      subjects: r.subjects,
      // `type` shows the kind, so readers written before kinds display what a field may hold.
      fields: r.fields.map((f) => ({ name: f.name, kind: f.kind, type: f.kind, values: f.values ?? null, required: f.required, description: f.description ?? null })),
      evidence: r.evidence,
      description: r.description ?? null,
      dispute: { deadline: r.dispute.deadline.iso, suspend: r.dispute.suspend },
    })),
    score: p.score,
    points: p.points.map((r) => ({
      rule: r.rule,
      on: r.on,
      when: r.when?.source ?? null,
      points: typeof r.points === "number" ? r.points : r.points.source,
      for: r.for?.iso ?? null,
      cap: { total: r.cap.total, per: r.cap.per.iso },
      description: r.description ?? null,
    })),
    lists: [...p.lists.values()].map((l) => ({
      list: l.name,
      effect: l.effect,
      enter: l.enter ? { on: l.enter.on, when: l.enter.when?.source ?? null } : null,
      leave: l.leave ? { on: l.leave.on, when: l.leave.when?.source ?? null } : null,
      when: l.when?.source ?? null,
      for: l.for?.iso ?? null,
      earlyExit: l.earlyExit?.iso ?? null,
      description: l.description ?? null,
    })),
    contexts: [...p.contexts.values()].map((c) => ({ context: c.name, related: c.related, why: c.why, description: c.description ?? null })),
    measures: p.measures.map((m) => ({
      measure: m.measure,
      context: m.context,
      effect: m.effect,
      lists: m.lists,
      code: m.code,
      basis: m.basis ?? null,
      notice: m.effect === "deny" ? m.notice.iso : null,
      noticeReason: m.noticeReason ?? null,
      description: m.description ?? null,
    })),
    guardrails: Object.entries(guardrails).map(([code, g]) => ({ code, name: g.name, rule: g.rule })),
  };
}
