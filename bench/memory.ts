// The cost of forward secrecy in memory (issue 27): ending epochs on the sweep timer (each key
// zero-filled and forgotten), the full garbage collection that follows a sweep so OpenSSL frees and
// clears its copies of the keys, and AES-GCM sealing with the key handling it needs (a warm key from
// the cache, the encoded record zero-filled after sealing) against sealing alone.

import { randomBytes } from "node:crypto";
import { secretBytes } from "../src/core/bytes.js";
import { aesGcmSeal } from "../src/crypto/aead.js";
import { collectGarbage } from "../src/crypto/collect-garbage.js";
import { EpochKeyCache } from "../src/records/epoch-keys.js";
import { round } from "./stats.js";
import type { BenchRow } from "./types.js";

const EPOCHS = 100_000;

export async function benchMemory(scale: number): Promise<BenchRow[]> {
  const epochs = Math.max(1_000, Math.round(EPOCHS * scale));
  let now = 0;
  const cache = new EpochKeyCache({ periodMs: 1_000, now: () => now, maxLive: epochs });
  for (let i = 0; i < epochs; i++) cache.start(randomBytes(32), "readers");
  now = 1_000;
  let t = performance.now();
  const swept = cache.sweep();
  const sweepMs = performance.now() - t;
  if (swept !== epochs) throw new Error(`swept ${swept} of ${epochs} epochs`);
  cache.close();
  t = performance.now();
  const collected = collectGarbage();
  const gcMs = performance.now() - t;

  // Sealing a 300-byte record, with and without zero-filling the plaintext copy after each seal.
  const key = secretBytes(32);
  key.set(randomBytes(32));
  const aad = new Uint8Array(120).fill(1);
  const nonce = randomBytes(12);
  const record = randomBytes(300);
  const count = 50_000;
  const run = (wipe: boolean) => {
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const plaintext = secretBytes(record.length);
      plaintext.set(record);
      aesGcmSeal(key, nonce, aad, plaintext);
      if (wipe) plaintext.fill(0);
    }
    return count / ((performance.now() - start) / 1000);
  };
  run(true);
  const plain = run(false);
  const wiped = run(true);
  return [
    {
      name: `sweep: end and zero-fill ${epochs.toLocaleString("en-US")} ended epochs`,
      value: round((sweepMs * 1000) / epochs, 3),
      unit: "us/epoch",
    },
    ...(collected
      ? [{ name: "full GC after a sweep (this process's heap)", value: round(gcMs, 1), unit: "ms" }]
      : []),
    { name: "AES-GCM seal, 300-byte record", value: Math.round(plain), unit: "seals/s" },
    {
      name: "same, plaintext zero-filled after each seal",
      value: Math.round(wiped),
      unit: "seals/s",
      goal: ">= 90% of unwiped",
      met: wiped >= 0.9 * plain,
    },
  ];
}
