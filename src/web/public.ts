// The public transparency portal: the rulebook in plain language, aggregate
// statistics with charts, and the history of published policy versions with diffs.
// Nothing here is about any one subject.
import type { Catalogue } from "../policy/catalogue.js";
import type { Standing } from "../standing.js";
import { rulebook } from "../policy/rulebook.js";
import type { CompiledPolicy } from "../policy/types.js";
import type { PolicyRow } from "../store/types.js";
import type { PolicyProvenance } from "../services/policies.js";
import { humanDate } from "../time.js";
import { hunks, lineDiff } from "./diff.js";
import { html, join, type Html } from "./html.js";
import { time } from "./layout.js";
import { duration, type PublicStats } from "./stats.js";
import { barChart, columnChart } from "./svg.js";

const UNITS: Record<string, [string, string]> = { Y: ["year", "years"], M: ["month", "months"], W: ["week", "weeks"], D: ["day", "days"], H: ["hour", "hours"], m: ["minute", "minutes"], S: ["second", "seconds"] };

/** "P1Y6M" → "1 year 6 months"; "P0D" → "no time at all". */
export function plainDuration(iso: string | null): string {
  if (iso === null) return "no fixed period";
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(iso);
  if (!m) return iso;
  const keys = ["Y", "M", "W", "D", "H", "m", "S"];
  const parts: string[] = [];
  keys.forEach((k, i) => {
    const n = Number(m[i + 1] ?? 0);
    if (n > 0) parts.push(`${n} ${(UNITS[k] as [string, string])[n === 1 ? 0 : 1]}`);
  });
  return parts.length === 0 ? "no time at all" : parts.join(" ");
}

const pts = (n: number | string): string => (typeof n === "number" ? `${n > 0 ? "+" : ""}${n} points` : `the points given by ${n}`);

export function fmtFor(p: CompiledPolicy | undefined): (t: number) => string {
  const tz = p?.timezone ?? "UTC";
  return (t: number) => humanDate(t, tz);
}

export function noPolicy(): Html {
  return html`<h1>No rulebook yet</h1><p class="lead">No policy is in force yet, so nothing about anyone is decided. Once a policy is published, its rules appear here.</p>`;
}

