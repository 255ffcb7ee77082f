// A tiny HTML builder: html`` escapes every interpolated value unless it is already
// Html (built by html`` itself, or marked with raw() for trusted constant markup).
// Arrays are joined; null, undefined and false render as nothing.

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESC[c] as string);
}

export type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return (v as readonly Value[]).map(render).join("");
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++) out += render(values[i] as Value) + (strings[i + 1] as string);
  return new Html(out);
}

/** Marks trusted, constant markup as HTML. Never pass anything that came from outside. */
export function raw(text: string): Html {
  return new Html(text);
}

export function join(items: readonly Value[], sep: Value = ""): Html {
  return new Html(items.map(render).join(render(sep)));
}
