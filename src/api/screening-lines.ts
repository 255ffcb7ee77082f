// The answer line of one screened identifier, written out rather than through
// JSON.stringify of an object built for it: a screening writes one per identifier, and
// the object and its serialisation were the largest part of the route's time. The
// bytes are those of JSON.stringify({ line, subject, decision, reasons, id }), which a
// property test holds them to.
import type { Identifier } from "../store/types.js";

const str = JSON.stringify;

export function screeningAnswerLine(line: number, subject: Identifier, decision: "allow" | "deny", reasons: readonly unknown[], id: string): string {
  return `{"line":${line},"subject":{"scheme":${str(subject.scheme)},"value":${str(subject.value)}},"decision":"${decision}","reasons":${reasons.length === 0 ? "[]" : str(reasons)},"id":${str(id)}}`;
}
