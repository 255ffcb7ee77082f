// Opening a database file for reading only, as an auditor or a clerk finds it: a snapshot
// on a read-only mount, a copy handed over, a file this user may not write. Nothing is
// created, upgraded or signed, and the file is never written.
import { existsSync, readFileSync, statSync } from "node:fs";
import Database from "better-sqlite3";
import { StandingError } from "../../errors.js";

/**
 * A read-only connection to `path`. SQLite reads a WAL-mode file through its
 * shared-memory index (`-shm`), which it must be able to create or open for writing
 * beside the file; on a read-only mount with none there it cannot open the file at all.
 * Then, when no write-ahead log with content is beside it (a file closed cleanly, a
 * snapshot), nothing but the file itself holds data, and the file is read into memory
 * and opened from there, marked as a rollback-journal file so that SQLite looks for no
 * index. This copy costs memory the size of the file, and only on such a mount.
 */
export function openReadOnlyDatabase(path: string): Database.Database {
  if (!existsSync(path)) throw new StandingError("not-found", `no database at ${path}`, { db: path });
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    // The first read opens the WAL index: that is where a read-only mount fails.
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
    return db;
  } catch (e) {
    db?.close();
    const code = String((e as { code?: unknown }).code ?? "");
    // What the medium refused (no shared-memory file may be made, a file-size limit):
    // read a copy. Anything else (not a database, damaged) is the file's own fault.
    if (!/^SQLITE_(CANTOPEN|READONLY|IOERR|FULL)/.test(code)) {
      throw new StandingError("bad-request", `${path} cannot be opened as a database: ${(e as Error).message}`, { db: path });
    }
    const wal = `${path}-wal`;
    // With committed pages still in the log, the file alone is not the database: say what the medium refused.
    if (existsSync(wal) && statSync(wal).size > 0) throw e;
    const bytes = readFileSync(path);
    // Bytes 18 and 19 say "WAL mode" (2); a serialised copy is read as a plain file (1).
    if (bytes.length >= 100 && bytes[18] === 2 && bytes[19] === 2) {
      bytes[18] = 1;
      bytes[19] = 1;
    }
    try {
      return new Database(bytes, { readonly: true });
    } catch (e2) {
      throw new StandingError("bad-request", `${path} cannot be opened as a database: ${(e2 as Error).message}`, { db: path });
    }
  }
}
