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
  // The PostgreSQL driver reports a connection that ended under a query without a code.
  const message = (e as Coded).message;
  if (e instanceof Error && (e as Coded).code === undefined && typeof message === "string" && /^Connection terminated( unexpectedly| due to connection timeout)?$|^Client has encountered a connection error and is not queryable$/.test(message)) {
    return new StandingError("storage-unavailable", `the database connection ended (${message}); nothing after the last completed step was written`, { cause: "connection-ended" });
  }
  const code = (e as Coded).code;
  if (typeof code !== "string") return undefined;
  const raw = typeof (e as Coded).message === "string" ? ((e as Coded).message as string) : code;
  const details = { cause: code };
  // PostgreSQL (SQLSTATE): 53100 disk full, 53200 out of memory, 53300 too many connections;
  // class 08 connection exceptions, 57P01–57P03 the server shutting down or starting,
  // 25006 a read-only transaction (a hot standby).
  if (code === "53100") return new StandingError("storage-full", `the database server's disk is full (${code}); nothing after the last completed step was written`, details);
  if (code === "25006") return new StandingError("storage-read-only", `the database is read-only here (${code}): ${raw}`, details);
  if (/^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code) || code === "53200" || code === "53300" || code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE" || code === "ETIMEDOUT") {
    return new StandingError("storage-unavailable", `the database could not be reached or went away (${code}): ${raw}; nothing after the last completed step was written`, details);
  }
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
