// Time-ordered ids (UUID version 7) for decisions, which a busy checkpoint or a large
// screening makes by the hundred thousand a second. The uuid library's own source of
// randomness asks the platform for 16 bytes per id, which was an eighth of a screening's
// time; here the randomness comes from a pool filled 4 KiB at a time, and the library
// lays out the id. Ids stay monotonic within a millisecond, as the library's are.
import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;
/** The 16 bytes the library reads for one id, reused: a check makes an id and nothing more. */
const scratch = new Uint8Array(16);
let lastMs = -Infinity;
let seq = 0;

function random16(): Uint8Array {
  if (used + 16 > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  for (let i = 0; i < 16; i++) scratch[i] = pool[used + i] as number;
  used += 16;
  return scratch;
}

/** A UUIDv7: the millisecond, then a sequence that starts at random each millisecond and counts up within it, then random bits. */
export function timeOrderedId(now: number = Date.now()): string {
  const random = random16();
  if (now > lastMs) {
    lastMs = now;
    // 31 random bits, the top one clear, so that counting up within a millisecond does not overflow soon (as the library does).
    seq = ((random[6] as number) << 23) | ((random[7] as number) << 15) | ((random[8] as number) << 7) | ((random[9] as number) >>> 1);
    seq &= 0x7fffffff;
  } else {
    seq = (seq + 1) | 0;
    // Past 2^31 ids in one millisecond: borrow the next one, as the library does.
    if (seq < 0) {
      seq = 0;
      lastMs++;
    }
  }
  return v7({ random, msecs: lastMs, seq });
}
