// Receipts: the exact bytes signed, checkable with the public key alone, by this code
// and by a standard Ed25519 tool.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fingerprintOfKey } from "./keys.js";
import { receiptBytes, signReceipt, verifyReceipt, type CheckClaims } from "./receipt.js";

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
});
