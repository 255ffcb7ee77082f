// A read-only connection that reads evaluation pages, for re-evaluation workers. It
// runs no DDL and installs no journal: it never writes. In WAL mode it reads the last
// committed state while the store's own connection holds the write lock, which is what
// makes a worker's page the same as the store would have read (see standing.ts).
import Database from "better-sqlite3";
import type { StoredInputs, SubjectId } from "../types.js";
import { pageStatements, readPage, type PageStatements } from "./rows.js";

export class SqlitePageReader {
  private readonly db: Database.Database;
  private readonly stmts: PageStatements;

  constructor(file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.db.pragma("cache_size = -262144");
    this.db.pragma("mmap_size = 4294967296");
    this.stmts = pageStatements(this.db);
  }

  /** What evaluation reads about `ids` (ascending ids of subjects with records). */
  page(ids: readonly SubjectId[]): StoredInputs[] {
    return readPage(this.stmts, ids);
  }

  close(): void {
    this.db.close();
  }
}
