// The lines a screening writes by hand are the bytes JSON.stringify gives for the same
// values, for any strings (quotes, controls, lone surrogates), reasons and times.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { logLine } from "../store/screening-log.js";
import { screeningAnswerLine } from "./screening-lines.js";

const text = fc.string({ unit: "binary", maxLength: 20 });

describe("screening lines written out", () => {
  it("an answer line is JSON.stringify of { line, subject, decision, reasons, id }", () => {
    const reason = fc.record({ code: text, measure: text, context: text, message: text, until: fc.option(text, { nil: undefined }) });
    fc.assert(
      fc.property(fc.nat(), text, text, fc.constantFrom("allow" as const, "deny" as const), fc.array(reason, { maxLength: 3 }), text, (line, scheme, value, decision, reasons, id) => {
        expect(screeningAnswerLine(line, { scheme, value }, decision, reasons, id)).toBe(JSON.stringify({ line, subject: { scheme, value }, decision, reasons, id }));
      }),
      { numRuns: 500 },
    );
  });

  it("a log line is JSON.stringify of [id, scheme, value, decision, codes] and, with its own time, at", () => {
    fc.assert(
      fc.property(text, text, text, fc.constantFrom("allow" as const, "deny" as const), fc.array(text, { maxLength: 4 }), fc.option(fc.nat(), { nil: undefined }), (id, scheme, value, decision, codes, at) => {
        const d = { id, scheme, value, decision, codes };
        expect(logLine(d, at)).toBe(JSON.stringify(at !== undefined ? [id, scheme, value, decision, codes, at] : [id, scheme, value, decision, codes]));
      }),
      { numRuns: 500 },
    );
  });
});
