// HPKE benchmark (issue 3 goal): single-shot seals and opens per second with the Custos suite
// (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM), a warm recipient, 32-byte data keys.

import { generateX25519KeyPair, HpkeReceiver, sealBase } from "../src/crypto/hpke/index.js";
import type { BenchRow } from "./types.js";

export async function benchHpke(): Promise<BenchRow[]> {
  const recipient = generateX25519KeyPair();
  const info = new TextEncoder().encode("custos epoch key v1");
  const aad = new Uint8Array(80).fill(1);
  const dataKey = new Uint8Array(32).fill(2);
  for (let i = 0; i < 500; i++) sealBase(recipient.publicKey, info, aad, dataKey);
  const count = 5000;
  const sealed = [];
  let t = performance.now();
  for (let i = 0; i < count; i++) sealed.push(sealBase(recipient.publicKey, info, aad, dataKey));
  const seals = count / ((performance.now() - t) / 1000);
  const receiver = new HpkeReceiver(recipient.privateKey);
  t = performance.now();
  for (const { enc, ciphertext } of sealed) receiver.open(enc, info, aad, ciphertext);
  const opens = count / ((performance.now() - t) / 1000);
  return [
    {
      name: "HPKE seal (X25519, AES-256-GCM)",
      value: Math.round(seals),
      unit: "seals/s",
      goal: ">= 10,000",
      met: seals >= 10_000,
    },
    { name: "HPKE open (warm receiver)", value: Math.round(opens), unit: "opens/s" },
  ];
}
