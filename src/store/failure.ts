// Which errors of a store's engine mean the medium failed (each engine's codes are
// listed here, beside the engines themselves). The medium failing under us (a full disk, a file-size limit, a read-only mount, an
// I/O error) is not a bug and not the caller's fault: it becomes a StandingError with a
// storage code, so the CLI ends with exit 1 and one line (or a JSON error object) and
// the API answers in its documented shape, never with a driver's stack trace.
import { StandingError } from "../errors.js";

interface Coded {
  code?: unknown;
  message?: unknown;
}

/** The StandingError for an error the storage medium raised, or undefined for anything else. */
export function storageFailure(e: unknown): StandingError | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const code = (e as Coded).code;
  if (typeof code !== "string") return undefined;
  const raw = typeof (e as Coded).message === "string" ? ((e as Coded).message as string) : code;
  const details = { cause: code };
  // SQLite reports a file-size limit (EFBIG) as a full database or as a write error.
  if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT" || code === "EFBIG") {
    return new StandingError("storage-full", `the storage is full or at its size limit (${code}); nothing after the last completed step was written`, details);
  }
  if (code.startsWith("SQLITE_READONLY") || code === "EROFS") {
    return new StandingError("storage-read-only", `the database is read-only here (${code}): ${raw}`, details);
  }
  if (code.startsWith("SQLITE_IOERR") || code.startsWith("SQLITE_CANTOPEN") || code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB" || code === "EIO" || code === "EACCES" || code === "EPERM") {
    return new StandingError("storage-unavailable", `the storage could not be read or written (${code}): ${raw}`, details);
  }
  return undefined;
}