export function rulebookSection(p: CompiledPolicy, headingLevel: 1 | 2 = 1, who: PolicyProvenance | null = null): Html {
  const rb = rulebook(p);
  const fmt = fmtFor(p);
  const H = (text: string, id: string): Html => (headingLevel === 1 ? html`<h2 id="${id}">${text}</h2>` : html`<h3 id="${id}">${text}</h3>`);
  const severities = Object.entries(rb.severity);
  return html`
<section aria-labelledby="rb-title">
${headingLevel === 1 ? html`<h1 id="rb-title">The rulebook</h1>` : html`<h2 id="rb-title">The rulebook</h2>`}
<p class="lead">${rb.title ?? rb.policy}: every rule that decides anything about anyone, as published. Only the record types below are accepted; everything else is refused.</p>
<dl class="facts">
<dt>Version</dt><dd class="mono">${rb.ref}</dd>
<dt>Proposed by</dt><dd id="proposed-by">${who ? html`${who.proposedBy}, ${time(who.proposedAt, fmt)}` : html`<em>not recorded</em>`}</dd>
<dt>Approved by</dt><dd id="approved-by">${who ? html`${who.approvedBy}, ${time(who.approvedAt, fmt)}` : html`<em>not recorded</em>`}</dd>
<dt>In force since</dt><dd>${time(p.effective, fmt)}</dd>
<dt>Dates are in</dt><dd>${rb.timezone}</dd>
<dt>Fingerprint (SHA-256)</dt><dd class="mono">${rb.hash}</dd>
</dl>

${H("What is recorded", "records")}
<p>Each record type says who may submit it, whether evidence is required, and how long a person has to dispute it.${severities.length ? html` Negative effects are limited by severity: ${join(severities.map(([k, v]) => html`<strong>${k}</strong> at most ${plainDuration(v)}`), ", ")}.` : ""}</p>
<table>
<caption>Record types (${rb.records.length})</caption>
<thead><tr><th scope="col">Record type</th><th scope="col">Category</th><th scope="col">Who may submit it</th><th scope="col">Evidence</th><th scope="col">Disputes</th></tr></thead>
<tbody>${rb.records.map(
    (r) => html`<tr><th scope="row"><span class="mono">${r.type}</span>${r.description ? html`<span class="hint">${r.description}</span>` : ""}${r.fields.length ? html`<span class="hint">Fields: ${r.fields.map((f) => `${f.name} (${f.type}${f.required ? "" : ", optional"})`).join(", ")}</span>` : ""}</th>
<td>${r.category}${r.severity ? html`<span class="hint">${r.severity}</span>` : ""}</td><td>${r.sources.join(", ")}</td><td>${r.evidence === "required" ? "required" : "optional"}</td>
<td>the source must answer within ${plainDuration(r.dispute.deadline)}${r.dispute.suspend ? "; the record stops counting while disputed" : ""}</td></tr>`,
  )}</tbody>
</table>

${H("How the score moves", "points")}
<p>Everyone starts at <strong>${rb.score.base}</strong> points. Tiers: ${join(rb.score.tiers.map((t) => html`<strong>${t.name}</strong> from ${t.min}`), ", ")}. The score and the tier can only grant privileges; they never restrict anyone on their own.</p>
<ul>${rb.points.map(
    (r) => html`<li><strong>${r.rule}</strong>: a <span class="mono">${r.on.join(" or ")}</span> record${r.when ? html` where <code>${r.when}</code>` : ""} counts ${pts(r.points)} for ${plainDuration(r.for)}, at most ${r.cap.total} points in any ${plainDuration(r.cap.per)}.${r.description ? html` <span class="muted">${r.description}</span>` : ""}</li>`,
  )}</ul>

${H("Lists", "lists")}
<ul>${rb.lists.map(
    (l) => html`<li><strong>${l.list}</strong> (${l.effect === "restrict" ? "restricting" : "privilege"}):
${l.enter ? html`entered on a <span class="mono">${l.enter.on.join(" or ")}</span> record${l.enter.when ? html` where <code>${l.enter.when}</code>` : ""}` : ""}${l.when ? html`everyone for whom <code>${l.when}</code>` : ""}${l.leave ? html`; left on a <span class="mono">${l.leave.on.join(" or ")}</span> record${l.leave.when ? html` where <code>${l.leave.when}</code>` : ""}` : ""}${l.for ? html`; membership ends after ${plainDuration(l.for)}` : ""}${l.earlyExit ? html`; after ${plainDuration(l.earlyExit)} a member may apply to leave early` : ""}.${l.description ? html`<span class="hint">${l.description}</span>` : ""}</li>`,
  )}</ul>

${H("Where decisions are made, and why", "contexts")}
<table>
<caption>Contexts (${rb.contexts.length})</caption>
<thead><tr><th scope="col">Context</th><th scope="col">Justification</th><th scope="col">Record categories it may consider</th></tr></thead>
<tbody>${rb.contexts.map((c) => html`<tr><th scope="row">${c.context}</th><td>${c.why}${c.description ? html`<span class="hint">${c.description}</span>` : ""}</td><td>${c.related.length ? c.related.join(", ") : html`<em>none: only privileges</em>`}</td></tr>`)}</tbody>
</table>

${H("Measures", "measures")}
<table>
<caption>Measures (${rb.measures.length})</caption>
<thead><tr><th scope="col">Measure</th><th scope="col">Context</th><th scope="col">Effect</th><th scope="col">Because of list</th><th scope="col">Reason code</th><th scope="col">Legal basis</th><th scope="col">Notice before it applies</th></tr></thead>
<tbody>${rb.measures.map(
    (m) => html`<tr><th scope="row">${m.measure}</th><td>${m.context}</td><td><span class="tag ${m.effect}">${m.effect === "deny" ? "restriction" : "privilege"}</span></td><td>${m.lists.join(", ")}</td><td class="mono">${m.code}</td><td>${m.basis ?? html`<em>none needed for a privilege</em>`}</td><td>${m.notice === null ? "—" : plainDuration(m.notice)}${m.noticeReason ? html`<span class="hint">${m.noticeReason}</span>` : ""}</td></tr>`,
  )}</tbody>
</table>

${H("Guardrails the compiler enforces", "guardrails")}
<p>No policy that breaks one of these can be published; the compiler refuses it.</p>
<ol>${rb.guardrails.map((g) => html`<li><strong>${g.code} ${g.name}</strong>: ${g.rule}.</li>`)}</ol>
</section>`;
}

