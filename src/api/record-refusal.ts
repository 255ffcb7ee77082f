// Filing a dispute about a record that is not in the subject's file must not tell the
// caller whether that record exists about someone else: "not yours" and "no such
// record" are one answer, with one status and one message.
import { StandingError, isStandingError } from "../errors.js";

/** The error to give for a failed dispute filing: a refusal about the record itself becomes one 404. */
export function sameRefusalForRecord(e: unknown, source: string, recordId: string): unknown {
  if (!isStandingError(e) || !("record" in e.details)) return e;
  if (e.code !== "forbidden" && e.code !== "not-found") return e;
  return new StandingError("not-found", `no record "${recordId}" from source "${source}" in this subject's file`, { source, record: recordId });
}
