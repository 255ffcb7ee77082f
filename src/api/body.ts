// NDJSON bodies (record batches, screenings) read as a stream. Limits are checked while
// the bytes arrive, so an oversized body is refused at the first byte past a limit rather
// than after the whole of it has been buffered, decoded, split and parsed (a 250 MB
// screening once grew the heap to 6 GB). Only the raw text of each line is kept; lines
// are parsed by the route, slice by slice, yielding to the event loop in between so that
// other clients' checks and /healthz keep answering while a million-line batch runs.
import { isUtf8 } from "node:buffer";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { FastifyRequest } from "fastify";
import { StandingError } from "../errors.js";

export interface NdjsonLimits {
  readonly bytes: number;
  readonly lines: number;
  readonly lineBytes: number;
}

export interface Line {
  /** 1-based line number in the body, counting blank lines. */
  readonly line: number;
  readonly text: string;
}

/** Lines worked between two turns of the event loop. */
export const SLICE = 1000;

/**
 * Gives other requests a turn: between slices of a large batch. Two turns of the event
 * loop, because a request that arrives during a slice is answered only in the second
 * turn after it (measured: with one turn, checks from another client waited two slices,
 * p50 102 ms with 50 ms slices; with two, one slice, p50 52 ms; a third changed nothing).
 */
export async function yieldToLoop(): Promise<void> {
  await nextTurn();
  await nextTurn();
}

/** The non-empty lines of an NDJSON body, as read. */
export class NdjsonBody {
  constructor(
    readonly lines: readonly Line[],
    readonly bytes: number,
  ) {}

  /**
   * Slices sized so that the caller's work on each takes about `targetMs`: the time the
   * caller spends between two slices is measured, and the next slice is sized from it.
   * A turn of the event loop comes before each slice but the first.
   */
  async *paced(targetMs: number, min = 16, max = SLICE): AsyncGenerator<readonly Line[]> {
    let size = min;
    let i = 0;
    while (i < this.lines.length) {
      if (i > 0) await yieldToLoop();
      const slice = this.lines.slice(i, i + size);
      const t = performance.now();
      yield slice;
      const perLine = (performance.now() - t) / slice.length;
      i += slice.length;
      size = Math.max(min, Math.min(max, Math.floor(targetMs / Math.max(perLine, 0.001))));
    }
  }

  /** The lines in slices of `size`, with a turn of the event loop before each slice but the first. */
  async *slices(size = SLICE): AsyncGenerator<readonly Line[]> {
    for (let i = 0; i < this.lines.length; i += size) {
      if (i > 0) await yieldToLoop();
      yield this.lines.slice(i, i + size);
    }
  }
}

export function isNdjsonBody(v: unknown): v is NdjsonBody {
  return v instanceof NdjsonBody;
}

const NL = 0x0a;

function tooLarge(message: string, details: Record<string, unknown>): StandingError {
  return new StandingError("payload-too-large", message, details);
}

/**
 * A Fastify content-type parser for NDJSON that reads the payload stream itself.
 * `limits` may depend on the request (the screening route has its own line cap).
 */
export function ndjsonParser(limitsFor: (req: FastifyRequest) => NdjsonLimits) {
  return (req: FastifyRequest, payload: NodeJS.ReadableStream, done: (err: Error | null, body?: unknown) => void): void => {
    const limits = limitsFor(req);
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limits.bytes) {
      done(tooLarge(`the body is ${declared} bytes; at most ${limits.bytes} are accepted`, { bytes: declared, limit: limits.bytes }));
      return;
    }
    const lines: Line[] = [];
    let received = 0;
    let lineNo = 0;
    // The current line's bytes that arrived in earlier chunks.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let finished = false;

    const finish = (err: Error | null, body?: NdjsonBody): void => {
      if (finished) return;
      finished = true;
      payload.removeListener("data", onData);
      payload.removeListener("end", onEnd);
      payload.removeListener("error", onError);
      // Errors after the answer (the client going away, a late limit) have nothing left to refuse.
      payload.on("error", () => undefined);
      // Stop reading: the answer goes out at once and the connection is closed after it.
      if (err !== null) payload.pause();
      done(err, body);
    };

    const takeLine = (bytes: Buffer): void => {
      lineNo++;
      let end = bytes.length;
      if (end > 0 && bytes[end - 1] === 0x0d) end--;
      if (end === 0) return;
      const raw = end === bytes.length ? bytes : bytes.subarray(0, end);
      // Invalid bytes decoded to U+FFFD would silently change what a source asserted
      // (and make distinct identifiers collide), so such a body is refused instead.
      if (!isUtf8(raw)) throw new StandingError("bad-request", `line ${lineNo} is not valid UTF-8`, { line: lineNo });
      const text = raw.toString("utf8");
      if (text.trim() === "") return;
      if (lines.length >= limits.lines) throw tooLarge(`at most ${limits.lines} lines per request; line ${lineNo} is one more`, { lines: limits.lines + 1, limit: limits.lines });
      lines.push({ line: lineNo, text });
    };

    const lineTooLong = (): StandingError => tooLarge(`line ${lineNo + 1} is longer than ${limits.lineBytes} bytes`, { line: lineNo + 1, limit: limits.lineBytes });

    function onData(chunk: Buffer | string): void {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      received += buf.length;
      try {
        if (received > limits.bytes) throw tooLarge(`the body is larger than ${limits.bytes} bytes`, { limit: limits.bytes });
        let start = 0;
        for (;;) {
          const nl = buf.indexOf(NL, start);
          if (nl === -1) break;
          if (pendingBytes + (nl - start) > limits.lineBytes + 1) throw lineTooLong();
          const piece = buf.subarray(start, nl);
          takeLine(pendingBytes === 0 ? piece : Buffer.concat([...pending, piece], pendingBytes + piece.length));
          pending = [];
          pendingBytes = 0;
          start = nl + 1;
        }
        if (start < buf.length) {
          // Copied: the socket's chunk is not ours to keep.
          const rest = Buffer.from(buf.subarray(start));
          pendingBytes += rest.length;
          if (pendingBytes > limits.lineBytes + 1) throw lineTooLong();
          pending.push(rest);
        }
      } catch (e) {
        finish(e as Error);
      }
    }
    function onEnd(): void {
      try {
        if (pendingBytes > 0) takeLine(Buffer.concat(pending, pendingBytes));
        if (Number.isFinite(declared) && received !== declared) throw new StandingError("bad-request", `the body has ${received} bytes, not the ${declared} its Content-Length says`, { bytes: received });
      } catch (e) {
        finish(e as Error);
        return;
      }
      finish(null, new NdjsonBody(lines, received));
    }
    function onError(e: Error): void {
      // A body counted against the key's budget may end in a 429 (limits.ts); anything
      // else the stream says (an aborted upload) is the client's.
      finish(e instanceof StandingError ? e : Object.assign(e, { statusCode: 400 }));
    }

    payload.on("data", onData);
    payload.on("end", onEnd);
    payload.on("error", onError);
    payload.resume();
  };
}
