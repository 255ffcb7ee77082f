// The line diff between two policy versions, from the `diff` library (Myers). Past an
// edit distance the console need not show line by line, it falls back to "everything
// removed, everything added" rather than spend the request's time on it.
import { diffArrays } from "diff";

export interface DiffLine {
  readonly op: " " | "-" | "+";
  readonly text: string;
  /** Line numbers in the old and new text (1-based), null where the line is absent. */
  readonly a: number | null;
  readonly b: number | null;
}

const MAX_EDITS = 10_000;

export function lineDiff(before: string, after: string): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  const changes = diffArrays(a, b, { maxEditLength: MAX_EDITS }) ?? [
    { value: a, removed: true, added: false, count: a.length },
    { value: b, removed: false, added: true, count: b.length },
  ];
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  for (const c of changes) {
    for (const text of c.value) {
      if (c.removed) out.push({ op: "-", text, a: ++i, b: null });
      else if (c.added) out.push({ op: "+", text, a: null, b: ++j });
      else out.push({ op: " ", text, a: ++i, b: ++j });
    }
  }
  return out;
}

/** Keeps changed lines and `context` lines around them; null marks an elided gap. */
export function hunks(lines: readonly DiffLine[], context = 3): (DiffLine | null)[] {
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.op === " ") return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  const out: (DiffLine | null)[] = [];
  let gap = false;
  lines.forEach((l, i) => {
    if (keep[i]) {
      if (gap) out.push(null);
      gap = false;
      out.push(l);
    } else gap = true;
  });
  if (gap && out.length > 0) out.push(null);
  return out;
}

function splitLines(text: string): string[] {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}
