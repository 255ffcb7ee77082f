// The operator console's pages: subject search, the reviewers' dispute queue, the
// quarantine queue, policy lint/diff/publish and journal verification. Which of them
// a key sees follows its role, exactly as the JSON API allows.
import type { Principal, Role } from "../auth/principals.js";
import type { VerifyReport } from "../journal/report.js";
import type { PolicyDiagnostic } from "../policy/types.js";
import type { PublishResult } from "../standing.js";
import type { DisputeRow, PolicyProposalRow, QuarantineRow } from "../store/types.js";
import { html, type Html } from "./html.js";
import { time } from "./layout.js";
import { duration } from "./stats.js";

export const CAN = {
  search: ["admin", "reviewer", "auditor"],
  disputes: ["admin", "reviewer", "auditor"],
  decide: ["reviewer"],
  quarantine: ["admin", "reviewer", "auditor"],
  link: ["admin"],
  policy: ["policy-author", "policy-approver", "admin"],
  propose: ["policy-author", "admin"],
  approve: ["policy-approver"],
  journal: ["auditor"],
} as const satisfies Record<string, readonly Role[]>;

export type Capability = keyof typeof CAN;

export function can(p: Principal, what: Capability): boolean {
  return p.kind === "key" && (CAN[what] as readonly Role[]).includes(p.role);
}

export function consoleHome(p: Principal): Html {
  const items: [Capability, string, string, string][] = [
    ["search", "/console/subjects", "Find a subject", "Look up a subject by identifier and read their whole file."],
    ["disputes", "/console/disputes", "Dispute queue", "Open disputes, soonest deadline first; reviewers decide them with a written reason."],
    ["quarantine", "/console/quarantine", "Quarantine", "Records waiting for an identifier to be linked to a subject."],
    ["policy", "/console/policy", "Policy", "Lint a draft, compare it with the version in force and propose it; a policy approver other than its author approves (publishes) or rejects it."],
    ["journal", "/console/journal", "Journal verification", "Check the tamper-evident journal, its signatures, and replay every stored state."],
  ];
  const mine = items.filter(([c]) => can(p, c));
  return html`<h1>Operator console</h1>
<p class="lead">Signed in as ${p.kind === "key" ? html`a <strong>${p.role}</strong>` : "nobody"}. Each key sees only what its role may do.</p>
<ul>${mine.map(([, href, title, text]) => html`<li><a href="${href}">${title}</a>: ${text}</li>`)}</ul>`;
}

export function searchForm(identifier: string): Html {
  return html`<h1>Find a subject</h1>
<form class="stack" method="get" action="/console/subjects" role="search">
<div><label for="identifier">Identifier <span class="hint">SCHEME:VALUE, for example national-id:demo-000042</span></label>
<input type="search" id="identifier" name="identifier" required value="${identifier}" autocomplete="off"></div>
<div class="buttons"><button type="submit">Search</button></div>
</form>`;
}