export function statsSection(s: PublicStats, p: CompiledPolicy | undefined, headingLevel: 1 | 2 = 1): Html {
  const fmt = fmtFor(p);
  const d = s.disputes;
  const H = (text: string, id: string): Html => (headingLevel === 1 ? html`<h2 id="${id}">${text}</h2>` : html`<h3 id="${id}">${text}</h3>`);
  return html`
<section aria-labelledby="stats-title">
${headingLevel === 1 ? html`<h1 id="stats-title">Statistics</h1>` : html`<h2 id="stats-title">Statistics</h2>`}
<p class="lead">Counts across everyone, as of ${time(s.at, fmt)}. Nobody can be identified from them.</p>
<div class="cards">
<div class="card"><p class="figure" id="stat-subjects">${s.subjects}</p><p>people and organisations on file</p></div>
<div class="card"><p class="figure" id="stat-restrictions">${s.contexts.reduce((n, c) => n + c.active, 0)}</p><p>restrictions in force</p></div>
<div class="card"><p class="figure" id="stat-disputes-opened">${d.total}</p><p>disputes opened</p></div>
<div class="card"><p class="figure" id="stat-disputes-overturned">${d.overturned}</p><p>records removed after a dispute</p></div>
<div class="card"><p class="figure" id="stat-median">${d.medianResolutionMs === null ? "—" : duration(d.medianResolutionMs)}</p><p>median time to resolve a dispute</p></div>
</div>

${H("List sizes", "list-sizes")}
${barChart({ title: "Members per list", desc: s.lists.map((l) => `${l.list}: ${l.members}`).join("; ") || "no lists", series: ["members"], rows: s.lists.map((l) => ({ label: `${l.list} (${l.effect})`, values: [l.members] })) })}
<table id="table-lists"><caption>Members per list</caption><thead><tr><th scope="col">List</th><th scope="col">Effect</th><th scope="col" class="num">Members</th></tr></thead>
<tbody>${s.lists.map((l) => html`<tr><th scope="row">${l.list}</th><td>${l.effect}</td><td class="num">${l.members}</td></tr>`)}</tbody></table>

${H("Measures per context", "measures-per-context")}
${barChart({ title: "Restrictions in force and announced, per context", desc: s.contexts.map((c) => `${c.context}: ${c.active} in force, ${c.pending} announced`).join("; ") || "no contexts", series: ["in force", "announced (notice running)", "privileges"], rows: s.contexts.map((c) => ({ label: c.context, values: [c.active, c.pending, c.privileges] })) })}
<table id="table-contexts"><caption>Measures per context</caption><thead><tr><th scope="col">Context</th><th scope="col" class="num">Restrictions in force</th><th scope="col" class="num">Announced, notice running</th><th scope="col" class="num">Privileges granted</th></tr></thead>
<tbody>${s.contexts.map((c) => html`<tr data-context="${c.context}"><th scope="row">${c.context}</th><td class="num active">${c.active}</td><td class="num">${c.pending}</td><td class="num">${c.privileges}</td></tr>`)}</tbody></table>
<details><summary>Per measure</summary>
<table><thead><tr><th scope="col">Context</th><th scope="col">Measure</th><th scope="col">Effect</th><th scope="col" class="num">In force</th><th scope="col" class="num">Announced</th></tr></thead>
<tbody>${s.measures.map((m) => html`<tr><td>${m.context}</td><th scope="row">${m.measure}</th><td>${m.effect}</td><td class="num">${m.active}</td><td class="num">${m.pending}</td></tr>`)}</tbody></table>
</details>

${H("Disputes per source", "disputes-per-source")}
${barChart({ title: "Disputes per source", desc: d.bySource.map((x) => `${x.source}: ${x.opened} opened, ${x.resolved} resolved, ${x.overturned} overturned`).join("; ") || "no disputes yet", series: ["opened", "resolved", "overturned"], rows: d.bySource.map((x) => ({ label: x.source, values: [x.opened, x.resolved, x.overturned] })) })}
<table id="table-disputes"><caption>Disputes per source (overturned: the record stopped counting: upheld, withdrawn, corrected, or unanswered in time)</caption>
<thead><tr><th scope="col">Source</th><th scope="col" class="num">Opened</th><th scope="col" class="num">Resolved</th><th scope="col" class="num">Overturned</th><th scope="col" class="num">Still open</th></tr></thead>
<tbody>${d.bySource.length === 0 ? html`<tr><td colspan="5">No disputes yet.</td></tr>` : d.bySource.map((x) => html`<tr data-source="${x.source}"><th scope="row">${x.source}</th><td class="num opened">${x.opened}</td><td class="num resolved">${x.resolved}</td><td class="num overturned">${x.overturned}</td><td class="num">${x.pending}</td></tr>`)}</tbody></table>

${H("Over time", "over-time")}
${columnChart({ title: "Per month: disputes opened and closed, restrictions announced", desc: s.months.map((m) => `${m.month}: ${m.disputesOpened} opened, ${m.disputesClosed} closed, ${m.restrictionsAnnounced} restrictions announced`).join("; ") || "nothing yet", series: ["disputes opened", "disputes closed", "restrictions announced"], periods: s.months.map((m) => m.month), values: s.months.map((m) => [m.disputesOpened, m.disputesClosed, m.restrictionsAnnounced]) })}
<p class="hint">Months in ${p?.timezone ?? "UTC"}. Restrictions announced counts the notices sent before a restriction applies.</p>
</section>`;
}

