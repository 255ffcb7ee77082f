// Receipts for HTTP checks, signed in batches per turn of the event loop: given a real
// store's journal key, when many receipts are asked for in one turn and more in the
// next, then every one verifies with the published key alone and names its own claims.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { verifyReceipt, type CheckClaims, type Receipt } from "./journal/receipt.js";
import { Receipts } from "./receipts.js";
import { SqliteStore } from "./store/sqlite/store.js";

const dir = mkdtempSync(join(tmpdir(), "standing-receipts-"));
const store = new SqliteStore(join(dir, "s.db"));
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const claims = (i: number): Omit<CheckClaims, "type" | "head"> => ({
  id: `d-${i}`,
  subject: { scheme: "national-id", value: `A${i}` },
  context: "air-travel",
  answer: i % 3 === 0 ? "deny" : "allow",
  codes: i % 3 === 0 ? ["SPC-DEBTOR"] : [],
  policy: "municipal-credit@2026.1",
  at: "2026-03-01T00:00:00.000Z",
});

describe("check receipts in batches", () => {
  it("asked for in one turn and in the next: each verifies alone and carries its own claims", async () => {
    const receipts = new Receipts(store.journal);
    const pem = store.journal.publicKey().publicKey;
    const first = Array.from({ length: 40 }, (_, i) => receipts.checkBatched(claims(i)) as Promise<Receipt>);
    // The first batch closes at the end of this turn; these make the next ones.
    await new Promise((r) => setImmediate(r));
    const second = Array.from({ length: 300 }, (_, i) => receipts.checkBatched(claims(40 + i)) as Promise<Receipt>);
    const all = await Promise.all([...first, ...second]);
    all.forEach((r, i) => {
      const v = verifyReceipt(r, pem);
      expect(v.ok, `receipt ${i}`).toBe(true);
      if (v.ok && v.claims.type === "check") {
        expect(v.claims.id).toBe(`d-${i}`);
        expect(v.claims.subject.value).toBe(`A${i}`);
      }
    });
    // One signature per batch: the first turn's 40, then the next turn's 300 at most 256 a batch.
    const batches = new Set(all.map((r) => r.signature));
    expect(batches.size).toBeGreaterThanOrEqual(3);
    expect(batches.size).toBeLessThan(all.length);
    expect(Math.max(...all.map((r) => r.batch?.path.length ?? 0))).toBeLessThanOrEqual(8);
  });

  it("alone, a receipt is signed without waiting for others", async () => {
    const receipts = new Receipts(store.journal);
    const r = await (receipts.checkBatched(claims(7)) as Promise<Receipt>);
    expect(r.batch?.path).toEqual([]);
    expect(verifyReceipt(r, store.journal.publicKey().publicKey).ok).toBe(true);
  });
});
