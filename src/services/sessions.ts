// Web sessions. Signing in with an API key opens a session: the browser gets an opaque
// random token (never the key), the store keeps only the token's SHA-256 with the key
// it was opened with and its times. A session ends when its owner signs out, when it
// has been idle or open too long, and as soon as its key is revoked: the key is read
// through the key cache on every request, and the cache follows the change feed, so a
// revocation by another process ends the session within the feed's bound.
import { createHash, randomBytes } from "node:crypto";
import type { Principal } from "../auth/principals.js";
import type { Store } from "../store/types.js";
import type { Clock } from "../time.js";
import type { Authenticator } from "./keys.js";

export interface SessionSettings {
  /** A session not used for this long ends (ms). */
  readonly idleMs: number;
  /** A session ends this long after sign-in, used or not (ms). */
  readonly absoluteMs: number;
}

/** Two hours idle, twelve hours at most: a working day, signing in again after a long break. */
export const DEFAULT_SESSIONS: SessionSettings = { idleMs: 2 * 3_600_000, absoluteMs: 12 * 3_600_000 };

/** Last-seen times are written at most this often per session, not on every page. */
const TOUCH_EVERY_MS = 60_000;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export type SessionLookup = { readonly principal: Principal & { kind: "key" }; readonly stale: null } | { readonly principal: { kind: "anonymous" }; readonly stale: string | null };

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class Sessions {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly keys: Authenticator,
  ) {}

  /** Opens a session for a signed-in key; returns the token for the cookie (shown nowhere else). */
  async open(p: Principal & { kind: "key" }, settings: SessionSettings = DEFAULT_SESSIONS): Promise<{ token: string; expiresAt: number }> {
    const token = randomBytes(32).toString("base64url");
    const now = this.clock.now();
    const expiresAt = now + settings.absoluteMs;
    await this.store.transaction(async (tx) => {
      // Sessions long over are removed as new ones open: the table holds live ones and the last day's.
      await tx.pruneSessions(now - 86_400_000);
      await tx.addSession({ hash: hashToken(token), keyId: p.keyId, createdAt: now, lastSeenAt: now, expiresAt, endedAt: null });
    });
    return { token, expiresAt };
  }

  /** The principal behind a session token, or anonymous with why the session no longer counts. */
  async lookup(token: string, settings: SessionSettings = DEFAULT_SESSIONS): Promise<SessionLookup> {
    const ended = (why: string): SessionLookup => ({ principal: { kind: "anonymous" }, stale: why });
    if (!TOKEN.test(token)) return ended("that sign-in is not valid; please sign in again");
    const hash = hashToken(token);
    const row = await this.store.sessionByHash(hash);
    const now = this.clock.now();
    if (!row || row.endedAt !== null) return ended("you were signed out; please sign in again");
    if (now >= row.expiresAt || now - row.lastSeenAt >= settings.idleMs) return ended("your session expired; please sign in again");
    const principal = await this.keys.byKeyId(row.keyId);
    if (principal === undefined) {
      await this.store.transaction((tx) => tx.endSession(hash, now));
      return ended("the key you signed in with was revoked");
    }
    if (now - row.lastSeenAt >= TOUCH_EVERY_MS) await this.store.transaction((tx) => tx.touchSession(hash, now));
    return { principal, stale: null };
  }

  /** Signs out: the session ends at once, whatever the browser keeps. */
  async end(token: string): Promise<boolean> {
    if (!TOKEN.test(token)) return false;
    const now = this.clock.now();
    return this.store.transaction((tx) => tx.endSession(hashToken(token), now));
  }
}
