// Every limit the HTTP server enforces, with its default, in one place. `serve` exposes
// them as options; tests set them small. Per-key limits (requests per second, bytes of
// request bodies in flight) are off unless configured, and never apply to exempt keys
// (the demo's), so a demo is never throttled by surprise.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Readable } from "node:stream";
import { StandingError } from "../errors.js";

export interface HttpLimits {
  /** Whole request (headers and body) must arrive within this many ms; then 408 and the socket is closed. */
  readonly requestTimeout: number;
  /** Headers must arrive within this many ms. */
  readonly headersTimeout: number;
  /** A socket with no traffic either way for this many ms is closed (a client that stops reading its answer). */
  readonly connectionTimeout: number;
  /** An idle keep-alive socket is closed after this many ms. */
  readonly keepAliveTimeout: number;
  /** How often Node looks for requests past their timeouts: a slow body outlives its limit by at most this. */
  readonly timeoutCheckInterval: number;
  /** Request line and headers together, in bytes; more is 431. */
  readonly maxHeaderBytes: number;
  /** JSON, YAML and form bodies, in bytes. */
  readonly bodyBytes: number;
  /** NDJSON bodies (record batches, screenings), in bytes. */
  readonly ndjsonBytes: number;
  /** Non-empty NDJSON lines (and JSON array items of a screening) per request. */
  readonly ndjsonLines: number;
  /** One NDJSON line, in bytes: as large as a single JSON record may be. */
  readonly ndjsonLineBytes: number;
}

export const DEFAULT_LIMITS: HttpLimits = Object.freeze({
  // A 256 MiB batch at 10 MB/s takes about 27 s; a minute leaves room for slower links
  // while a slow-body connection holds a socket for at most a minute.
  requestTimeout: 60_000,
  headersTimeout: 10_000,
  // Long enough for a large batch whose answer is written only once it is done; slow
  // senders are bounded by the two timeouts above, idle keep-alive sockets by the next.
  connectionTimeout: 300_000,
  keepAliveTimeout: 5_000,
  timeoutCheckInterval: 1_000,
  maxHeaderBytes: 16_384,
  bodyBytes: 1_048_576,
  ndjsonBytes: 256 * 1_048_576,
  ndjsonLines: 1_000_000,
  ndjsonLineBytes: 1_048_576,
});

export function resolveLimits(partial: Partial<HttpLimits> = {}): HttpLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(partial) as [keyof HttpLimits, number | undefined][]) {
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v <= 0) throw new StandingError("bad-request", `limit ${k} must be a positive number, not ${v}`);
    out[k] = v;
  }
  // Node answers 408 only for requests whose headers are in; keep headers the tighter bound.
  if (out.headersTimeout > out.requestTimeout) out.headersTimeout = out.requestTimeout;
  return out;
}

export interface KeyLimits {
  /** Sustained requests per second per key; undefined: no limit. */
  readonly requestsPerSecond?: number;
  /** Requests a key may send at once before the rate applies (default: one second's worth). */
  readonly burst?: number;
  /** Bytes of request bodies one key may have in flight at once; undefined: no limit. */
  readonly inFlightBytes?: number;
  /** Key ids no limit applies to (the demo's keys). */
  readonly exempt?: ReadonlySet<string>;
}

interface KeyState {
  tokens: number;
  at: number;
  inFlight: number;
}

const CHARGED = Symbol("standing.charged");
type Charged = FastifyRequest & { [CHARGED]?: { keyId: string; bytes: number } };

/**
 * Token buckets and in-flight byte counts keyed by the caller's key id. Installed once
 * on the server; `admit` runs after authentication, in the access hook.
 */
export class KeyLimiter {
  private readonly keys = new Map<string, KeyState>();
  private readonly rate: number | undefined;
  private readonly burst: number;
  private readonly inFlightBytes: number | undefined;
  private readonly exempt: ReadonlySet<string>;

