// A small line diff (longest common subsequence) for showing what changed between two
// published policy versions. Policies are a few hundred lines, so O(n·m) is fine; past
// a size limit it falls back to "everything removed, everything added".

export interface DiffLine {
  readonly op: " " | "-" | "+";
  readonly text: string;
  /** Line numbers in the old and new text (1-based), null where the line is absent. */
  readonly a: number | null;
  readonly b: number | null;
}

const LIMIT = 4_000_000;

export function lineDiff(before: string, after: string): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  const n = a.length;
  const m = b.length;
  // Trim the common head and tail: most versions change a few lines.
  let head = 0;
  while (head < n && head < m && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < n - head && tail < m - head && a[n - 1 - tail] === b[m - 1 - tail]) tail++;
  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ op: " ", text: a[i] as string, a: i + 1, b: i + 1 });
  const A = a.slice(head, n - tail);
  const B = b.slice(head, m - tail);
  if (A.length * B.length > LIMIT) {
    A.forEach((t, i) => out.push({ op: "-", text: t, a: head + i + 1, b: null }));
    B.forEach((t, j) => out.push({ op: "+", text: t, a: null, b: head + j + 1 }));
  } else {
    const w = B.length + 1;
    const L = new Uint32Array((A.length + 1) * w);
    for (let i = A.length - 1; i >= 0; i--) {
      for (let j = B.length - 1; j >= 0; j--) {
        L[i * w + j] = A[i] === B[j] ? (L[(i + 1) * w + j + 1] as number) + 1 : Math.max(L[(i + 1) * w + j] as number, L[i * w + j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < A.length || j < B.length) {
      if (i < A.length && j < B.length && A[i] === B[j]) {
        out.push({ op: " ", text: A[i] as string, a: head + i + 1, b: head + j + 1 });
        i++;
        j++;
      } else if (i < A.length && (j === B.length || (L[(i + 1) * w + j] as number) >= (L[i * w + j + 1] as number))) {
        out.push({ op: "-", text: A[i] as string, a: head + i + 1, b: null });
        i++;
      } else {
        out.push({ op: "+", text: B[j] as string, a: null, b: head + j + 1 });
        j++;
      }
    }
  }
  for (let k = tail; k > 0; k--) out.push({ op: " ", text: a[n - k] as string, a: n - k + 1, b: m - k + 1 });
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
