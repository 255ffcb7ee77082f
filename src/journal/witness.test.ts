// A witness accepts a head only if it extends the last one it saw.
import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { headPayload } from "./hash.js";
import { fingerprintOfKey } from "./keys.js";
import { checkAdvance, newWitnessState, parseWitnessState, recordHead, type Head } from "./witness.js";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
const h = (seq: number, hash: string, key = privateKey): Head => ({ seq, hash, at: 1_700_000_000_000 + seq, prev: seq - 1, signature: sign(null, Buffer.from(headPayload(seq, hash, 1_700_000_000_000 + seq, seq - 1)), key).toString("base64"), fingerprint: fingerprintOfKey(publicKey) });
const A = "a".repeat(64);
const B = "b".repeat(64);
const C = "c".repeat(64);

describe("a witness", () => {
  const first = recordHead(newWitnessState("https://standing.example", pem), h(10, A), new Date("2026-03-01T00:00:00Z"));

  it("accepts a first head, a later head whose chain still holds the last one, and the same head again (not recorded twice)", () => {
    expect(checkAdvance(newWitnessState("x", pem), h(10, A), undefined)).toEqual({ ok: true, extended: true });
    expect(checkAdvance(first, h(12, B), A)).toEqual({ ok: true, extended: true });
    expect(checkAdvance(first, h(10, A), A)).toEqual({ ok: true, extended: false });
  });

  it("refuses an older head (rollback), another hash at the same seq (fork), a later chain without the old head, and another key", () => {
    expect(checkAdvance(first, h(9, B), undefined)).toMatchObject({ ok: false, message: expect.stringContaining("rolled back") });
    expect(checkAdvance(first, h(10, B), B)).toMatchObject({ ok: false, message: expect.stringContaining("forked") });
    expect(checkAdvance(first, h(12, C), B)).toMatchObject({ ok: false, message: expect.stringContaining("does not extend head #10") });
    expect(checkAdvance(first, h(12, C), undefined)).toMatchObject({ ok: false, message: expect.stringContaining("is missing") });
    const other = generateKeyPairSync("ed25519").privateKey;
    expect(checkAdvance(first, h(12, C, other), A)).toMatchObject({ ok: false, message: expect.stringContaining("not signed by the journal key") });
  });

  it("reads its state file back, and refuses one that is not", () => {
    expect(parseWitnessState(JSON.stringify(first), "w.json")).toEqual(first);
    expect(() => parseWitnessState("[]", "w.json")).toThrow("not a witness state file");
    expect(() => parseWitnessState("{", "w.json")).toThrow("not JSON");
    expect(() => parseWitnessState(JSON.stringify({ ...first, heads: [{ seq: 1, hash: "x" }] }), "w.json")).toThrow("malformed");
  });
});
