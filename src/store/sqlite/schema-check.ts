// The schema as part of what `audit verify` checks: every table, column, constraint,
// index, trigger and view of the file is compared with the schema this build creates.
// A UNIQUE constraint dropped by rebuilding a table, or a trigger planted in the file,
// changes no row and no journal entry, yet changes what the database accepts or does:
// only a comparison with the expected schema finds it.
import Database from "better-sqlite3";
import { journalDdl } from "./journal.js";
import { ddl, schemaVersion } from "./schema.js";

type Db = Database.Database;

export interface SchemaDifference {
  /** "table records", "index records_subject", "trigger x". */
  readonly where: string;
  readonly message: string;
}

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const norm = (sql: unknown): string => String(sql ?? "").replace(/\s+/g, " ").replace(/\s*([(),])\s*/g, "$1").replace(/\bIF NOT EXISTS /i, "").trim();

interface Described {
  readonly kind: "table" | "index" | "trigger" | "view" | "constraint";
  readonly table?: string;
  /** What is compared: equal text, equal object. */
  readonly text: string;
  /** How a person reads it. */
  readonly shown: string;
}

/** Every schema object of a connection's main database, by a name that does not depend on SQLite's generated names. */
export function describeSchema(db: Db, options: { omitColumns?: Record<string, readonly string[]> } = {}): Map<string, Described> {
  const out = new Map<string, Described>();
  const objects = db.prepare("SELECT type, name, tbl_name, sql FROM main.sqlite_schema ORDER BY type, name").all() as { type: string; name: string; tbl_name: string; sql: string | null }[];
  for (const o of objects) {
    if (o.name.startsWith("sqlite_")) continue; // autoindexes (below, by their columns), sqlite_sequence, sqlite_stat*
    if (o.type === "table") {
      const omit = options.omitColumns?.[o.name] ?? [];
      const cols = (db.prepare(`PRAGMA main.table_info(${q(o.name)})`).all() as { name: string; type: string; notnull: number; dflt_value: unknown; pk: number }[])
        .filter((c) => !omit.includes(c.name))
        .map((c) => `${c.name} ${c.type}${c.notnull ? " NOT NULL" : ""}${c.dflt_value !== null ? ` DEFAULT ${String(c.dflt_value)}` : ""}${c.pk ? ` PK${c.pk}` : ""}`);
      const list = db.prepare("PRAGMA main.table_list").all() as { name: string; wr: number; strict: number }[];
      const t = list.find((x) => x.name === o.name);
      const fks = (db.prepare(`PRAGMA main.foreign_key_list(${q(o.name)})`).all() as { table: string; from: string; to: string | null; on_update: string; on_delete: string }[]).map(
        (k) => `${k.from} REFERENCES ${k.table}(${k.to ?? ""}) ON UPDATE ${k.on_update} ON DELETE ${k.on_delete}`,
      );
      const checks = (String(o.sql ?? "").match(/\bCHECK\s*\(/gi) ?? []).length;
      const text = JSON.stringify({ cols, wr: t?.wr ?? 0, strict: t?.strict ?? 0, fks: fks.sort(), checks });
      out.set(`table ${o.name}`, { kind: "table", table: o.name, text, shown: `(${cols.join(", ")})${t?.wr ? " WITHOUT ROWID" : ""}${fks.length ? `; ${fks.join("; ")}` : ""}${checks ? `; ${checks} CHECK` : ""}` });
      for (const ix of db.prepare(`PRAGMA main.index_list(${q(o.name)})`).all() as { name: string; unique: number; origin: string; partial: number }[]) {
        const cols = (db.prepare(`PRAGMA main.index_xinfo(${q(ix.name)})`).all() as { name: string | null; desc: number; coll: string; key: number }[])
          .filter((c) => c.key)
          .map((c) => `${c.name ?? "<expr>"}${c.desc ? " DESC" : ""}${c.coll !== "BINARY" ? ` COLLATE ${c.coll}` : ""}`);
        if (ix.origin === "c") continue; // created indexes are compared by their SQL below
        const what = ix.origin === "pk" ? "PRIMARY KEY" : "UNIQUE";
        out.set(`${what} ${o.name}(${cols.join(", ")})`, { kind: "constraint", table: o.name, text: what, shown: `${what} (${cols.join(", ")}) on ${o.name}` });
      }
    } else {
      const kind = o.type as "index" | "trigger" | "view";
      out.set(`${o.type} ${o.name}`, { kind, table: o.tbl_name, text: norm(o.sql), shown: `${norm(o.sql)}` });
    }
  }
  return out;
}

let expected: Map<string, Described> | undefined;

/** The schema this build creates on a new file: the store's tables and the journal's. */
export function expectedSchema(): Map<string, Described> {
  if (!expected) {
    const db = new Database(":memory:");
    try {
      db.exec(ddl);
      db.exec(journalDdl);
      expected = describeSchema(db);
    } finally {
      db.close();
    }
  }
  return expected;
}

/** Differences between a file's schema and the expected one; `version` is the file's meta.schema. */
export function checkSchema(db: Db, version: number | null): SchemaDifference[] {
  // A version-1 file has no decisions.batch until Standing opens it for writing (schema.ts).
  const found = describeSchema(db);
  const want = new Map(expectedSchema());
  if (version === 1 && !(db.prepare("PRAGMA main.table_info(decisions)").all() as { name: string }[]).some((c) => c.name === "batch")) {
    const v1 = new Database(":memory:");
    try {
      v1.exec(ddl);
      const d = describeSchema(v1, { omitColumns: { decisions: ["batch"] } }).get("table decisions");
      if (d) want.set("table decisions", d);
    } finally {
      v1.close();
    }
  }
  // A file no build with the compact screening log has written to yet (schema.ts).
  if (!found.has("table screenings")) for (const [key, w] of [...want]) if (w.table === "screenings") want.delete(key);
  const out: SchemaDifference[] = [];
  for (const [key, w] of want) {
    const g = found.get(key);
    if (!g) {
      const gone = w.kind === "table" ? `table ${w.table ?? key} is missing` : w.kind === "constraint" ? `${w.shown} is missing: the table was rebuilt without it, so the database no longer refuses what it must` : `${key} is missing (${w.shown})`;
      out.push({ where: w.kind === "constraint" || w.kind === "table" ? `table ${w.table ?? ""}` : key, message: `${gone}` });
    } else if (g.text !== w.text) {
      out.push({ where: key, message: `${key} is not as this build defines it: expected ${w.shown}, found ${g.shown}` });
    }
  }
  for (const [key, g] of found) {
    if (want.has(key)) continue;
    const what = g.kind === "trigger" ? `a trigger stored in the file runs on every matching write, outside the journal: planted (${g.shown})` : g.kind === "constraint" ? `${g.shown} is not part of Standing's schema` : `it is not part of Standing's schema (${g.shown})`;
    out.push({ where: g.kind === "constraint" ? `table ${g.table ?? ""}` : key, message: `${key}: ${what}` });
  }
  return out;
}

export { schemaVersion };
