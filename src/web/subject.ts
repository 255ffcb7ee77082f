// A subject's whole file as a page: what the statement says, a score timeline that
// runs into the future, notices, lookups, disputes and the ways off each list. Used
// by the subject portal (/me, with the dispute form) and the operator console.
import { evaluate } from "../engine/evaluate.js";
import { subjectRecords } from "../reevaluation/inputs.js";
import type { Standing } from "../standing.js";
import type { Statement, StatementRecord } from "../statement/statement.js";
import type { SubjectId } from "../store/types.js";
import { html, type Html } from "./html.js";
import { time } from "./layout.js";
import { fmtFor, plainDuration } from "./public.js";
import { duration } from "./stats.js";
import { stepChart, type StepPoint } from "./svg.js";

const STATUS: Record<StatementRecord["status"], string> = {
  counts: "counts now",
  expired: "no longer counts (expired)",
  "no-effect": "no effect",
  retracted: "retracted by the source",
  retraction: "a retraction",
  "not-yet": "dated in the future",
  "unknown-type": "not a record type of this policy",
  suspended: "suspended while disputed",
  "removed-by-dispute": "removed after a dispute",
};

const DAY = 86_400_000;

/** The score at every instant it changes: past contributions, now, and what is scheduled. */
export async function scoreTimeline(standing: Standing, subjectId: SubjectId, st: Statement, now: number): Promise<{ points: StepPoint[]; end: number }> {
  const policy = standing.requirePolicy(now);
  const [records, disputes] = await Promise.all([standing.reads.recordsOf(subjectId), standing.reads.disputesOf(subjectId)]);
  const inputs = subjectRecords(records, disputes);
  const instants = new Set<number>([now]);
  for (const r of st.records) {
    const t = Date.parse(r.occurredAt);
    if (t <= now) instants.add(t);
    for (const c of r.contributions) {
      instants.add(Date.parse(c.from));
      if (c.until !== null) instants.add(Date.parse(c.until));
    }
  }
  for (const u of st.upcoming) instants.add(Date.parse(u.at));
  const sorted = [...instants].filter(Number.isFinite).sort((a, b) => a - b).slice(0, 400);
  const first = sorted[0] as number;
  const start = Math.min(first - 30 * DAY, now - 90 * DAY);
  const last = sorted[sorted.length - 1] as number;
  const end = Math.max(last + 30 * DAY, now + 90 * DAY);
  const points: StepPoint[] = [];
  for (const t of [start, ...sorted]) {
    // Without the early-exit applications: they end list memberships, never change a score.
    const v = evaluate(policy, inputs, t).score;
    if (points.length === 0 || (points[points.length - 1] as StepPoint).v !== v || t === now) points.push({ t, v });
  }
  return { points, end };
}

function recordEffect(r: StatementRecord, fmt: (t: number) => string): Html {
  if (r.contributions.length === 0) return html`<span class="muted">—</span>`;
  return html`${r.contributions.map((c) => html`<div>${c.points > 0 ? "+" : ""}${c.points} points (${c.rule})${c.capped ? html`, ${c.capped} withheld by the cap` : ""}, from ${time(Date.parse(c.from), fmt)} until ${c.until === null ? "no expiry" : time(Date.parse(c.until), fmt)}</div>`)}`;
}

export interface FileOptions {
  /** Shown to the subject themselves (second person) or to an operator. */
  readonly audience: "subject" | "operator";
  /** The dispute form, if this viewer may file one. */
  readonly disputeForm?: Html;
  readonly flash?: Html;
}

