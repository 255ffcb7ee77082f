// The PostgreSQL store: the shared contract, each test on a database of its own, plus
// what only this implementation promises (migrations under a lock, one chain and one
// signed head per commit under concurrent writers from several stores, a database
// that is down reported in one line).
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { storeContract } from "../contract.js";
import { PgStore } from "./store.js";
import { dropCreated, dropDatabases, freshDatabase } from "./test-helpers.js";

// Each test's database is dropped after it (after the contract has closed its store):
// dropping seventy at the end takes longer than a hook may on a busy machine.
afterEach(async () => {
  await dropDatabases();
});

afterAll(async () => {
  await dropCreated();
}, 300_000);

storeContract("postgres (a database per test)", async () => {
  const db = await freshDatabase("contract");
  return new PgStore(db.url, { keyFile: db.keyFile }).open();
}, { keyRotation: false });

describe("PgStore specifics", () => {
  it("given a database that is down, when the store opens, then it fails with one storage-unavailable line naming the database", async () => {
    const store = new PgStore("postgres://postgres@127.0.0.1:1/nothing", { keyFile: "/tmp/standing-never.pem", readOnly: true });
    await expect(store.open()).rejects.toMatchObject({ code: "storage-unavailable" });
    await expect(store.countSubjects()).rejects.toMatchObject({ code: "storage-unavailable" });
    await store.close();
  });
});
