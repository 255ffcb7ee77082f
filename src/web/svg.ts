// Server-rendered SVG charts. No script: each chart is an <svg role="img"> with a
// title and description, and every page also shows the same numbers as a table.
import { html, join, type Html } from "./html.js";

export const SERIES_COLOURS = ["#1d4f91", "#a63d12", "#2b6b2f", "#6b3fa0"] as const;

const colour = (i: number): string => SERIES_COLOURS[i % SERIES_COLOURS.length] as string;
let uid = 0;
const nextId = (): string => `chart-${++uid}`;

function legend(series: readonly string[], x: number, y: number): Html {
  let at = x;
  return join(
    series.map((s, i) => {
      const here = at;
      at += 18 + s.length * 7 + 20;
      return html`<rect x="${here}" y="${y}" width="12" height="12" fill="${colour(i)}"/><text x="${here + 18}" y="${y + 11}" class="chart-text">${s}</text>`;
    }),
  );
}

export interface BarRow {
  readonly label: string;
  readonly values: readonly number[];
}

/** Horizontal grouped bars: one group per row, one bar per series. */
export function barChart(o: { title: string; desc: string; series: readonly string[]; rows: readonly BarRow[] }): Html {
  const id = nextId();
  const labelW = 230;
  const plotW = 400;
  const barH = 14;
  const groupH = o.series.length * barH + 10;
  const top = 28;
  const h = top + Math.max(1, o.rows.length) * groupH + 10;
  const max = Math.max(1, ...o.rows.flatMap((r) => r.values));
  const groups = o.rows.map((r, gi) => {
    const y0 = top + gi * groupH;
    const bars = r.values.map((v, si) => {
      const w = Math.round((v / max) * plotW);
      const y = y0 + si * barH;
      return html`<rect x="${labelW}" y="${y}" width="${Math.max(w, v > 0 ? 2 : 0)}" height="${barH - 2}" fill="${colour(si)}"/><text x="${labelW + w + 6}" y="${y + barH - 4}" class="chart-text">${v}</text>`;
    });
    return html`<text x="${labelW - 8}" y="${y0 + (o.series.length * barH) / 2 + 4}" text-anchor="end" class="chart-text">${truncate(r.label, 32)}</text>${bars}`;
  });
  return html`<svg class="chart" viewBox="0 0 ${labelW + plotW + 60} ${h}" role="img" aria-labelledby="${id}-t ${id}-d" xmlns="http://www.w3.org/2000/svg">
<title id="${id}-t">${o.title}</title><desc id="${id}-d">${o.desc}</desc>
${legend(o.series, labelW, 4)}
${o.rows.length === 0 ? html`<text x="${labelW}" y="${top + 14}" class="chart-text">nothing to show yet</text>` : groups}
</svg>`;
}

/** Vertical grouped columns over labelled periods (months). */
export function columnChart(o: { title: string; desc: string; series: readonly string[]; periods: readonly string[]; values: readonly (readonly number[])[] }): Html {
  const id = nextId();
  const left = 40;
  const top = 28;
  const plotH = 160;
  const colW = 12;
  const groupW = Math.max(36, o.series.length * colW + 12);
  const w = left + Math.max(1, o.periods.length) * groupW + 20;
  const max = Math.max(1, ...o.values.flat());
  const cols = o.periods.map((p, pi) => {
    const x0 = left + pi * groupW + 6;
    const bars = o.series.map((_, si) => {
      const v = o.values[pi]?.[si] ?? 0;
      const hh = Math.round((v / max) * plotH);
      return html`<rect x="${x0 + si * colW}" y="${top + plotH - hh}" width="${colW - 2}" height="${hh}" fill="${colour(si)}"><title>${p} ${o.series[si] ?? ""}: ${v}</title></rect>`;
    });
    return html`${bars}<text x="${x0 + (o.series.length * colW) / 2}" y="${top + plotH + 16}" text-anchor="middle" class="chart-text small">${p}</text>`;
  });
  return html`<svg class="chart" viewBox="0 0 ${Math.max(w, 480)} ${top + plotH + 30}" role="img" aria-labelledby="${id}-t ${id}-d" xmlns="http://www.w3.org/2000/svg">
<title id="${id}-t">${o.title}</title><desc id="${id}-d">${o.desc}</desc>
${legend(o.series, left, 4)}
<line x1="${left}" y1="${top + plotH}" x2="${w - 10}" y2="${top + plotH}" stroke="#444" stroke-width="1"/>
<text x="${left - 6}" y="${top + 10}" text-anchor="end" class="chart-text small">${max}</text>
<text x="${left - 6}" y="${top + plotH}" text-anchor="end" class="chart-text small">0</text>
${o.periods.length === 0 ? html`<text x="${left + 10}" y="${top + plotH / 2}" class="chart-text">nothing to show yet</text>` : cols}
</svg>`;
}

