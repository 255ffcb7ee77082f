// Keys in the browser: the login form posts an API key, the server keeps it in an
// HttpOnly, SameSite=Strict cookie, and every request authenticates that cookie like
// an Authorization header. State-changing requests must also come from this origin.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Principal } from "../auth/principals.js";
import { StandingError, isStandingError } from "../errors.js";

export const COOKIE = "standing_key";

function secure(req: FastifyRequest): boolean {
  return req.protocol === "https";
}

export function setKeyCookie(req: FastifyRequest, reply: FastifyReply, key: string): void {
  void reply.setCookie(COOKIE, key, { path: "/", httpOnly: true, sameSite: "strict", secure: secure(req) });
}

export function clearKeyCookie(req: FastifyRequest, reply: FastifyReply): void {
  void reply.clearCookie(COOKIE, { path: "/", httpOnly: true, sameSite: "strict", secure: secure(req) });
}

/**
 * The principal behind the cookie. A cookie that no longer authenticates (revoked,
 * unknown) is treated as signed out; `stale` says so, so the page can clear it.
 */
export async function principalOf(keys: { authenticate(header: string): Promise<Principal> }, req: FastifyRequest): Promise<{ principal: Principal; stale: string | null }> {
  // Parsed by @fastify/cookie, registered with the web routes.
  const key = req.cookies[COOKIE];
  if (key === undefined || key === "") return { principal: { kind: "anonymous" }, stale: null };
  try {
    return { principal: await keys.authenticate(`Bearer ${key}`), stale: null };
  } catch (e) {
    if (isStandingError(e)) return { principal: { kind: "anonymous" }, stale: e.message };
    throw e;
  }
}

/** The origin this server is reached at, as the browser sees it. */
function ownOrigin(req: FastifyRequest): string {
  return `${req.protocol}://${String(req.headers.host ?? "")}`;
}

/**
 * CSRF defence in depth beside SameSite=Strict: a state-changing request must carry an
 * Origin (or, failing that, a Referer) of this very server, and must not be marked
 * cross-site by Fetch Metadata.
 */
export function assertSameOrigin(req: FastifyRequest): void {
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string" && site !== "same-origin" && site !== "none") {
    throw new StandingError("forbidden", "this form may only be sent from this site");
  }
  const origin = req.headers.origin;
  const own = ownOrigin(req);
  if (typeof origin === "string" && origin !== "null") {
    if (origin !== own) throw new StandingError("forbidden", `this form may only be sent from ${own}, not ${origin}`);
    return;
  }
  const referer = req.headers.referer;
  if (typeof referer === "string") {
    let from: string | undefined;
    try {
      from = new URL(referer).origin;
    } catch {
      from = undefined;
    }
    if (from === own) return;
  }
  throw new StandingError("forbidden", "a form post must come from this site (no matching Origin or Referer header)");
}