export function versionsSection(rows: readonly PolicyRow[], active: CompiledPolicy | undefined, now: number, provenance: (ref: string) => PolicyProvenance | null = () => null): Html {
  const fmt = fmtFor(active);
  const list = [...rows].reverse();
  return html`<h1>Policy versions</h1>
<p class="lead">Every version ever published, newest first. Published versions never change; a change is a new version, and what changed is shown against the version before it.</p>
<table><caption>Published versions (${rows.length})</caption>
<thead><tr><th scope="col">Version</th><th scope="col">Takes effect</th><th scope="col">Published</th><th scope="col">Proposed by</th><th scope="col">Approved by</th><th scope="col">Fingerprint (SHA-256)</th><th scope="col">Status</th></tr></thead>
<tbody>${list.map((r) => {
    const who = provenance(r.ref);
    return html`<tr data-version="${r.ref}"><th scope="row"><a href="#v-${r.seq}" class="mono">${r.ref}</a></th><td>${time(r.effective, fmt)}</td><td>${time(r.publishedAt, fmt)}</td><td class="who-proposed">${who?.proposedBy ?? html`<em>not recorded</em>`}</td><td class="who-approved">${who?.approvedBy ?? html`<em>not recorded</em>`}</td><td class="mono">${r.hash.slice(0, 16)}…</td><td>${active?.ref === r.ref ? html`<strong>in force</strong>` : r.effective > now ? "scheduled" : "superseded"}</td></tr>`;
  })}</tbody></table>
<p class="hint">Each version is proposed by one person and approved, which publishes it, by another. Versions published before approval was required name nobody.</p>
${list.map((r) => {
    const prev = rows[rows.indexOf(r) - 1];
    return html`<section aria-labelledby="v-${r.seq}"><h2 id="v-${r.seq}">Version <span class="mono">${r.ref}</span></h2>
<p>Fingerprint <span class="mono">${r.hash}</span>.</p>
${prev ? html`<h3>Changes from ${prev.ref}</h3>${diffTable(prev.text, r.text, `${prev.ref} → ${r.ref}`)}` : html`<p>The first published version.</p>`}
<details><summary>Full text of ${r.ref}</summary><pre>${r.text}</pre></details></section>`;
  })}`;
}

