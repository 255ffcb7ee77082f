// Journal keys as an auditor handles them: parsing what is published, fingerprints,
// and the pin kept outside the data folder (docs/journal.md, "Pinning the key").
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";

/** sha256 (hex) of the DER SubjectPublicKeyInfo: the key's fingerprint. */
export function fingerprintOfKey(key: string | KeyObject): string {
  const k = typeof key === "string" ? parsePublicKey(key) : key.type === "private" ? createPublicKey(key) : key;
  return createHash("sha256").update(k.export({ type: "spki", format: "der" })).digest("hex");
}

/** A public key from an SPKI PEM, or from the JSON of GET /v1/journal/key. */
export function parsePublicKey(text: string): KeyObject {
  const t = text.trim();
  if (t.startsWith("{")) {
    const o = JSON.parse(t) as { publicKey?: unknown };
    if (typeof o.publicKey !== "string") throw new Error("the key JSON has no publicKey");
    return createPublicKey(o.publicKey);
  }
  return createPublicKey(t);
}

/** SPKI PEM of a key given as PEM or key JSON. */
export function publicKeyPem(text: string): string {
  return parsePublicKey(text).export({ type: "spki", format: "pem" }) as string;
}

export const FINGERPRINT = /^[0-9a-f]{64}$/i;

/**
 * Where pins are kept: $STANDING_PIN_DIR, else $XDG_CONFIG_HOME/standing, else
 * ~/.config/standing. Never beside the database: whoever can replace the key file
 * there must not be able to replace the pin with it.
 */
export function pinFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.STANDING_PIN_DIR ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "standing");
  return join(dir, "journal-pins.json");
}

export interface Pin {
  readonly fingerprint: string;
  readonly pinnedAt: string;
}

function readPins(file: string): Record<string, Pin> {
  if (!existsSync(file)) return {};
  try {
    const o = JSON.parse(readFileSync(file, "utf8")) as unknown;
    return o && typeof o === "object" && !Array.isArray(o) ? (o as Record<string, Pin>) : {};
  } catch {
    throw new Error(`the pin file ${file} cannot be read as JSON`);
  }
}

/** The pin recorded for a store (by its absolute location), if any. */
export function readPin(store: string, env: NodeJS.ProcessEnv = process.env): Pin | undefined {
  return readPins(pinFile(env))[resolve(store)];
}

/** Records a pin for a store; returns the file written. */
export function writePin(store: string, fingerprint: string, at: Date, env: NodeJS.ProcessEnv = process.env): string {
  const file = pinFile(env);
  const pins = readPins(file);
  pins[resolve(store)] = { fingerprint, pinnedAt: at.toISOString() };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(pins, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}
