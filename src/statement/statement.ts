// A subject's whole file: every record and what it does, lists, measures with their
// basis, and what changes when. Built from the pure evaluator, so what a subject
// reads is exactly what checkpoints are told.
import { evaluate, countingRecords } from "../engine/evaluate.js";
import type { Contribution, ListMembership, MeasureState, SubjectRecord, SubjectState } from "../engine/types.js";
import type { CompiledPolicy } from "../policy/types.js";
import type { DecisionLogRow, DisputeRow, Identifier, NoticeRow, RecordRow } from "../store/types.js";
import type { ListApplication } from "../engine/types.js";
import { recoveryPaths, type RecoveryPath } from "../notices/notice.js";
import { toSubjectRecord } from "../store/types.js";
import { humanDate, isoUtc, type Instant } from "../time.js";

export interface StatementRecord {
  readonly source: string;
  readonly id: string;
  readonly type: string;
  readonly category: string | null;
  readonly occurredAt: string;
  readonly receivedAt: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly status: "counts" | "expired" | "no-effect" | "retracted" | "retraction" | "not-yet" | "unknown-type" | "suspended" | "removed-by-dispute";
  readonly supersedes: string | null;
  /** The latest dispute of this record, if any. */
  readonly dispute: { readonly id: string; readonly status: string; readonly deadline: string } | null;
  readonly retractedBy: string | null;
  readonly retracts: string | null;
  /** Every contribution this record ever made, with its dates. */
  readonly contributions: readonly Contribution[];
}

export interface UpcomingChange {
  readonly at: string;
  readonly changes: readonly string[];
}

export interface Statement {
  readonly subject: { readonly id: number; readonly identifiers: readonly Identifier[] };
  readonly policy: string;
  /** Who proposed and who approved the policy version (null: published before approval was required). */
  readonly policyApproval: PolicyApproval | null;
  readonly timezone: string;
  readonly at: string;
  readonly base: number;
  readonly score: number;
  readonly tier: string;
  readonly records: readonly StatementRecord[];
  readonly lists: readonly ListMembership[];
  readonly measures: readonly (MeasureState & { readonly notice: string | null; readonly noticeReason: string | null })[];
  readonly upcoming: readonly UpcomingChange[];
  /** Who looked this subject up, newest first (from the decision log). */
  readonly lookups: readonly Lookup[];
  /** Every way off each list the subject is on, with dates. */
  readonly recovery: readonly RecoveryPath[];
  readonly disputes: readonly StatementDispute[];
  readonly notices: readonly StatementNotice[];
}

export interface StatementDispute {
  readonly id: string;
  readonly record: string;
  readonly source: string;
  readonly status: string;
  readonly openedAt: string;
  readonly deadline: string;
  readonly grounds: string;
  readonly answer: string | null;
  readonly decision: string | null;
  readonly closedAt: string | null;
}

export interface StatementNotice {
  readonly id: string;
  readonly measure: string;
  readonly createdAt: string;
  readonly effectiveFrom: string;
  readonly text: string;
}

export interface DueProcessInputs {
  /** Evaluation inputs (records with their disputes); default: the rows as they are. */
  readonly records?: readonly SubjectRecord[];
  readonly applications?: readonly ListApplication[];
  readonly disputes?: readonly DisputeRow[];
  readonly notices?: readonly NoticeRow[];
  /** Who proposed and who approved the policy version (absent: not recorded). */
  readonly policyApproval?: PolicyApproval | null;
}

/** Who proposed a policy version and who approved (published) it: never the same actor. */
export interface PolicyApproval {
  readonly proposedBy: string;
  readonly proposedAt: string;
  readonly approvedBy: string;
  readonly approvedAt: string;
}

export interface Lookup {
  readonly at: string;
  readonly askedBy: string;
  readonly context: string;
  readonly decision: "allow" | "deny";
  readonly codes: readonly string[];
  readonly identifier: string;
}