export async function subjectFile(standing: Standing, subjectId: SubjectId, st: Statement, o: FileOptions): Promise<Html> {
  const now = Date.parse(st.at);
  const policy = standing.requirePolicy(now);
  const fmt = fmtFor(policy);
  const you = o.audience === "subject";
  const restrictions = st.measures.filter((m) => m.effect === "deny");
  const privileges = st.measures.filter((m) => m.effect === "privilege");
  const tl = await scoreTimeline(standing, subjectId, st, now);
  const tiers = policy.score.tiers.map((t) => ({ label: `${t.name} ${t.min}`, v: t.min }));
  return html`
<h1>${you ? "Your file" : html`File of subject #${st.subject.id}`}</h1>
${o.flash ?? ""}
<p class="lead">${you ? "Everything on file about you" : "Everything on file about this subject"}, as of ${time(now, fmt)}, under policy <span class="mono">${st.policy}</span>${st.policyApproval ? html` (proposed by ${st.policyApproval.proposedBy}, approved by ${st.policyApproval.approvedBy})` : ""}. Identifiers: ${st.subject.identifiers.map((i) => `${i.scheme}:${i.value}`).join(", ")}.</p>
<div class="cards">
<div class="card"><p class="figure" id="score">${st.score}</p><p>score (everyone starts at ${st.base})</p></div>
<div class="card"><p class="figure" id="tier">${st.tier}</p><p>tier</p></div>
<div class="card"><p class="figure" id="restriction-count">${restrictions.length}</p><p>restrictions${restrictions.some((m) => m.status === "pending") ? " (some announced, not yet in force)" : ""}</p></div>
</div>

<h2 id="measures">Restrictions and privileges</h2>
${restrictions.length === 0 ? html`<p id="no-restrictions" class="success">${you ? "You are" : "This subject is"} not restricted anywhere.</p>` : ""}
${restrictions.length > 0
    ? html`<table id="restrictions"><caption>Restrictions</caption><thead><tr><th scope="col">Measure</th><th scope="col">Where</th><th scope="col">Status</th><th scope="col">From</th><th scope="col">Until</th><th scope="col">Code and basis</th></tr></thead>
<tbody>${restrictions.map((m) => html`<tr data-measure="${m.measure}"><th scope="row">${m.measure}</th><td>${m.context}</td><td><span class="tag deny">${m.status === "active" ? "in force" : "announced"}</span></td><td>${m.since === null ? "—" : time(Date.parse(m.since), fmt)}</td><td>${m.until === null ? "open-ended" : time(Date.parse(m.until), fmt)}</td><td><span class="mono">${m.code}</span>${m.basis ? html`<span class="hint">${m.basis}</span>` : ""}${m.notice ? html`<span class="hint">notice period ${plainDuration(m.notice)}</span>` : ""}<span class="hint">because of ${m.lists.join(", ")}</span></td></tr>`)}</tbody></table>`
    : ""}
${privileges.length > 0 ? html`<p>Privileges: ${privileges.map((m) => html`<span class="tag privilege">${m.measure} (${m.context})</span> `)}</p>` : ""}

<h2 id="timeline">Score over time</h2>
${stepChart({ title: "Score timeline", desc: `Score at each change: ${tl.points.map((p) => `${fmt(p.t)}: ${p.v}`).join("; ")}. The shaded part is the future, as scheduled today.`, points: tl.points, now, end: tl.end, references: tiers, fmt })}
<p class="hint">Past values are computed from the records on file under the policy in force now; the shaded part is what happens by itself if nothing new arrives. Dashed lines are tier thresholds.</p>
<h3 id="upcoming">What changes when</h3>
${st.upcoming.length === 0 ? html`<p>Nothing changes by itself.</p>` : html`<ul>${st.upcoming.map((u) => html`<li>${time(Date.parse(u.at), fmt)} (in ${duration(Date.parse(u.at) - now)}): ${u.changes.join("; ")}</li>`)}</ul>`}

<h2 id="recovery">How to recover</h2>
${st.recovery.length === 0 ? html`<p>Nothing to recover from.</p>` : html`<ul>${st.recovery.map((r) => html`<li><strong>${r.list}</strong>: ${r.text}${you && r.kind === "early-exit" && r.from !== null && Date.parse(r.from) <= now ? html`<form class="inline" method="post" action="/me/applications"><input type="hidden" name="list" value="${r.list}"><button type="submit">Apply to leave ${r.list} now</button></form>` : ""}</li>`)}</ul>`}

<h2 id="records">Records (${st.records.length})</h2>
<table><caption>Every record on file, oldest first</caption>
<thead><tr><th scope="col">Date</th><th scope="col">Record</th><th scope="col">From</th><th scope="col">Status</th><th scope="col">Effect</th><th scope="col">Dispute</th></tr></thead>
<tbody>${st.records.length === 0 ? html`<tr><td colspan="6">Nothing on file.</td></tr>` : st.records.map((r) => html`<tr data-record="${r.id}"><td>${time(Date.parse(r.occurredAt), fmt)}</td><th scope="row"><span class="mono">${r.type}</span><span class="hint">id ${r.id}${Object.keys(r.fields).length ? `; ${Object.entries(r.fields).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ")}` : ""}</span></th><td>${r.source}</td><td class="status">${STATUS[r.status]}</td><td>${recordEffect(r, fmt)}</td><td>${r.dispute ? html`${r.dispute.status}<span class="hint">deadline ${time(Date.parse(r.dispute.deadline), fmt)}</span>` : "—"}</td></tr>`)}</tbody></table>

<h2 id="lists">Lists (${st.lists.length})</h2>
${st.lists.length === 0 ? html`<p>On no list.</p>` : html`<ul>${st.lists.map((l) => html`<li><strong>${l.list}</strong> (${l.effect}) since ${l.since === null ? "always" : time(Date.parse(l.since), fmt)} until ${l.until === null ? "open-ended" : time(Date.parse(l.until), fmt)}${l.because.length ? html`, because of ${l.because.map((b) => `${b.type} ${b.id} from ${b.source}`).join("; ")}` : ""}</li>`)}</ul>`}

<h2 id="disputes">Disputes (${st.disputes.length})</h2>
${st.disputes.length === 0 ? html`<p>No disputes.</p>` : html`<table id="dispute-table"><caption>Disputes</caption><thead><tr><th scope="col">Record</th><th scope="col">Status</th><th scope="col">Opened</th><th scope="col">Source must answer by</th><th scope="col">Grounds, answer and decision</th></tr></thead>
<tbody>${st.disputes.map((d) => html`<tr data-dispute="${d.id}"><th scope="row">${d.record}<span class="hint">from ${d.source}</span></th><td class="dispute-status">${d.status}</td><td>${time(Date.parse(d.openedAt), fmt)}</td><td>${time(Date.parse(d.deadline), fmt)}</td><td>${d.grounds}${d.answer ? html`<span class="hint">Source's answer: ${d.answer}</span>` : ""}${d.decision ? html`<span class="hint">Reviewer's reason: ${d.decision}</span>` : ""}${d.closedAt ? html`<span class="hint">closed ${time(Date.parse(d.closedAt), fmt)}</span>` : ""}</td></tr>`)}</tbody></table>`}
${o.disputeForm ?? ""}

<h2 id="notices">Notices (${st.notices.length})</h2>
${st.notices.length === 0 ? html`<p>No notices.</p>` : html`<ul>${st.notices.map((n) => html`<li class="notice-box">${time(Date.parse(n.createdAt), fmt)}: ${n.text}<span class="hint">measure ${n.measure}, effective from ${time(Date.parse(n.effectiveFrom), fmt)}</span></li>`)}</ul>`}

<h2 id="lookups">Who looked ${you ? "you" : "this subject"} up (${st.lookups.length})</h2>
${st.lookups.length === 0 ? html`<p>Nobody has asked about ${you ? "you" : "this subject"}.</p>` : html`<table><caption>Checks about ${you ? "you" : "this subject"}, newest first</caption><thead><tr><th scope="col">When</th><th scope="col">Who asked</th><th scope="col">About</th><th scope="col">Answer</th></tr></thead>
<tbody>${st.lookups.map((l) => html`<tr><td>${time(Date.parse(l.at), fmt)}</td><td>${l.askedBy}</td><td>${l.context} (${l.identifier})</td><td>${l.decision}${l.codes.length ? ` ${l.codes.join(", ")}` : ""}</td></tr>`)}</tbody></table>`}`;
}

/** The form a subject uses to dispute one of their records. */
export function disputeForm(st: Statement, values: { record?: string; grounds?: string; evidence?: string } = {}, error?: string): Html {
  const open = new Set(st.disputes.filter((d) => d.status === "open" || d.status === "confirmed").map((d) => `${d.source}\u0000${d.record}`));
  const disputable = st.records.filter((r) => r.status !== "retraction" && r.status !== "retracted" && r.status !== "removed-by-dispute" && !open.has(`${r.source}\u0000${r.id}`));
  if (disputable.length === 0) return html`<p>There is no record you could dispute now${open.size ? " (your disputes are being handled)" : ""}.</p>`;
  return html`<h3 id="dispute-form-title">Dispute a record</h3>
${error ? html`<div class="alert" role="alert" id="form-error">${error}</div>` : ""}
<form class="stack" method="post" action="/me/disputes" aria-labelledby="dispute-form-title">
<div><label for="record">Record</label>
<select id="record" name="record" required>${disputable.map((r) => {
    const v = JSON.stringify([r.source, r.id]);
    return html`<option value="${v}"${values.record === v ? html` selected` : ""}>${r.type} ${r.id} from ${r.source} (${r.occurredAt.slice(0, 10)})</option>`;
  })}</select></div>
<div><label for="grounds">Why is it wrong? <span class="hint">At least a sentence. The source must answer by the deadline, and a reviewer decides with a written reason.</span></label>
<textarea id="grounds" name="grounds" rows="5" required minlength="10" maxlength="10000">${values.grounds ?? ""}</textarea></div>
<div><label for="evidence">Evidence <span class="hint">Optional: a reference to a document, receipt or case file (a link or file number).</span></label>
<input type="text" id="evidence" name="evidence" maxlength="2048" value="${values.evidence ?? ""}"></div>
<div class="buttons"><button type="submit">File the dispute</button></div>
</form>`;
}
