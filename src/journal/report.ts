// What verifying a journal reports, and what it needs to replay a state: the same for
// every store, whatever keeps its journal (docs/journal.md).
import { canonicalJson } from "../canonical.js";

export type ProblemKind = "sqlite" | "open" | "schema" | "journal" | "chain" | "checkpoint" | "witness" | "row" | "record" | "policy" | "replay";

/** One thing found wrong (a problem) or worth knowing (a warning). */
export interface Finding {
  readonly kind: string;
  /** Where, in words an operator can look up: "records seq=3 (court/c-1)", "journal seq=17", "subject #5 (states subject_id=5)". */
  readonly where: string;
  /** What is wrong, starting with `where`. */
  readonly message: string;
  readonly table?: string;
  /** Primary-key values of the row, in key order. */
  readonly key?: readonly unknown[];
  /** The journal entry concerned. */
  readonly seq?: number;
  readonly subject?: number;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly at: string;
  /** Journal entries read. */
  readonly entries: number;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  readonly checkpoints: number;
  /** The latest checkpoint whose signature and head hash check out. */
  readonly lastCheckpoint: { readonly seq: number; readonly at: string } | null;
  /** Entries after the last good checkpoint: chained, but not yet signed. */
  readonly unsignedTail: number;
  /** The key signatures were checked against, and where it came from. */
  readonly publicKey: { readonly fingerprint: string; readonly source: "pinned" | "pin" | "key-file" | "database" } | null;
  readonly tables: number;
  readonly rows: number;
  readonly states: { readonly checked: number; readonly replayed: boolean };
  readonly problems: Finding[];
  readonly warnings: Finding[];
  /** Problems found but not listed (beyond maxProblems). */
  readonly omitted: number;
}

/** The first place two JSON values differ, e.g. `$.score: stored 990, replayed 995`. */
export function firstDifference(a: unknown, b: unknown, path = "$"): string | null {
  if (canonicalJson(a) === canonicalJson(b)) return null;
  const show = (v: unknown): string => {
    const s = canonicalJson(v);
    return s.length > 120 ? s.slice(0, 117) + "..." : s;
  };
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= a.length) return `${path}[${i}]: missing from the stored state, replay has ${show(b[i])}`;
      if (i >= b.length) return `${path}[${i}]: stored ${show(a[i])}, absent from the replay`;
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
  } else if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort()) {
      if (!(k in ao)) return `${path}.${k}: missing from the stored state, replay has ${show(bo[k])}`;
      if (!(k in bo)) return `${path}.${k}: stored ${show(ao[k])}, absent from the replay`;
      const d = firstDifference(ao[k], bo[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path}: stored ${show(a)}, replayed ${show(b)}`;
}