export function buildStatement(
  policy: CompiledPolicy,
  subject: { id: number; identifiers: readonly Identifier[] },
  rows: readonly RecordRow[],
  at: Instant,
  lookups: readonly DecisionLogRow[] = [],
  due: DueProcessInputs = {},
): Statement {
  const records = due.records ?? rows.map(toSubjectRecord);
  const apps = due.applications ?? [];
  const state = evaluate(policy, records, at, apps);
  const counting = new Set(countingRecords(policy, records, at).map((r) => `${r.source}\u0000${r.id}`));
  const everCounting = new Set(countingRecords(policy, records.map((r) => (r.dispute ? { ...r, dispute: undefined } : r)), at).map((r) => `${r.source}\u0000${r.id}`));
  const latestDispute = new Map<string, DisputeRow>();
  for (const d of due.disputes ?? []) latestDispute.set(`${d.source}\u0000${d.recordId}`, d);
  const retractedBy = new Map<string, string>();
  for (const r of records) {
    if (r.retracts !== undefined) retractedBy.set(`${r.source}\u0000${r.retracts}`, r.id);
    if (r.supersedes !== undefined) retractedBy.set(`${r.source}\u0000${r.supersedes}`, r.id);
  }

  const out: StatementRecord[] = rows.map((row, i) => {
    const r = records[i] as SubjectRecord;
    const k = `${r.source}\u0000${r.id}`;
    const contributions = counting.has(k) && r.occurredAt <= at ? contributionsOf(policy, records, r, apps) : [];
    let status: StatementRecord["status"];
    const disputed = latestDispute.get(k);
    if (r.retracts !== undefined) status = "retraction";
    else if (retractedBy.has(k)) status = "retracted";
    else if (!policy.records.has(r.type)) status = "unknown-type";
    else if (r.occurredAt > at) status = "not-yet";
    else if (!counting.has(k) && everCounting.has(k)) status = disputed && (disputed.status === "open" || disputed.status === "confirmed") ? "suspended" : "removed-by-dispute";
    else if (touches(state, r)) status = "counts";
    else status = contributions.length > 0 || wasOnList(policy, records, r, apps) ? "expired" : "no-effect";
    return {
      source: r.source,
      id: r.id,
      type: r.type,
      category: policy.records.get(r.type)?.category ?? null,
      occurredAt: isoUtc(r.occurredAt),
      receivedAt: isoUtc(row.receivedAt),
      fields: r.fields,
      status,
      retractedBy: retractedBy.get(k) ?? null,
      retracts: r.retracts ?? null,
      supersedes: r.supersedes ?? null,
      dispute: disputed ? { id: disputed.id, status: disputed.status, deadline: isoUtc(disputed.deadlineAt) } : null,
      contributions,
    };
  });

  const noticeOf = new Map(policy.measures.map((m) => [m.measure, m]));
  return {
    subject: { id: subject.id, identifiers: subject.identifiers },
    policy: policy.ref,
    policyApproval: due.policyApproval ?? null,
    timezone: policy.timezone,
    at: isoUtc(at),
    base: policy.score.base,
    score: state.score,
    tier: state.tier,
    records: out,
    lists: state.lists,
    measures: state.measures.map((m) => ({
      ...m,
      notice: m.effect === "deny" ? (noticeOf.get(m.measure)?.notice.iso ?? null) : null,
      noticeReason: noticeOf.get(m.measure)?.noticeReason ?? null,
    })),
    upcoming: upcoming(policy, records, state, apps),
    recovery: state.lists.flatMap((l) => {
      const def = policy.lists.get(l.list);
      return def && def.effect === "restrict" ? recoveryPaths(policy, def, l) : [];
    }),
    disputes: (due.disputes ?? []).map((d) => ({
      id: d.id,
      record: d.recordId,
      source: d.source,
      status: d.status,
      openedAt: isoUtc(d.openedAt),
      deadline: isoUtc(d.deadlineAt),
      grounds: d.grounds,
      answer: d.answerNote,
      decision: d.reason,
      closedAt: d.closedAt === null ? null : isoUtc(d.closedAt),
    })),
    notices: (due.notices ?? []).map((n) => ({
      id: n.id,
      measure: n.measure,
      createdAt: isoUtc(n.createdAt),
      effectiveFrom: isoUtc(n.effectiveFrom),
      text: (JSON.parse(n.body) as { what?: string }).what ?? "",
    })),
    lookups: lookups.map((l) => ({ at: isoUtc(l.at), askedBy: l.askedBy, context: l.context, decision: l.decision, codes: l.codes, identifier: `${l.scheme}:${l.value}` })),
  };
}

function touches(state: SubjectState, r: SubjectRecord): boolean {
  const same = (x: { source: string; id: string }): boolean => x.source === r.source && x.id === r.id;
  return state.contributions.some((c) => same(c.record)) || state.lists.some((l) => l.because.some(same));
}

function contributionsOf(policy: CompiledPolicy, records: readonly SubjectRecord[], r: SubjectRecord, apps: readonly ListApplication[]): Contribution[] {
  // At the instant the record occurred, every contribution it makes is active.
  return evaluate(policy, records, r.occurredAt, apps).contributions.filter((c) => c.record.source === r.source && c.record.id === r.id);
}