export function disputeQueue(o: { rows: readonly DisputeRow[]; closed: readonly DisputeRow[]; now: number; fmt: (t: number) => string; canDecide: boolean; flash?: Html; error?: { id: string; message: string } }): Html {
  const { now, fmt } = o;
  return html`<h1>Dispute queue</h1>
${o.flash ?? ""}
<p class="lead">${o.rows.length} open dispute${o.rows.length === 1 ? "" : "s"}, soonest deadline first. An unanswered dispute past its deadline closes by itself and the record stops counting.</p>
${o.rows.length === 0 ? html`<p>Nothing waiting.</p>` : ""}
${o.rows.map((d) => {
    const left = d.deadlineAt - now;
    return html`<article class="card" aria-labelledby="d-${d.id}" data-dispute="${d.id}">
<h2 id="d-${d.id}">Record <span class="mono">${d.recordId}</span> from ${d.source}, subject #${d.subjectId}</h2>
<dl class="facts">
<dt>Status</dt><dd>${d.status}${d.status === "confirmed" ? " (the source stands by the record)" : d.status === "uphold-proposed" ? html` (proposed by ${d.decidedBy ?? "a reviewer"}: ${d.reason ?? ""}; a second reviewer confirms or rejects)` : d.status === "open" ? " (waiting for the source's answer; a reviewer decides once it answers or the deadline passes)" : ""}</dd>
<dt>Opened</dt><dd>${time(d.openedAt, fmt)} by ${d.openedBy}</dd>
<dt>Deadline</dt><dd>${time(d.deadlineAt, fmt)}: <span class="countdown ${left < 0 ? "overdue" : ""}">${left < 0 ? `overdue by ${duration(-left)}` : `${duration(left)} left`}</span></dd>
<dt>Record suspended</dt><dd>${d.suspend ? "yes, while the dispute is open" : "no, it counts until decided"}</dd>
<dt>Grounds</dt><dd>${d.grounds}</dd>
<dt>Evidence</dt><dd>${d.evidence ?? html`<em>none given</em>`}</dd>
${d.answerNote ? html`<dt>Source's answer</dt><dd>${d.answerNote}</dd>` : ""}
</dl>
<p><a href="/console/subjects?identifier=${encodeURIComponent(`#${d.subjectId}`)}">Read the subject's file</a></p>
${o.canDecide
      ? html`<form class="stack" method="post" action="/console/disputes/${encodeURIComponent(d.id)}/decision">
${o.error && o.error.id === d.id ? html`<div class="alert" role="alert">${o.error.message}</div>` : ""}
<fieldset><legend>Decision</legend>
${d.status === "uphold-proposed"
        ? html`<input type="radio" id="up-${d.id}" name="decision" value="upheld" required><label for="up-${d.id}">Confirm: upheld, the record stops counting</label>
<input type="radio" id="dis-${d.id}" name="decision" value="dismissed"><label for="dis-${d.id}">Reject the proposal: the record keeps counting</label>`
        : html`<input type="radio" id="up-${d.id}" name="decision" value="upheld" required><label for="up-${d.id}">Propose to uphold: a second reviewer confirms before the record stops counting</label>
<input type="radio" id="dis-${d.id}" name="decision" value="dismissed"><label for="dis-${d.id}">Dismissed: the record counts</label>`}
</fieldset>
<div><label for="reason-${d.id}">Written reason <span class="hint">At least 10 characters; the subject reads it.</span></label>
<textarea id="reason-${d.id}" name="reason" rows="3" required minlength="10" maxlength="10000"></textarea></div>
<div class="buttons"><button type="submit">Record the decision</button></div>
</form>`
      : html`<p class="muted">Only a reviewer key may decide.</p>`}
</article>`;
  })}
<h2>Recently closed</h2>
${o.closed.length === 0 ? html`<p>None yet.</p>` : html`<table><thead><tr><th scope="col">Record</th><th scope="col">Outcome</th><th scope="col">Closed</th><th scope="col">Decided by</th><th scope="col">Reason</th></tr></thead>
<tbody>${o.closed.map((d) => html`<tr><th scope="row">${d.recordId}<span class="hint">from ${d.source}, subject #${d.subjectId}</span></th><td>${d.status}</td><td>${d.closedAt === null ? "—" : time(d.closedAt, fmt)}</td><td>${d.decidedBy ?? "—"}</td><td>${d.reason ?? d.answerNote ?? "—"}</td></tr>`)}</tbody></table>`}`;
}

export function quarantinePage(o: { rows: readonly QuarantineRow[]; fmt: (t: number) => string; canLink: boolean; flash?: Html; error?: string; values?: { known?: string; extra?: string } }): Html {
  return html`<h1>Quarantine</h1>
${o.flash ?? ""}
<p class="lead">Records whose identifier names no subject yet. They are kept, and count from their arrival once the identifier is linked to a known subject.</p>
<table><caption>${o.rows.length} waiting${o.rows.length >= 200 ? " (first 200)" : ""}</caption>
<thead><tr><th scope="col">Identifier</th><th scope="col">Record</th><th scope="col">Arrived</th><th scope="col">Why</th></tr></thead>
<tbody>${o.rows.length === 0 ? html`<tr><td colspan="4">Nothing waiting.</td></tr>` : o.rows.map((q) => html`<tr data-quarantine="${q.recordId}"><th scope="row" class="mono">${q.scheme}:${q.value}</th><td>${q.recordId}<span class="hint">from ${q.source}</span></td><td>${time(q.receivedAt, o.fmt)}</td><td>${q.reason}</td></tr>`)}</tbody></table>
${o.canLink
    ? html`<h2 id="link-title">Link an identifier</h2>
${o.error ? html`<div class="alert" role="alert">${o.error}</div>` : ""}
<form class="stack" method="post" action="/console/link" aria-labelledby="link-title">
<div><label for="known">Known identifier <span class="hint">One the subject already has, SCHEME:VALUE</span></label><input type="text" id="known" name="known" required value="${o.values?.known ?? ""}"></div>
<div><label for="extra">Identifier to link <span class="hint">For example the passport number above</span></label><input type="text" id="extra" name="extra" required value="${o.values?.extra ?? ""}"></div>
<div class="buttons"><button type="submit">Link and release</button></div>
</form>`
    : html`<p class="muted">Only an admin key may link identifiers.</p>`}`;
}

