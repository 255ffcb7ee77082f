// The key cache must never outlive a revocation: not one made through the same store,
// not one made by another process (the CLI) on the same database file. Real SQLite
// files, two real connections; nothing mocked.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../store/sqlite/store.js";
import type { KeyStore } from "../store/types.js";
import { StandingError } from "../errors.js";
import { Authenticator, authenticate, authenticatorFor, changeProbeOf, createKey } from "./keys.js";

const NOW = Date.parse("2026-11-01T00:00:00Z");

function refusal(f: () => unknown): StandingError {
  try {
    f();
  } catch (e) {
    if (e instanceof StandingError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("authentication with cached keys", () => {
  let dir: string;
  let server: SqliteStore; // the API process's connection
  let cli: SqliteStore; // another process's connection to the same file

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "standing-keys-"));
    server = new SqliteStore(join(dir, "s.db"));
    cli = new SqliteStore(join(dir, "s.db"));
  });
  afterEach(() => {
    server.close();
    cli.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bearer = (key: string): string => `Bearer ${key}`;
  const admin = (store: SqliteStore): { key: string; keyId: string } => {
    const { key, row } = createKey(store, undefined, { role: "admin", label: "ops" }, NOW);
    return { key, keyId: row.keyId };
  };

  it("a SQLite store gets a change probe; it answers true once per change, from either connection", () => {
    const probe = changeProbeOf(server) as () => boolean;
    expect(probe).toBeTypeOf("function");
    expect(probe()).toBe(true); // first call: nothing known yet
    expect(probe()).toBe(false);
    admin(server);
    expect(probe()).toBe(true);
    expect(probe()).toBe(false);
    admin(cli);
    expect(probe()).toBe(true);
    expect(probe()).toBe(false);
  });

  it("serves repeated requests from the cache: the same principal, still checked against the whole key", () => {
    const { key, keyId } = admin(server);
    const a = new Authenticator(server);
    const first = a.authenticate(bearer(key));
    expect(first).toMatchObject({ kind: "key", keyId, role: "admin", label: "ops" });
    expect(a.authenticate(bearer(key))).toBe(first);
    // Same key id, another secret: unknown, although the row is cached.
    const last = key.at(-1) === "A" ? "B" : "A";
    expect(refusal(() => a.authenticate(bearer(key.slice(0, -1) + last))).message).toBe("unknown API key");
    expect(a.authenticate(undefined)).toEqual({ kind: "anonymous" });
    expect(refusal(() => a.authenticate("Basic abc")).code).toBe("unauthorized");
  });

  it("a key revoked through the same store is refused on the very next request", () => {
    const { key, keyId } = admin(server);
    const a = new Authenticator(server);
    expect(a.authenticate(bearer(key))).toMatchObject({ keyId });
    expect(server.revokeKey(keyId, NOW)).toBe(true);
    const e = refusal(() => a.authenticate(bearer(key)));
    expect(e.code).toBe("unauthorized");
    expect(e.details).toEqual({ keyId });
  });

  it("a key revoked by another connection (the CLI) is refused on the very next request", () => {
    const { key, keyId } = admin(server);
    const a = new Authenticator(server);
    expect(a.authenticate(bearer(key))).toMatchObject({ keyId });
    expect(a.authenticate(bearer(key))).toMatchObject({ keyId });
    expect(cli.transaction(() => cli.revokeKey(keyId, NOW))).toBe(true);
    expect(refusal(() => a.authenticate(bearer(key))).details).toEqual({ keyId });
  });

  it("a key created by another connection works at once: unknown keys are never cached", () => {
    const a = new Authenticator(server);
    const { key: existing } = admin(server);
    a.authenticate(bearer(existing));
    const { key, keyId } = admin(cli);
    expect(a.authenticate(bearer(key))).toMatchObject({ keyId });
  });

  it("the module-level authenticate shares one cache per store, and sees revocations too", () => {
    expect(authenticatorFor(server)).toBe(authenticatorFor(server));
    expect(authenticatorFor(server)).not.toBe(authenticatorFor(cli));
    const { key, keyId } = admin(cli);
    expect(authenticate(server, bearer(key))).toMatchObject({ keyId });
    cli.revokeKey(keyId, NOW);
    expect(refusal(() => authenticate(server, bearer(key))).code).toBe("unauthorized");
  });

  it("a store that cannot say whether keys changed is read on every request", () => {
    // Only the KeyStore methods of a real store: no `db`, so no probe and no cache.
    const plain: KeyStore = {
      addKey: (row) => server.addKey(row),
      keyById: (id) => server.keyById(id),
      listKeys: () => server.listKeys(),
      revokeKey: (id, at) => server.revokeKey(id, at),
    };
    expect(changeProbeOf(plain)).toBeUndefined();
    const { key, keyId } = admin(server);
    const a = new Authenticator(plain);
    expect(a.authenticate(bearer(key))).toMatchObject({ keyId });
    cli.revokeKey(keyId, NOW);
    expect(refusal(() => a.authenticate(bearer(key))).details).toEqual({ keyId });
  });
});