function wasOnList(policy: CompiledPolicy, records: readonly SubjectRecord[], r: SubjectRecord, apps: readonly ListApplication[]): boolean {
  return evaluate(policy, records, r.occurredAt, apps).lists.some((l) => l.because.some((b) => b.source === r.source && b.id === r.id));
}

const MAX_STEPS = 25;

function upcoming(policy: CompiledPolicy, records: readonly SubjectRecord[], from: SubjectState, apps: readonly ListApplication[]): UpcomingChange[] {
  const out: UpcomingChange[] = [];
  let prev = from;
  for (let i = 0; i < MAX_STEPS && prev.nextChangeAt !== null; i++) {
    const t = Date.parse(prev.nextChangeAt);
    const next = evaluate(policy, records, t, apps);
    const changes = describeChanges(prev, next);
    if (changes.length > 0) out.push({ at: isoUtc(t), changes });
    prev = next;
  }
  return out;
}

function describeChanges(a: SubjectState, b: SubjectState): string[] {
  const out: string[] = [];
  const cKey = (c: Contribution): string => `${c.rule}|${c.record.source}|${c.record.id}`;
  const after = new Set(b.contributions.map(cKey));
  for (const c of a.contributions) {
    if (!after.has(cKey(c))) out.push(`${c.points > 0 ? "+" : ""}${c.points} points from ${c.rule} (record ${c.record.id}) expire`);
  }
  const before = new Set(a.contributions.map(cKey));
  for (const c of b.contributions) if (!before.has(cKey(c))) out.push(`${c.points > 0 ? "+" : ""}${c.points} points from ${c.rule} (record ${c.record.id}) start to count`);
  const la = new Set(a.lists.map((l) => l.list));
  const lb = new Set(b.lists.map((l) => l.list));
  for (const l of la) if (!lb.has(l)) out.push(`leaves list ${l}`);
  for (const l of lb) if (!la.has(l)) out.push(`joins list ${l}`);
  const ma = new Map(a.measures.map((m) => [m.measure, m]));
  const mb = new Map(b.measures.map((m) => [m.measure, m]));
  for (const [name, m] of ma) {
    const n = mb.get(name);
    if (!n) out.push(`${m.effect === "deny" ? "restriction" : "privilege"} ${name} (${m.context}) ${m.status === "pending" ? "will no longer take effect" : "ends"}`);
    else if (m.status === "pending" && n.status === "active") out.push(`${m.effect === "deny" ? "restriction" : "privilege"} ${name} (${m.context}) takes effect, code ${m.code}`);
  }
  for (const [name, n] of mb) if (!ma.has(name)) out.push(`${n.effect === "deny" ? "restriction" : "privilege"} ${name} (${n.context}) ${n.status === "pending" ? "is announced" : "applies"}`);
  if (a.score !== b.score) out.push(`score goes from ${a.score} to ${b.score}${a.tier !== b.tier ? `, tier ${a.tier} → ${b.tier}` : ""}`);
  return out;
}