function diagnostics(list: readonly PolicyDiagnostic[], kind: string): Html {
  if (list.length === 0) return html``;
  return html`<table><caption>${list.length} ${kind}${list.length === 1 ? "" : "s"}</caption><thead><tr><th scope="col">Line</th><th scope="col">Rule</th><th scope="col">Where</th><th scope="col">Message</th></tr></thead>
<tbody>${list.map((e) => html`<tr><td class="num">${e.line}:${e.col}</td><td class="mono">${e.code}</td><td class="mono">${e.path}</td><td>${e.message}</td></tr>`)}</tbody></table>`;
}

export type PolicyOutcome =
  | { kind: "lint"; ok: boolean; ref?: string; errors: readonly PolicyDiagnostic[]; warnings: readonly PolicyDiagnostic[] }
  | { kind: "diff"; table: Html }
  | { kind: "proposed"; proposal: PolicyProposalRow; status: "proposed" | "unchanged"; warnings: readonly PolicyDiagnostic[] }
  | { kind: "publish"; result: PublishResult & { proposal: PolicyProposalRow } }
  | { kind: "rejected"; proposal: PolicyProposalRow }
  | { kind: "error"; message: string; errors: readonly PolicyDiagnostic[]; proposal?: string };

export interface PolicyPageInput {
  readonly text: string;
  readonly active: string | null;
  readonly outcome?: PolicyOutcome;
  readonly canPropose: boolean;
  readonly canApprove: boolean;
  /** Every proposal, oldest first. */
  readonly proposals: readonly PolicyProposalRow[];
  /** The diff of a proposal against the version in force. */
  readonly diffOf: (p: PolicyProposalRow) => Html;
  readonly fmt: (t: number) => string;
}

export function policyPage(o: PolicyPageInput): Html {
  const out = o.outcome;
  let result: Html = html``;
  if (out?.kind === "lint") {
    result = html`<div class="${out.ok ? "success" : "alert"}" role="status" id="policy-result">${out.ok ? html`Compiles: <span class="mono">${out.ref}</span> passes every guardrail.` : "Does not compile."}</div>${diagnostics(out.errors, "error")}${diagnostics(out.warnings, "warning")}`;
  } else if (out?.kind === "diff") {
    result = html`<div role="status" id="policy-result"><h2>Changes from the version in force</h2>${out.table}</div>`;
  } else if (out?.kind === "proposed") {
    result = html`<div class="success" role="status" id="policy-result"><span class="mono">${out.proposal.ref}</span> ${out.status === "proposed" ? "proposed" : "was already proposed"} by ${out.proposal.proposedBy}. It is published when a policy approver other than its author approves it.</div>${diagnostics(out.warnings, "warning")}`;
  } else if (out?.kind === "publish") {
    const r = out.result;
    result = html`<div class="success" role="status" id="policy-result"><span class="mono">${r.policy}</span> ${r.status}, effective ${r.effective}: proposed by ${r.proposal.proposedBy}, approved by ${r.proposal.decidedBy ?? ""}. Re-evaluated ${r.reevaluated} subjects: ${r.changed.tier} changed tier, ${r.changed.lists} changed lists, ${r.changed.measures} changed measures.</div>${diagnostics(r.warnings, "warning")}`;
  } else if (out?.kind === "rejected") {
    result = html`<div class="success" role="status" id="policy-result"><span class="mono">${out.proposal.ref}</span> rejected by ${out.proposal.decidedBy ?? ""}: ${out.proposal.note ?? ""}</div>`;
  } else if (out?.kind === "error") {
    result = html`<div class="alert" role="alert" id="policy-result">${out.message}</div>${diagnostics(out.errors, "error")}`;
  }
  const open = o.proposals.filter((p) => p.status === "proposed");
  const decided = o.proposals.filter((p) => p.status !== "proposed").slice(-20).reverse();
  return html`<h1>Policy</h1>
<p class="lead">In force: <span class="mono">${o.active ?? "none"}</span>. An author lints a draft, compares it with the version in force and proposes it; a policy approver, never its author, approves it (which publishes it) or rejects it. Published versions are immutable: give a change a new version.</p>
${result}
<h2 id="proposals-title">Waiting for approval</h2>
${open.length === 0 ? html`<p>No proposal is waiting.</p>` : ""}
${open.map((p) => html`<article class="card" aria-labelledby="p-${p.id}" data-proposal="${p.id}">
<h3 id="p-${p.id}"><span class="mono">${p.ref}</span></h3>
<dl class="facts"><dt>Proposed</dt><dd>${time(p.proposedAt, o.fmt)} by ${p.proposedBy}</dd><dt>Fingerprint</dt><dd class="mono">${p.hash.slice(0, 16)}…</dd></dl>
<details><summary>Changes from the version in force</summary>${o.diffOf(p)}</details>
${o.canApprove
    ? html`<form class="stack" method="post" action="/console/policy/proposals/${encodeURIComponent(p.id)}">
<div><label for="reason-${p.id}">Reason <span class="hint">Needed to reject (10 characters or more); kept with the decision.</span></label><textarea id="reason-${p.id}" name="reason" rows="2" maxlength="2000"></textarea></div>
<div class="buttons"><button type="submit" name="action" value="approve">Approve and publish</button><button type="submit" name="action" value="reject" class="secondary">Reject</button></div>
</form>`
    : html`<p class="muted">A policy approver other than its author approves or rejects it.</p>`}
</article>`)}
${decided.length === 0 ? "" : html`<table><caption>Decided proposals (latest ${decided.length})</caption><thead><tr><th scope="col">Version</th><th scope="col">Proposed by</th><th scope="col">Decision</th><th scope="col">Decided by</th><th scope="col">When</th></tr></thead>
<tbody>${decided.map((p) => html`<tr data-proposal="${p.id}"><th scope="row" class="mono">${p.ref}</th><td>${p.proposedBy}</td><td>${p.status}${p.note ? html`<span class="hint">${p.note}</span>` : ""}</td><td>${p.decidedBy ?? "—"}</td><td>${p.decidedAt === null ? "—" : time(p.decidedAt, o.fmt)}</td></tr>`)}</tbody></table>`}
${o.canPropose
    ? html`<h2>Draft</h2><form class="stack wide" method="post" action="/console/policy">
<div><label for="text">Policy (YAML)</label><textarea class="code" id="text" name="text" required spellcheck="false">${o.text}</textarea></div>
<div class="buttons"><button type="submit" name="action" value="lint">Lint</button><button type="submit" name="action" value="diff" class="secondary">Compare with the version in force</button><button type="submit" name="action" value="propose" class="secondary">Propose for approval</button></div>
</form>`
    : ""}`;
}

