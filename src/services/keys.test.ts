// The key cache must never outlive a revocation: not one made by the same process, and
// not one made by another process (the CLI) on the same database file, once the change
// feed has been read. Real SQLite files, two real connections; nothing mocked.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Standing } from "../standing.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { StandingError } from "../errors.js";
import { ManualClock } from "../time.js";
import { Authenticator, createKey } from "./keys.js";
import type { Principal } from "../auth/principals.js";

const NOW = Date.parse("2026-11-01T00:00:00Z");
// What "within the feed's bound" is allowed to take here: far above feedPollMs, so a slow machine does not fail the test.
const DEADLINE_MS = 5_000;

async function refusal(f: () => Promise<unknown>): Promise<StandingError> {
  try {
    await f();
  } catch (e) {
    if (e instanceof StandingError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

/** Polls `f` until it refuses or the deadline passes; the refusal, or undefined if it never came. */
async function refusedWithin(ms: number, f: () => Promise<unknown>): Promise<StandingError | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await f();
    } catch (e) {
      if (e instanceof StandingError) return e;
      throw e;
    }
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("authentication with cached keys", () => {
  let dir: string;
  let serverStore: SqliteStore; // the API process's connection
  let cliStore: SqliteStore; // another process's connection to the same file
  let server: Standing;
  let cli: Standing;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "standing-keys-"));
    serverStore = new SqliteStore(join(dir, "s.db"));
    cliStore = new SqliteStore(join(dir, "s.db"));
    server = new Standing(serverStore, new ManualClock(NOW), { feedPollMs: 50 });
    cli = new Standing(cliStore, new ManualClock(NOW));
  });
  afterEach(async () => {
    await server.close();
    await cli.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bearer = (key: string): string => `Bearer ${key}`;
  const admin = async (standing: Standing): Promise<{ key: string; keyId: string }> => {
    const { key, row } = await standing.createKey({ role: "admin", label: "ops" });
    return { key, keyId: row.keyId };
  };

  it("every key created or revoked, through either connection, appends one key event to the change feed that both connections read", async () => {
    const before = await serverStore.lastChange();
    const a = await admin(server);
    const b = await admin(cli);
    expect(await cli.revokeKey(a.keyId)).toBe(true);
    // Revoking what is already revoked changes nothing, so it tells nobody.
    expect(await server.revokeKey(a.keyId)).toBe(false);
    for (const store of [serverStore, cliStore]) {
      const events = await store.changesSince(before, 100);
      expect(events.map((e) => [e.kind, e.ref, e.origin])).toEqual([
        ["key", a.keyId, serverStore.origin],
        ["key", b.keyId, cliStore.origin],
        ["key", a.keyId, cliStore.origin],
      ]);
      expect(await store.lastChange()).toBe((events[2] as { seq: number }).seq);
    }
  });

  it("a key row read while its revocation arrives is not cached: the next request reads it again and refuses it", async () => {
    const { key, keyId } = await admin(cli);
    // The store's read, held open until the revocation has been reported (as a slow database would).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const auth = new Authenticator({ keyById: async (id) => { const row = await serverStore.keyById(id); await held; return row; } });
    const first = auth.authenticate(bearer(key));
    await cli.revokeKey(keyId);
    auth.forget(keyId); // what the feed does when it delivers the revocation
    release();
    expect((await first).kind).toBe("key"); // read before the revocation committed
    const e = await refusal(() => auth.authenticate(bearer(key)));
    expect(e.code).toBe("unauthorized");
  });

  it("serves repeated requests from the cache: the same principal, still checked against the whole key", async () => {
    const { key, keyId } = await admin(server);
    const a = new Authenticator(serverStore);
    const first = await a.authenticate(bearer(key));
    expect(first).toMatchObject({ kind: "key", keyId, role: "admin", label: "ops" });
    expect(await a.authenticate(bearer(key))).toBe(first);
    // Same key id, another secret: unknown, although the row is cached.
    const last = key.at(-1) === "A" ? "B" : "A";
    expect((await refusal(() => a.authenticate(bearer(key.slice(0, -1) + last)))).message).toBe("unknown API key");
    expect(await a.authenticate(undefined)).toEqual({ kind: "anonymous" });
    expect((await refusal(() => a.authenticate("Basic abc"))).code).toBe("unauthorized");
  });

  it("judges a cached key without a promise, and says when the key must be read first", async () => {
    const { key, keyId } = await admin(server);
    const a = new Authenticator(serverStore);
    expect(a.authenticateCached(bearer(key))).toBeUndefined(); // not read yet
    const read = await a.authenticate(bearer(key));
    expect(a.authenticateCached(bearer(key))).toBe(read);
    const last = key.at(-1) === "A" ? "B" : "A";
    expect(() => a.authenticateCached(bearer(key.slice(0, -1) + last))).toThrow("unknown API key");
    expect(() => a.authenticateCached("Basic abc")).toThrow(StandingError);
    expect(a.authenticateCached(undefined)).toEqual({ kind: "anonymous" });
    a.forget(keyId);
    expect(a.authenticateCached(bearer(key))).toBeUndefined();
  });

  it("given a cached key, when wrong secrets come before and after the right one, then only the right one passes, whatever its length", async () => {
    const { key, keyId } = await admin(server);
    const a = new Authenticator(serverStore);
    const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    await refusal(() => a.authenticate(bearer(flip(key, key.length - 1)))); // reads the row; no secret has matched yet
    const principal = await a.authenticate(bearer(key));
    expect(principal).toMatchObject({ kind: "key", keyId });
    // Once the right secret has matched, every wrong one is still refused: a change at the
    // start of the secret (after "stk_<id>_"), in its middle or at its end, a character more or less.
    const secretAt = "stk_".length + 12 + 1;
    for (const wrong of [flip(key, secretAt), flip(key, key.length >> 1), flip(key, key.length - 1), key + "A", key.slice(0, -1)]) {
      expect(wrong).not.toBe(key);
      expect(() => a.authenticateCached(bearer(wrong))).toThrow("unknown API key");
    }
    expect(a.authenticateCached(bearer(key))).toBe(principal);
  });

  it("a key revoked by the same process is refused on the very next request", async () => {
    const { key, keyId } = await admin(server);
    expect(await server.authenticate(bearer(key))).toMatchObject({ keyId });
    expect(await server.revokeKey(keyId)).toBe(true);
    const e = await refusal(() => server.authenticate(bearer(key)));
    expect(e.code).toBe("unauthorized");
    expect(e.details).toEqual({ keyId });
  });

  it("a key revoked by another process (the CLI) on the same file is refused once the server has read the change feed", async () => {
    const { key, keyId } = await admin(server);
    await server.start();
    expect(await server.authenticate(bearer(key))).toMatchObject({ keyId });
    expect(await server.authenticate(bearer(key))).toMatchObject({ keyId }); // now from the cache
    expect(await cli.revokeKey(keyId)).toBe(true);
    expect(await server.catchUp()).toBeGreaterThanOrEqual(1);
    const e = await refusal(() => server.authenticate(bearer(key)));
    expect(e.code).toBe("unauthorized");
    expect(e.details).toEqual({ keyId });
  });

  it("a key revoked by another process (the CLI) is refused within the feed's bound by a server that follows the feed", async () => {
    const { key, keyId } = await admin(server);
    await server.follow();
    expect(await server.authenticate(bearer(key))).toMatchObject({ keyId });
    expect(await server.authenticate(bearer(key))).toMatchObject({ keyId }); // now from the cache
    expect(await cli.revokeKey(keyId)).toBe(true);
    const e = await refusedWithin(DEADLINE_MS, () => server.authenticate(bearer(key)));
    expect(e, `still accepted ${DEADLINE_MS} ms after the CLI revoked it`).toBeDefined();
    expect(e?.code).toBe("unauthorized");
    expect(e?.details).toEqual({ keyId });
  });

  it("a key created by another process works at once, without the feed: unknown keys are never cached", async () => {
    const { key: existing } = await admin(server);
    await server.authenticate(bearer(existing));
    const { key, keyId } = await cliStore.transaction(async (tx) => {
      const made = await createKey(tx, undefined, { role: "admin", label: "cli" }, NOW);
      // Not committed yet: unknown to the server, which must not remember it as such.
      expect((await refusal(() => server.authenticate(bearer(made.key)))).message).toBe("unknown API key");
      return { key: made.key, keyId: made.row.keyId };
    });
    expect(await server.authenticate(bearer(key))).toMatchObject({ keyId });
  });

  it("one Standing shares one cache among its callers (API, web pages), and sees another process's revocations too", async () => {
    const { key, keyId } = await admin(cli);
    const first: Principal = await server.authenticate(bearer(key));
    expect(first).toMatchObject({ keyId });
    expect(await server.authenticate(bearer(key))).toBe(first);
    expect(await cli.revokeKey(keyId)).toBe(true);
    await server.catchUp();
    expect((await refusal(() => server.authenticate(bearer(key)))).code).toBe("unauthorized");
  });
});
