// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the top frames by self time
// and by inclusive time. Usage: tsx bench/profile-top.ts FILE.cpuprofile [N]
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

const [file, nArg] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-top FILE.cpuprofile [N]");
const n = Number(nArg ?? 25);
const prof = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[] };
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const label = (x: Node): string => {
  const url = x.callFrame.url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, "$1/");
  return `${x.callFrame.functionName || "(anonymous)"} ${url ? `${url}:${x.callFrame.lineNumber + 1}` : ""}`.trim();
};
const total = prof.nodes.reduce((s, x) => s + x.hitCount, 0);
const self = new Map<string, number>();
for (const x of prof.nodes) self.set(label(x), (self.get(label(x)) ?? 0) + x.hitCount);
// inclusive: count each label once per stack
const incl = new Map<string, number>();
const walk = (id: number, stack: Set<string>): number => {
  const x = byId.get(id) as Node;
  const l = label(x);
  let sum = x.hitCount;
  const added = !stack.has(l);
  if (added) stack.add(l);
  for (const c of x.children ?? []) sum += walk(c, stack);
  if (added) {
    stack.delete(l);
    incl.set(l, (incl.get(l) ?? 0) + sum);
  }
  return sum;
};
walk(prof.nodes[0]!.id, new Set());
const show = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title} (of ${total} samples)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
};
show("self time", self);
show("inclusive time", incl);
