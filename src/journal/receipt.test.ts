// Receipts: the exact bytes signed, checkable with the public key alone, by this code
// and by a standard Ed25519 tool.
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../canonical.js";
import { fingerprintOfKey } from "./keys.js";
import { checkReceiptText, receiptBytes, signReceipt, signReceiptBatch, verifyReceipt, type CheckClaims } from "./receipt.js";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
const signer = { sign: (b: Uint8Array) => sign(null, b, privateKey).toString("base64"), fingerprint: fingerprintOfKey(publicKey) };
const claims: CheckClaims = {
  type: "check",
  id: "0190c0de-0000-7000-8000-000000000001",
  subject: { scheme: "national-id", value: "A1" },
  context: "air-travel",
  answer: "deny",
  codes: ["SPC-DEBTOR"],
  policy: "municipal-credit@2026.1",
  at: "2026-03-01T00:00:00.000Z",
  head: { seq: 42, hash: "ab".repeat(32) },
};

describe("receipts", () => {
  it("sign exactly the canonical JSON of the claims with receipt: standing/1, keys sorted", () => {
    expect(receiptBytes(claims).toString("utf8")).toBe(
      '{"answer":"deny","at":"2026-03-01T00:00:00.000Z","codes":["SPC-DEBTOR"],"context":"air-travel","head":{"hash":"' +
        "ab".repeat(32) +
        '","seq":42},"id":"0190c0de-0000-7000-8000-000000000001","policy":"municipal-credit@2026.1","receipt":"standing/1","subject":{"scheme":"national-id","value":"A1"},"type":"check"}',
    );
    const r = signReceipt(claims, signer);
    expect(Buffer.from(r.payload, "base64")).toEqual(receiptBytes(claims));
    expect(r).toMatchObject({ format: "standing-receipt/1", alg: "Ed25519", fingerprint: signer.fingerprint });
  });

  it("verify with the public key alone, whether given alone or inside the answer that carries it", () => {
    const r = signReceipt(claims, signer);
    for (const input of [r, JSON.stringify(r), { decision: "deny", receipt: r }]) {
      const v = verifyReceipt(input, pem);
      expect(v.ok).toBe(true);
      if (v.ok) expect(v.claims).toEqual({ receipt: "standing/1", ...claims });
    }
  });

  it("refuse a changed claim, a changed signature, another key, and what is not a receipt, saying why", () => {
    const r = signReceipt(claims, signer);
    const changed = { ...r, payload: Buffer.from(receiptBytes({ ...claims, answer: "allow" })).toString("base64") };
    expect(verifyReceipt(changed, pem)).toMatchObject({ ok: false, message: expect.stringContaining("does not verify") });
    const sig = Buffer.from(r.signature, "base64");
    sig[0] = (sig[0] as number) ^ 1;
    expect(verifyReceipt({ ...r, signature: sig.toString("base64") }, pem).ok).toBe(false);
    const other = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }) as string;
    expect(verifyReceipt(r, other)).toMatchObject({ ok: false, message: expect.stringContaining("names key") });
    expect(verifyReceipt("{", pem)).toEqual({ ok: false, message: "not JSON" });
    expect(verifyReceipt({ hello: 1 }, pem).ok).toBe(false);
    expect(verifyReceipt(r, "not a key").ok).toBe(false);
  });

  const openssl = spawnSync("openssl", ["version"], { encoding: "utf8" });
  it.skipIf(openssl.status !== 0)("verify with openssl pkeyutl over the decoded payload, as docs/journal.md shows (skipped without openssl)", () => {
    const dir = mkdtempSync(join(tmpdir(), "standing-receipt-"));
    const r = signReceipt(claims, signer);
    writeFileSync(join(dir, "key.pem"), pem);
    writeFileSync(join(dir, "payload.bin"), Buffer.from(r.payload, "base64"));
    writeFileSync(join(dir, "sig.bin"), Buffer.from(r.signature, "base64"));
    const ok = spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin", "-in", "payload.bin", "-sigfile", "sig.bin"], { cwd: dir, encoding: "utf8" });
    expect(ok.stdout + ok.stderr).toContain("Signature Verified Successfully");
    expect(ok.status).toBe(0);
    writeFileSync(join(dir, "payload.bin"), receiptBytes({ ...claims, codes: [] }));
    const bad = spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin", "-in", "payload.bin", "-sigfile", "sig.bin"], { cwd: dir, encoding: "utf8" });
    expect(bad.status).not.toBe(0);
  });

  it("a check receipt's bytes, written out in sorted key order, are the canonical JSON of its claims for any strings and heads", () => {
    // Any UTF-16 (lone surrogates, controls, quotes, backslashes) in every string field.
    const text = fc.string({ unit: "binary", maxLength: 24 });
    const arb = fc.record({
      type: fc.constant("check" as const),
      id: text,
      subject: fc.record({ scheme: text, value: text }),
      context: text,
      answer: fc.constantFrom("allow" as const, "deny" as const),
      codes: fc.array(text, { maxLength: 4 }),
      policy: text,
      at: text,
      head: fc.option(fc.record({ seq: fc.nat(), hash: text }), { nil: null }),
    });
    fc.assert(
      fc.property(arb, (c) => {
        expect(checkReceiptText(c)).toBe(canonicalJson({ receipt: "standing/1", ...c }));
      }),
      { numRuns: 500 },
    );
  });

  it("signed in a batch: one signature over a Merkle root, each receipt with its path, each verifying alone", () => {
    for (const size of [1, 2, 3, 5, 8, 13]) {
      const batch = Array.from({ length: size }, (_, i) => ({ ...claims, id: `d-${i}` }));
      const receipts = signReceiptBatch(batch, signer, 1_772_323_200_000);
      expect(new Set(receipts.map((r) => r.signature)).size).toBe(1);
      receipts.forEach((r, i) => {
        const v = verifyReceipt(r, pem);
        expect(v.ok, `${size}/${i}`).toBe(true);
        if (v.ok) expect(v.claims.id).toBe(`d-${i}`);
      });
      // Another receipt's payload under this one's path, or a changed path, does not fit the root.
      if (size > 1) {
        const [a, b] = receipts as [(typeof receipts)[0], (typeof receipts)[0]];
        expect(verifyReceipt({ ...a, payload: b.payload }, pem)).toMatchObject({ ok: false, message: expect.stringContaining("not under the signed batch root") });
        const path = [...(a.batch?.path ?? [])];
        path[0] = (path[0] as string).replace(/^./, (c) => (c === "0" ? "1" : "0"));
        expect(verifyReceipt({ ...a, batch: { ...(a.batch as NonNullable<typeof a.batch>), path } }, pem).ok).toBe(false);
      }
    }
  });

  it("a batch root is what the documented bytes give: leaf sha256(0x00 ‖ payload), node sha256(0x01 ‖ left ‖ right), a lone node moved up", () => {
    const batch = Array.from({ length: 3 }, (_, i) => ({ ...claims, id: `d-${i}` }));
    const receipts = signReceiptBatch(batch, signer, 1_772_323_200_000);
    const sha = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();
    const leaves = receipts.map((r) => sha(Buffer.from([0]), Buffer.from(r.payload, "base64")));
    const root = sha(Buffer.from([1]), sha(Buffer.from([1]), leaves[0] as Buffer, leaves[1] as Buffer), leaves[2] as Buffer);
    const signed = Buffer.from(receipts[0]?.batch?.signed as string, "base64").toString("utf8");
    expect(signed).toBe(`{"at":1772323200000,"receipts":"standing/1","root":"${root.toString("hex")}","size":3}`);
    expect(receipts[2]?.batch?.path).toEqual([sha(Buffer.from([1]), leaves[0] as Buffer, leaves[1] as Buffer).toString("hex")]);
  });

  it.skipIf(openssl.status !== 0)("a batched receipt's signature verifies with openssl pkeyutl over the decoded batch.signed (skipped without openssl)", () => {
    const dir = mkdtempSync(join(tmpdir(), "standing-receipt-"));
    const [r] = signReceiptBatch([claims, { ...claims, id: "other" }], signer, 1_772_323_200_000);
    writeFileSync(join(dir, "key.pem"), pem);
    writeFileSync(join(dir, "signed.bin"), Buffer.from(r?.batch?.signed as string, "base64"));
    writeFileSync(join(dir, "sig.bin"), Buffer.from(r?.signature as string, "base64"));
    const ok = spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin", "-in", "signed.bin", "-sigfile", "sig.bin"], { cwd: dir, encoding: "utf8" });
    expect(ok.stdout + ok.stderr).toContain("Signature Verified Successfully");
  });
});