  constructor(
    limits: KeyLimits = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    for (const [k, v] of Object.entries(limits)) {
      if (k !== "exempt" && v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v <= 0)) throw new StandingError("bad-request", `key limit ${k} must be a positive number`);
    }
    this.rate = limits.requestsPerSecond;
    this.burst = limits.burst ?? Math.max(1, limits.requestsPerSecond ?? 1);
    this.inFlightBytes = limits.inFlightBytes;
    this.exempt = limits.exempt ?? new Set();
  }

  get enabled(): boolean {
    return this.rate !== undefined || this.inFlightBytes !== undefined;
  }

  private state(keyId: string): KeyState {
    let s = this.keys.get(keyId);
    if (s === undefined) {
      s = { tokens: this.burst, at: this.now(), inFlight: 0 };
      this.keys.set(keyId, s);
    }
    return s;
  }

  /** Refuses with 429 when the key is over its rate, or its declared body would exceed its in-flight bytes. */
  admit(req: FastifyRequest, keyId: string | undefined): void {
    if (!this.enabled || keyId === undefined || this.exempt.has(keyId)) return;
    const s = this.state(keyId);
    if (this.rate !== undefined) {
      const t = this.now();
      s.tokens = Math.min(this.burst, s.tokens + ((t - s.at) / 1000) * this.rate);
      s.at = t;
      if (s.tokens < 1) {
        const wait = Math.max(1, Math.ceil((1 - s.tokens) / this.rate));
        throw new StandingError("too-many-requests", `this key may send ${this.rate} requests per second; try again in ${wait} s`, { retryAfter: wait, keyId });
      }
      s.tokens -= 1;
    }
    if (this.inFlightBytes !== undefined) {
      (req as Charged)[CHARGED] = { keyId, bytes: 0 };
      const declared = Number(req.headers["content-length"]);
      if (Number.isFinite(declared) && declared > 0) this.charge(req, declared);
    }
  }

  /** Counts body bytes against the key's in-flight budget; throws 429 past it. */
  charge(req: FastifyRequest, bytes: number): void {
    const c = (req as Charged)[CHARGED];
    if (c === undefined || this.inFlightBytes === undefined) return;
    const s = this.state(c.keyId);
    if (s.inFlight + bytes > this.inFlightBytes) {
      throw new StandingError("too-many-requests", `this key may have ${this.inFlightBytes} bytes of request bodies in flight at once; wait for its other requests to finish`, { retryAfter: 1, keyId: c.keyId, inFlightBytes: this.inFlightBytes });
    }
    s.inFlight += bytes;
    c.bytes += bytes;
  }

  release(req: FastifyRequest): void {
    const c = (req as Charged)[CHARGED];
    if (c === undefined) return;
    (req as Charged)[CHARGED] = undefined;
    const s = this.keys.get(c.keyId);
    if (s !== undefined) s.inFlight -= c.bytes;
  }

  /** Whether this request's body must be counted as it arrives (no Content-Length to charge up front). */
  counting(req: FastifyRequest): boolean {
    return (req as Charged)[CHARGED] !== undefined && req.headers["content-length"] === undefined && req.headers["transfer-encoding"] !== undefined;
  }

  /**
   * Hooks: a chunked body is counted as it streams in; the bytes are given back when
   * the answer is sent or the client goes away.
   */
  install(app: FastifyInstance): void {
    if (!this.enabled) return;
    // A callback, not an async function: most requests pass untouched, and a promise each was measurable.
    app.addHook("preParsing", (req, _reply: FastifyReply, payload, done) => {
      if (!this.counting(req)) {
        done(null, payload);
        return;
      }
      // Pulled only when the body parser reads, so a refusal reaches a parser that is
      // listening; the request stream itself is paused, not destroyed, so the 429 can
      // still be written on its socket.
      const counted = new Readable({ read: () => void payload.resume() });
      const onData = (chunk: Buffer): void => {
        try {
          this.charge(req, chunk.length);
        } catch (e) {
          payload.pause();
          payload.removeListener("data", onData);
          counted.destroy(e as Error);
          return;
        }
        if (!counted.push(chunk)) payload.pause();
      };
      payload.on("data", onData);
      payload.pause();
      payload.once("end", () => counted.push(null));
      payload.once("error", (e) => counted.destroy(e));
      done(null, counted);
    });
    app.addHook("onResponse", (req, _reply, done) => {
      this.release(req);
      done();
    });
    app.addHook("onRequestAbort", (req, done) => {
      this.release(req);
      done();
    });
  }
}
