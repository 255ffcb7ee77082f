// Web sessions in the browser: the sign-in form posts an API key once; the server opens
// a session (src/services/sessions.ts) and keeps only its opaque token in an HttpOnly,
// SameSite=Strict cookie, Secure when the request came over TLS (directly, or through a
// proxy the server is told to trust). The key itself never goes into a cookie.
// State-changing requests must also come from this origin.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Principal } from "../auth/principals.js";
import type { SessionSettings } from "../services/sessions.js";
import type { Standing } from "../standing.js";
import { StandingError } from "../errors.js";

export const COOKIE = "standing_session";

function secure(req: FastifyRequest): boolean {
  return req.protocol === "https";
}

export function setSessionCookie(req: FastifyRequest, reply: FastifyReply, token: string): void {
  void reply.setCookie(COOKIE, token, { path: "/", httpOnly: true, sameSite: "strict", secure: secure(req) });
}

export function clearSessionCookie(req: FastifyRequest, reply: FastifyReply): void {
  void reply.clearCookie(COOKIE, { path: "/", httpOnly: true, sameSite: "strict", secure: secure(req) });
}

/** The session token the browser sent, if any. */
export function sessionToken(req: FastifyRequest): string | undefined {
  // Parsed by @fastify/cookie, registered with the web routes.
  const token = req.cookies[COOKIE];
  return token === undefined || token === "" ? undefined : token;
}

/**
 * The principal behind the session cookie. A session that no longer counts (signed out,
 * expired, its key revoked) is treated as signed out; `stale` says why, so the page can
 * clear the cookie.
 */
export async function principalOf(standing: Pick<Standing, "sessionPrincipal">, req: FastifyRequest, settings: SessionSettings | undefined): Promise<{ principal: Principal; stale: string | null }> {
  const token = sessionToken(req);
  if (token === undefined) return { principal: { kind: "anonymous" }, stale: null };
  return standing.sessionPrincipal(token, settings);
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
