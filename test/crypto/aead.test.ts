import { describe, expect, it } from "vitest";
import { fromHex, toHex, utf8 } from "../../src/core/bytes.js";
import { aesGcmOpen, aesGcmSeal } from "../../src/crypto/aead.js";

// NIST GCM test vector (gcmEncryptExtIV256, "Test Case 16" of McGrew & Viega's GCM spec).
const K = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const IV = "cafebabefacedbaddecaf888";
const P =
  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const A = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const C =
  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
const T = "76fc6ece0f4e1768cddf8853bb2d551b";

describe("AES-256-GCM", () => {
  it("matches the published GCM test case 16", () => {
    expect(toHex(aesGcmSeal(fromHex(K), fromHex(IV), fromHex(A), fromHex(P)))).toBe(C + T);
    expect(toHex(aesGcmOpen(fromHex(K), fromHex(IV), fromHex(A), fromHex(C + T)))).toBe(P);
  });

  it("refuses modified ciphertext, tag or associated data with DECRYPTION_FAILED", () => {
    const key = new Uint8Array(32).fill(1);
    const nonce = new Uint8Array(12).fill(2);
    const sealed = aesGcmSeal(key, nonce, utf8("header"), utf8("secret"));
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i] = bad[i]! ^ 0x80;
      expect(() => aesGcmOpen(key, nonce, utf8("header"), bad)).toThrow(
        expect.objectContaining({ code: "DECRYPTION_FAILED" }),
      );
    }
    expect(() => aesGcmOpen(key, nonce, utf8("other"), sealed)).toThrow(
      expect.objectContaining({ code: "DECRYPTION_FAILED" }),
    );
  });
});
