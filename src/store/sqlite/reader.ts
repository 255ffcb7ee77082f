// What a re-evaluation worker reads a page through: its own read-only connection to the
// store's file. It runs no DDL and installs no journal: it never writes. It is consistent
// with the transaction that handed it the page, because that transaction holds the write
// lock (BEGIN IMMEDIATE) while the worker reads: nothing can commit in between, and a
// read-only connection in WAL mode sees the last commit.
import Database from "better-sqlite3";
import type { StoredInputs, SubjectId } from "../types.js";
import { pageStatements, readPage, type PageStatements } from "./rows.js";

export interface SqliteReaderArgs {
  readonly file: string;
}

export class SqlitePageReader {
  private readonly db: Database.Database;
  private readonly stmts: PageStatements;

  constructor(args: SqliteReaderArgs) {
    this.db = new Database(args.file, { readonly: true, fileMustExist: true });
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("cache_size = -262144");
    this.db.pragma("mmap_size = 4294967296");
    this.stmts = pageStatements(this.db);
  }

  read(ids: readonly SubjectId[]): StoredInputs[] {
    return readPage(this.stmts, ids);
  }

  close(): void {
    this.db.close();
  }
}

/** The entry a worker imports (StoreTx.pageReader names this module). */
export function openReader(args: unknown): SqlitePageReader {
  return new SqlitePageReader(args as SqliteReaderArgs);
}