export interface StepPoint {
  readonly t: number;
  readonly v: number;
}

/** A step line (value holds until the next point), with a "now" marker and reference lines. */
export function stepChart(o: { title: string; desc: string; points: readonly StepPoint[]; now: number; end: number; references: readonly { label: string; v: number }[]; fmt: (t: number) => string }): Html {
  const id = nextId();
  const left = 56;
  const right = 90;
  const top = 16;
  const plotW = 560;
  const plotH = 200;
  const pts = o.points;
  const t0 = pts[0]?.t ?? o.now;
  const t1 = Math.max(o.end, o.now, t0 + 1);
  // Scale to the data; show only the reference lines (tier thresholds) near it.
  const vals = pts.length > 0 ? pts.map((p) => p.v) : [0];
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  const near = o.references.filter((r) => r.v >= lo - 60 && r.v <= hi + 60).map((r) => r.v);
  lo = Math.min(lo, ...near);
  hi = Math.max(hi, ...near);
  if (hi - lo < 20) {
    lo -= 10;
    hi += 10;
  }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const x = (t: number): number => left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v: number): number => top + plotH - ((v - lo) / (hi - lo)) * plotH;
  let d = "";
  pts.forEach((p, i) => {
    const px = x(p.t).toFixed(1);
    const py = y(p.v).toFixed(1);
    if (i === 0) d += `M${px},${py}`;
    else d += `H${px}V${py}`;
  });
  if (pts.length > 0) d += `H${x(t1).toFixed(1)}`;
  const refs = o.references
    .filter((r) => r.v >= lo && r.v <= hi)
    .map((r) => html`<line x1="${left}" x2="${left + plotW}" y1="${y(r.v).toFixed(1)}" y2="${y(r.v).toFixed(1)}" stroke="#8a8a8a" stroke-dasharray="4 4" stroke-width="1"/><text x="${left + plotW + 6}" y="${(y(r.v) + 4).toFixed(1)}" class="chart-text small">${r.label}</text>`);
  const dots = pts.map((p) => html`<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="3.5" fill="${p.t > o.now ? "#ffffff" : colour(0)}" stroke="${colour(0)}" stroke-width="2"><title>${o.fmt(p.t)}: ${p.v}</title></circle>`);
  const nx = x(o.now).toFixed(1);
  return html`<svg class="chart" viewBox="0 0 ${left + plotW + right} ${top + plotH + 40}" role="img" aria-labelledby="${id}-t ${id}-d" xmlns="http://www.w3.org/2000/svg">
<title id="${id}-t">${o.title}</title><desc id="${id}-d">${o.desc}</desc>
<rect x="${x(o.now).toFixed(1)}" y="${top}" width="${(left + plotW - x(o.now)).toFixed(1)}" height="${plotH}" fill="#f1f4f9"/>
<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#444" stroke-width="1"/>
<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#444" stroke-width="1"/>
<text x="${left - 6}" y="${(y(hi - pad) + 4).toFixed(1)}" text-anchor="end" class="chart-text small">${Math.round(hi - pad)}</text>
<text x="${left - 6}" y="${(y(lo + pad) + 4).toFixed(1)}" text-anchor="end" class="chart-text small">${Math.round(lo + pad)}</text>
${refs}
<path d="${d}" fill="none" stroke="${colour(0)}" stroke-width="2.5"/>
${dots}
<line x1="${nx}" x2="${nx}" y1="${top}" y2="${top + plotH}" stroke="#a63d12" stroke-width="2"/>
<text x="${nx}" y="${top + plotH + 16}" text-anchor="middle" class="chart-text small">now</text>
<text x="${left}" y="${top + plotH + 34}" class="chart-text small">${o.fmt(t0)}</text>
<text x="${left + plotW}" y="${top + plotH + 34}" text-anchor="end" class="chart-text small">${o.fmt(t1)}</text>
</svg>`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