export function diffTable(before: string, after: string, label: string): Html {
  const lines = hunks(lineDiff(before, after));
  const changed = lines.filter((l) => l !== null && l.op !== " ").length;
  if (changed === 0) return html`<p>No line differs.</p>`;
  return html`<table class="diff mono"><caption>${label}: ${changed} line${changed === 1 ? "" : "s"} changed (− removed, + added)</caption>
<thead><tr><th scope="col" class="ln">old</th><th scope="col" class="ln">new</th><th scope="col">line</th></tr></thead>
<tbody>${lines.map((l) =>
    l === null
      ? html`<tr class="gap"><td class="ln">…</td><td class="ln">…</td><td>…</td></tr>`
      : html`<tr class="${l.op === "+" ? "add" : l.op === "-" ? "del" : ""}"><td class="ln">${l.a ?? ""}</td><td class="ln">${l.b ?? ""}</td><td>${l.op === "+" ? html`<span aria-label="added">+ </span>` : l.op === "-" ? html`<span aria-label="removed">− </span>` : "  "}${l.text}</td></tr>`,
  )}</tbody></table>`;
}

export function overview(standing: Standing, s: PublicStats): Html {
  const p = standing.activePolicy();
  if (!p) return noPolicy();
  return html`<h1>Standing: how decisions about people are made here</h1>
<p class="lead">This portal is public. It shows the rules in force, what they do in aggregate, and every change ever made to them. If you are on file, sign in with your subject key to read your own file, see who looked you up, and dispute a record.</p>
<nav aria-label="On this page"><ul><li><a href="#stats-title">Statistics</a></li><li><a href="#rb-title">The rulebook</a></li><li><a href="/versions">Policy versions</a></li></ul></nav>
${statsSection(s, p, 2)}
${rulebookSection(p, 2, standing.policyProvenance(p.ref))}`;
}

/** The catalogue of permitted record categories: what may be recorded at all, and about whom. */
export function catalogueSection(c: { catalogue: Catalogue; adoptedAt: number | null; adoptedBy: string | null; history: readonly { version: string; hash: string; adoptedAt: number; adoptedBy: string }[] }, active: CompiledPolicy | undefined): Html {
  const fmt = fmtFor(active);
  const cat = c.catalogue;
  return html`<h1>What may be recorded</h1>
<p class="lead">Every record type of every policy must belong to one of these categories. The catalogue is a document of its own, which no policy author writes: it changes only by a separate, journaled act, and it has no category for a score, a rating or a screening result.</p>
<p>Catalogue <span class="mono">${cat.id}</span> version <span class="mono">${cat.version}</span>, fingerprint <span class="mono">${cat.hash}</span>, ${c.adoptedAt === null ? "as shipped with Standing" : html`adopted ${time(c.adoptedAt, fmt)} by ${c.adoptedBy ?? ""}`}.</p>
<table id="catalogue"><caption>${cat.categories.size} permitted categories</caption>
<thead><tr><th scope="col">Category</th><th scope="col">About</th><th scope="col">What it covers</th><th scope="col">Legal basis</th></tr></thead>
<tbody>${[...cat.categories.values()].map((k) => html`<tr data-category="${k.name}"><th scope="row" class="mono">${k.name}${k.aliases.length > 0 ? html`<span class="hint">also: ${k.aliases.join(", ")}</span>` : ""}</th><td>${k.subjects.join(", ")}</td><td>${k.description}</td><td>${k.basis}</td></tr>`)}</tbody></table>
${c.history.length > 0 ? html`<h2>Adopted versions</h2><ul>${c.history.map((h) => html`<li><span class="mono">${h.version}</span> (${h.hash.slice(0, 16)}…), ${time(h.adoptedAt, fmt)}, by ${h.adoptedBy}</li>`)}</ul>` : ""}`;
}