/** Renders the statement for a person to read. */
export function renderStatement(s: Statement): string {
  const tz = s.timezone;
  const d = (iso: string | null, open = "open-ended"): string => (iso === null ? open : humanDate(Date.parse(iso), tz));
  const lines: string[] = [];
  lines.push(`STATEMENT for subject #${s.subject.id} (${s.subject.identifiers.map((i) => `${i.scheme}:${i.value}`).join(", ")})`);
  lines.push(`as of ${d(s.at)} under policy ${s.policy} (dates in ${tz})`);
  if (s.policyApproval) lines.push(`policy proposed by ${s.policyApproval.proposedBy} on ${d(s.policyApproval.proposedAt)}, approved by ${s.policyApproval.approvedBy} on ${d(s.policyApproval.approvedAt)}`);
  lines.push("");
  lines.push(`Score ${s.score} (base ${s.base}), tier ${s.tier}`);
  lines.push("");
  lines.push(`RECORDS (${s.records.length})`);
  if (s.records.length === 0) lines.push("  nothing on file");
  for (const r of s.records) {
    lines.push(`  ${d(r.occurredAt)}  ${r.type}  from ${r.source}, id ${r.id}${r.category ? `  [${r.category}]` : ""}`);
    const fields = Object.entries(r.fields);
    if (fields.length > 0) lines.push(`      fields: ${fields.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")}`);
    switch (r.status) {
      case "retraction":
        lines.push(`      retracts record ${r.retracts}: that record no longer counts`);
        break;
      case "retracted":
        lines.push(`      RETRACTED by record ${r.retractedBy}: it does not count`);
        break;
      case "unknown-type":
        lines.push("      not a record type of this policy version: it does not count");
        break;
      case "not-yet":
        lines.push("      dated in the future: counts from that date");
        break;
      case "suspended":
        lines.push(`      SUSPENDED while dispute ${r.dispute?.id ?? ""} is open (deadline ${d(r.dispute?.deadline ?? null)})`);
        break;
      case "removed-by-dispute":
        lines.push(`      does not count: dispute ${r.dispute?.id ?? ""} ${r.dispute?.status ?? ""}`);
        break;
      case "counts":
      case "expired":
      case "no-effect":
        for (const c of r.contributions) {
          const expired = c.until !== null && Date.parse(c.until) <= Date.parse(s.at);
          lines.push(`      ${c.points > 0 ? "+" : ""}${c.points} points (${c.rule})${c.capped ? `, ${c.capped} withheld by the cap` : ""}, from ${d(c.from)} ${expired ? "expired" : "until"} ${d(c.until, "no expiry")}`);
        }
        if (r.status === "no-effect") lines.push("      no effect under this policy");
        if (r.status === "expired") lines.push("      no longer counts: its effects have expired or ended");
        break;
      default: {
        const never: never = r.status;
        throw new Error(`unhandled status ${String(never)}`);
      }
    }
  }
  lines.push("");
  lines.push(`LISTS (${s.lists.length})`);
  if (s.lists.length === 0) lines.push("  on no list");
  for (const l of s.lists) {
    lines.push(`  ${l.list} (${l.effect}) since ${d(l.since, "always")} until ${d(l.until)}`);
    if (l.because.length > 0) lines.push(`      because of ${l.because.map((b) => `${b.type} ${b.id} from ${b.source}`).join("; ")}`);
  }
  lines.push("");
  lines.push(`MEASURES (${s.measures.length})`);
  if (s.measures.length === 0) lines.push("  none");
  for (const m of s.measures) {
    const what = m.effect === "deny" ? "RESTRICTION" : "privilege";
    lines.push(`  ${what} ${m.measure} in ${m.context}, code ${m.code}: ${m.status === "pending" ? "takes effect" : "since"} ${d(m.since, "always")}, until ${d(m.until)}`);
    if (m.basis) lines.push(`      basis: ${m.basis}`);
    if (m.notice) lines.push(`      notice period: ${m.notice}${m.noticeReason ? ` (${m.noticeReason})` : ""}`);
    lines.push(`      because of list${m.lists.length > 1 ? "s" : ""} ${m.lists.join(", ")}`);
  }
  lines.push("");
  lines.push("WHAT CHANGES WHEN");
  if (s.upcoming.length === 0) lines.push("  nothing changes by itself");
  for (const u of s.upcoming) {
    lines.push(`  ${d(u.at)}`);
    for (const c of u.changes) lines.push(`      ${c}`);
  }
  lines.push("");
  lines.push("HOW TO RECOVER");
  if (s.recovery.length === 0) lines.push("  nothing to recover from");
  for (const p of s.recovery) lines.push(`  ${p.text}`);
  lines.push("");
  lines.push(`DISPUTES (${s.disputes.length})`);
  if (s.disputes.length === 0) lines.push("  none; to contest a record: standing dispute open, or POST /v1/disputes");
  for (const x of s.disputes) {
    lines.push(`  ${x.id}  record ${x.record} from ${x.source}: ${x.status.toUpperCase()}, opened ${d(x.openedAt)}, source must answer by ${d(x.deadline)}`);
    lines.push(`      grounds: ${x.grounds}`);
    if (x.answer) lines.push(`      source's answer: ${x.answer}`);
    if (x.decision) lines.push(`      reviewer's reason: ${x.decision}`);
  }
  lines.push("");
  lines.push(`NOTICES (${s.notices.length})`);
  if (s.notices.length === 0) lines.push("  none");
  for (const n of s.notices) lines.push(`  ${d(n.createdAt)}  ${n.text}`);
  lines.push("");
  lines.push(`WHO LOOKED YOU UP (${s.lookups.length})`);
  if (s.lookups.length === 0) lines.push("  nobody");
  for (const l of s.lookups) lines.push(`  ${d(l.at)}  ${l.askedBy} asked about ${l.context} (${l.identifier}): ${l.decision}${l.codes.length ? ` ${l.codes.join(", ")}` : ""}`);
  return lines.join("\n") + "\n";
}
