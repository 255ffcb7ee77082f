// What the HTTP server does around the routes: timeouts and header limits, errors the
// HTTP parser raises before any route runs, request validation without silent
// coercion, security headers, and one structured log line per request. Limits and
// their defaults live in limits.ts.
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import { Ajv, type Options as AjvOptions, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { LogController, type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Server } from "node:http";
import { errorCodes, type ErrorCode } from "../errors.js";
import type { HttpLimits } from "./limits.js";

export interface LogOptions {
  /** pino level: fatal, error, warn, info, debug, trace, silent. */
  readonly level: string;
  /** Where lines go (default stdout). */
  readonly stream?: NodeJS.WritableStream;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The documented error body. */
export function errorBody(code: ErrorCode, message: string, requestId: string, details: Record<string, unknown> = {}): { error: { code: ErrorCode; message: string; details: Record<string, unknown>; requestId: string } } {
  return { error: { code, message, details, requestId } };
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (a slow request past
 * its timeout, headers too large, bytes that are not HTTP) answered in the documented
 * shape. There is no Fastify request yet, so the request id is made here.
 */
function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [code, message]: [ErrorCode, string] =
    err.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? ["request-timeout", "the request did not arrive in time; the connection is closed"]
      : err.code === "HPE_HEADER_OVERFLOW"
        ? ["headers-too-large", "the request line and headers are larger than this server accepts"]
        : ["bad-request", "the request is not valid HTTP"];
  const requestId = `conn-${randomUUID()}`;
  this.log.info({ reqId: requestId, statusCode: errorCodes[code], parserError: err.code ?? null }, "connection refused by the HTTP parser");
  // A response already under way on this socket cannot be followed by another one.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && inFlight?.headersSent !== true) {
    const body = JSON.stringify(errorBody(code, message, requestId));
    const status = errorCodes[code];
    const reason = code === "request-timeout" ? "Request Timeout" : code === "headers-too-large" ? "Request Header Fields Too Large" : "Bad Request";
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroySoon();
}

/**
 * One line per request with what an operator needs and nothing a caller sent: the
 * route pattern (never the URL, whose query can hold an identifier), the status, the
 * latency and the caller's key id. Never a header, a key or a body.
 */
class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // The API's caller (Authorization header) or the web page's (session cookie).
    const candidates = [request.principal, (request as { webPrincipal?: FastifyRequest["principal"] | null }).webPrincipal];
    const p = candidates.find((c) => c?.kind === "key") ?? null;
    const line = {
      route: request.routeOptions?.url ?? null,
      method: request.method,
      statusCode: reply.statusCode,
      responseTime: Math.round(reply.elapsedTime * 100) / 100,
      keyId: p?.kind === "key" ? p.keyId : null,
    };
    if (error) reply.log.error({ ...line, err: { type: error.name, message: error.message } }, "request errored");
    else reply.log.info(line, "request completed");
  }

  override defaultErrorLog(): void {}
}

/** The Fastify constructor options that bound a request's time and size, and set up logging. */
export function serverOptions(limits: HttpLimits, log: LogOptions | undefined): FastifyHttpOptions<Server> {
  return {
    bodyLimit: limits.bodyBytes,
    requestTimeout: limits.requestTimeout,
    connectionTimeout: limits.connectionTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    http: {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      connectionsCheckingInterval: limits.timeoutCheckInterval,
    },
    clientErrorHandler,
    logController: new RequestLog({ requestIdLogLabel: "reqId" }),
    logger:
      log === undefined
        ? false
        : {
            level: log.level,
            ...(log.stream ? { stream: log.stream } : {}),
            // Belt and braces: nothing above logs a request or its headers.
            redact: { paths: ["req.headers.authorization", "req.headers.cookie", "headers.authorization", "headers.cookie"], remove: true },
          },
  };
}

/**
 * Validation as the OpenAPI document says: a JSON body is taken as sent (a number where
 * a string is required is refused, not turned into "5"), and an unknown property where
 * the schema says `additionalProperties: false` is refused, not silently dropped. The
 * query string and path parameters arrive as text, so they are coerced to the declared
 * types; numbers must be finite there (`limit=1e309` is not a number of rows).
 */
export function validation(app: FastifyInstance): void {
  const base: AjvOptions = { useDefaults: true, removeAdditional: false, allErrors: false, strict: false, addUsedSchema: false, strictNumbers: true };
  const make = (coerceTypes: boolean | "array"): Ajv => {
    const ajv = new Ajv({ ...base, coerceTypes });
    addFormats.default(ajv);
    return ajv;
  };
  const body = make(false);
  const parts = make("array");
  const compile = (ajv: Ajv, schema: Record<string, unknown>): ValidateFunction => {
    // Ajv keeps one schema per $id; a schema shared by several routes compiles once.
    const id = schema.$id;
    if (typeof id === "string") {
      const known = ajv.getSchema(id);
      if (known) return known;
    }
    return ajv.compile(schema);
  };
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === "body" ? compile(body, schema as Record<string, unknown>) : finite(compile(parts, schema as Record<string, unknown>))));
}

/**
 * Ajv coerces "1e309" and "Infinity" to Infinity and then lets it pass `integer` and
 * `maximum`; a query or path value must be a finite number to be one at all.
 */
function finite(validate: ValidateFunction): ValidateFunction {
  const check = ((data: unknown): boolean => {
    if (!validate(data)) {
      check.errors = validate.errors ?? null;
      return false;
    }
    if (typeof data === "object" && data !== null) {
      for (const [k, v] of Object.entries(data)) {
        if (typeof v === "number" && !Number.isFinite(v)) {
          check.errors = [{ instancePath: `/${k}`, schemaPath: `#/properties/${k}`, keyword: "type", params: {}, message: "must be a finite number" }];
          return false;
        }
      }
    }
    check.errors = null;
    return true;
  }) as ValidateFunction;
  return check;
}

/**
 * Answers from routes that need a key carry personal data: no cache may keep them.
 * Every answer says its content type is meant (no sniffing).
 */
export function securityHeaders(app: FastifyInstance): void {
  app.addHook("onSend", (req, reply, payload, done) => {
    void reply.header("x-content-type-options", "nosniff");
    const allow = req.routeOptions.config?.allow;
    if (Array.isArray(allow) && !reply.hasHeader("cache-control")) void reply.header("cache-control", "no-store");
    done(null, payload);
  });
}

/** The Content-Security-Policy of the API reference at /docs: its own scripts and styles only. */
export const DOCS_CSP =
  "default-src 'self'; base-uri 'none'; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; form-action 'self'; img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'";
