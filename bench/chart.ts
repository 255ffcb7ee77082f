// A hand-built SVG of how the index scales with population: memory per subject and
// check latency (p50, p99) and throughput, against indexed subjects (log scale).
export interface ScalePoint {
  readonly subjects: number;
  readonly bytesPerSubject: number;
  readonly p50ns: number;
  readonly p99ns: number;
  readonly deniesPerSecond: number;
  readonly checksPerSecond: number;
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

function panel(x0: number, title: string, yLabel: string, pts: readonly ScalePoint[], series: { name: string; color: string; value: (p: ScalePoint) => number }[]): string {
  const W = 380;
  const H = 240;
  const left = x0 + 60;
  const top = 40;
  const right = x0 + W - 10;
  const bottom = top + H - 60;
  const xs = pts.map((p) => Math.log10(p.subjects));
  const xmin = Math.min(...xs) - 0.2;
  const xmax = Math.max(...xs) + 0.2;
  const ymax = Math.max(1, ...series.flatMap((s) => pts.map(s.value).filter(Number.isFinite))) * 1.15;
  const X = (v: number): number => left + ((Math.log10(v) - xmin) / (xmax - xmin)) * (right - left);
  const Y = (v: number): number => bottom - (v / ymax) * (bottom - top);
  const out: string[] = [];
  out.push(`<text x="${x0 + W / 2}" y="22" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/><line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`);
  for (let k = 0; k <= 4; k++) {
    const v = (ymax * k) / 4;
    out.push(`<line x1="${left}" y1="${Y(v)}" x2="${right}" y2="${Y(v)}" stroke="#ddd"/><text x="${left - 6}" y="${Y(v) + 4}" text-anchor="end" font-size="10">${v >= 1000 ? (v / 1000).toFixed(1) + "k" : v.toFixed(0)}</text>`);
  }
  for (const p of pts) {
    const label = p.subjects >= 1e6 ? `${p.subjects / 1e6} M` : p.subjects >= 1e3 ? `${p.subjects / 1e3} k` : String(p.subjects);
    out.push(`<text x="${X(p.subjects)}" y="${bottom + 16}" text-anchor="middle" font-size="10">${label}</text>`);
  }
  out.push(`<text x="${(left + right) / 2}" y="${bottom + 34}" text-anchor="middle" font-size="11">indexed (restricted) subjects, log scale</text>`);
  out.push(`<text transform="translate(${x0 + 14},${(top + bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(yLabel)}</text>`);
  series.forEach((s, k) => {
    const d = pts.map((p, i) => `${i === 0 ? "M" : "L"}${X(p.subjects).toFixed(1)},${Y(s.value(p)).toFixed(1)}`).join(" ");
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of pts) out.push(`<circle cx="${X(p.subjects).toFixed(1)}" cy="${Y(s.value(p)).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)}: ${s.value(p).toFixed(0)}</title></circle>`);
    out.push(`<rect x="${left + 10}" y="${top + 4 + k * 16}" width="10" height="10" fill="${s.color}"/><text x="${left + 26}" y="${top + 13 + k * 16}" font-size="11">${esc(s.name)}</text>`);
  });
  return out.join("\n");
}

export function scalingSvg(pts: readonly ScalePoint[], caption: string): string {
  const body = [
    panel(0, "Index memory per subject", "bytes / subject", pts, [{ name: "heap bytes per indexed subject", color: "#1f77b4", value: (p) => p.bytesPerSubject }]),
    panel(380, "Check latency (denies fast path)", "ns per check", pts, [
      { name: "p50", color: "#2ca02c", value: (p) => p.p50ns },
      { name: "p99", color: "#d62728", value: (p) => p.p99ns },
    ]),
    panel(760, "Check throughput, one core", "thousand checks / s", pts, [
      { name: "denies() k/s", color: "#9467bd", value: (p) => p.deniesPerSecond / 1000 },
      { name: "check() with reasons k/s", color: "#ff7f0e", value: (p) => p.checksPerSecond / 1000 },
    ]),
  ].join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1140" height="290" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
${body}
<text x="10" y="282" font-size="10" fill="#555">${esc(caption)}</text>
</svg>
`;
}