export function journalPage(o: { report?: VerifyReport; unavailable?: string; fmt: (t: number) => string }): Html {
  if (o.unavailable !== undefined) {
    return html`<h1>Journal verification</h1><div class="alert" role="status" id="journal-result">Journal verification is not available: ${o.unavailable}</div>`;
  }
  const r = o.report as VerifyReport;
  return html`<h1>Journal verification</h1>
<div class="${r.ok ? "success" : "alert"}" role="status" id="journal-result">${r.ok ? "Verified: the journal chain, its signatures, every row and every stored state check out." : `${r.problems.length + r.omitted} problem${r.problems.length + r.omitted === 1 ? "" : "s"} found.`}</div>
<dl class="facts">
<dt>Checked at</dt><dd>${r.at}</dd>
<dt>Journal entries</dt><dd>${r.entries}</dd>
<dt>Head</dt><dd class="mono">${r.head ? `#${r.head.seq} ${r.head.hash}` : "empty"}</dd>
<dt>Checkpoints</dt><dd>${r.checkpoints}${r.lastCheckpoint ? `, last good #${r.lastCheckpoint.seq} at ${r.lastCheckpoint.at}` : ""}</dd>
<dt>Entries not yet signed</dt><dd>${r.unsignedTail}</dd>
<dt>Public key</dt><dd class="mono">${r.publicKey ? `${r.publicKey.fingerprint} (${r.publicKey.source})` : "none"}</dd>
<dt>Tables and rows</dt><dd>${r.tables} tables, ${r.rows} rows</dd>
<dt>Stored states</dt><dd>${r.states.checked} checked${r.states.replayed ? ", replayed" : ""}</dd>
</dl>
${r.problems.length ? html`<h2>Problems</h2><ul>${r.problems.map((p) => html`<li><strong>${p.kind}</strong> ${p.message}</li>`)}</ul>${r.omitted ? html`<p>${r.omitted} more not listed.</p>` : ""}` : ""}
${r.warnings.length ? html`<h2>Warnings</h2><ul>${r.warnings.map((p) => html`<li><strong>${p.kind}</strong> ${p.message}</li>`)}</ul>` : ""}
<form method="get" action="/console/journal"><button type="submit">Verify again</button></form>`;
}
