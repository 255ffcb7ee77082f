// The page shell shared by every web page: skip link, header navigation that follows
// who is signed in, one <main>, and the stylesheet (served from /assets/standing.css).
import type { Principal } from "../auth/principals.js";
import { html, type Html, type Value } from "./html.js";

export const CSS = `
:root { color-scheme: light; --ink: #1a1a1a; --muted: #4a4a4a; --link: #0b4ea2; --line: #c9ced6; --bg-soft: #f3f5f8; --bad: #8f1d1d; --good: #1d5c22; --focus: #b34700; }
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; font-size: 100%; line-height: 1.5; color: var(--ink); background: #fff; }
body { margin: 0; }
a { color: var(--link); text-decoration-thickness: 1px; text-underline-offset: 2px; }
a:hover { text-decoration-thickness: 2px; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; top: .5rem; }
header.site { background: #12263f; color: #fff; }
header.site .bar { max-width: 72rem; margin: 0 auto; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; }
header.site .brand { color: #fff; font-weight: 700; font-size: 1.15rem; text-decoration: none; }
header.site nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem 1rem; margin: 0; padding: 0; }
header.site nav a { color: #fff; }
header.site nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
header.site .who { margin-left: auto; display: flex; gap: .75rem; align-items: center; font-size: .95rem; }
header.site .who form { margin: 0; }
header.site .who a { color: #fff; }
header.site .who button { background: transparent; color: #fff; border: 1px solid #fff; padding: .2rem .6rem; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1rem 3rem; }
h1 { font-size: 1.8rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.35rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.1rem; margin: 1.25rem 0 .25rem; }
p.lead { font-size: 1.1rem; color: var(--muted); max-width: 50rem; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .95rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--bg-soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9rem; }
pre { background: var(--bg-soft); padding: .75rem; overflow-x: auto; border: 1px solid var(--line); }
.card > h2:first-child, .card > h3:first-child { margin-top: 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin: .75rem 0; background: #fff; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: .75rem; }
.figure { font-size: 2rem; font-weight: 700; margin: 0; }
.tag { white-space: nowrap; display: inline-block; padding: 0 .45rem; border-radius: 3px; font-size: .85rem; font-weight: 600; border: 1px solid currentColor; }
.tag.deny, .tag.bad { color: var(--bad); }
.tag.ok, .tag.privilege { color: var(--good); }
.notice-box { border-left: 4px solid #12263f; background: var(--bg-soft); padding: .5rem 1rem; margin: 1rem 0; }
.alert { border: 2px solid var(--bad); color: var(--bad); background: #fff; padding: .5rem 1rem; margin: 1rem 0; }
.success { border: 2px solid var(--good); color: var(--good); background: #fff; padding: .5rem 1rem; margin: 1rem 0; }
form.inline { display: inline; margin-left: .5rem; }
form.inline button { padding: .15rem .6rem; }
form.stack { display: grid; gap: .75rem; max-width: 40rem; }
form.stack.wide { max-width: none; }
label { font-weight: 600; display: block; }
.hint { font-weight: 400; color: var(--muted); font-size: .9rem; display: block; }
input[type=text], input[type=password], input[type=search], select, textarea { font: inherit; width: 100%; padding: .4rem .5rem; border: 1px solid #6b7280; border-radius: 4px; background: #fff; color: var(--ink); }
textarea.code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; min-height: 24rem; }
fieldset { border: 1px solid var(--line); border-radius: 4px; }
legend { font-weight: 600; }
fieldset label { display: inline; font-weight: 400; margin-right: 1rem; }
button { font: inherit; padding: .45rem 1rem; border-radius: 4px; border: 1px solid #0b3d7a; background: #0b4ea2; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #0b3d7a; }
.buttons { display: flex; gap: .5rem; flex-wrap: wrap; }
.chart { width: 100%; max-width: 46rem; height: auto; display: block; margin: .5rem 0; }
.chart-text { font: 12px system-ui, sans-serif; fill: #1a1a1a; }
.chart-text.small { font-size: 11px; }
.diff { background: #fff; }
.diff .add { background: #e3f4e1; }
.diff .del { background: #fbe4e4; }
.diff .gap { color: var(--muted); }
.diff td { border: none; padding: 0 .5rem; white-space: pre-wrap; }
.diff td.ln { color: var(--muted); text-align: right; width: 3rem; user-select: none; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.overdue { color: var(--bad); font-weight: 700; }
footer.site { max-width: 72rem; margin: 0 auto; padding: 1rem; color: var(--muted); font-size: .9rem; border-top: 1px solid var(--line); }
`;

export interface PageOptions {
  readonly title: string;
  readonly principal: Principal;
  /** The path of the current page, for aria-current. */
  readonly path: string;
  readonly body: Value;
}

const operator = new Set(["admin", "policy-author", "policy-approver", "reviewer", "auditor"]);

export function page(o: PageOptions): string {
  const p = o.principal;
  const links: [string, string][] = [
    ["/", "Overview"],
    ["/rulebook", "Rulebook"],
    ["/stats", "Statistics"],
    ["/versions", "Policy versions"],
    ["/catalogue", "What may be recorded"],
  ];
  if (p.kind === "key" && p.role === "subject") links.push(["/me", "My file"]);
  if (p.kind === "key" && operator.has(p.role)) links.push(["/console", "Console"]);
  const nav = links.map(([href, label]) => html`<li><a href="${href}"${o.path === href ? html` aria-current="page"` : ""}>${label}</a></li>`);
  const who =
    p.kind === "key"
      ? html`<span>Signed in: ${p.role} key <span class="mono">${p.keyId}</span>${p.label ? html` (${p.label})` : ""}</span><form method="post" action="/logout"><button type="submit">Sign out</button></form>`
      : html`<a href="/login"${o.path === "/login" ? html` aria-current="page"` : ""}>Sign in with a key</a>`;
  return (
    "<!doctype html>\n" +
    html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Standing</title>
<link rel="stylesheet" href="/assets/standing.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><div class="bar">
<a class="brand" href="/">Standing</a>
<nav aria-label="Main"><ul>${nav}</ul></nav>
<div class="who">${who}</div>
</div></header>
<main id="main" tabindex="-1">
${o.body}
</main>
<footer class="site">Standing: published rules, enforced guardrails, explained decisions. The API is documented at <a href="/docs">/docs</a>.</footer>
</body>
</html>
`.text
  );
}

export function time(t: number, fmt: (t: number) => string): Html {
  return html`<time datetime="${new Date(t).toISOString()}">${fmt(t)}</time>`;
}
