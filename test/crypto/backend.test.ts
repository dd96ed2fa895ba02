// The browser portal opens records with the @noble backend, the node with node:crypto. Both must
// pass the published vectors (RFC 9180 A.1 and A.2, NIST GCM test case 16) and agree with each other
// on random inputs: whatever one seals, the other opens, and tampering fails on both.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromHex, toHex, utf8 } from "../../src/core/bytes.js";
import { aesGcmOpen, aesGcmSeal } from "../../src/crypto/aead.js";
import { type CryptoBackend, defaultBackend, nobleBackend, nodeBackend } from "../../src/crypto/backend.js";
import {
  deriveX25519KeyPair,
  HpkeReceiver,
  HpkeRecipient,
  openBase,
  sealBase,
  setupBaseR,
} from "../../src/crypto/hpke/index.js";
import { generateX25519KeyPair, x25519PublicKey } from "../../src/crypto/hpke/primitives.js";

const node = nodeBackend as CryptoBackend;

// RFC 9180 A.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
const A1 = {
  info: "4f6465206f6e2061204772656369616e2055726e",
  ikmE: "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
  pkEm: "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
  skEm: "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
  ikmR: "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
  pkRm: "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
  skRm: "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
  pt: "4265617574792069732074727574682c20747275746820626561757479",
  aad0: "436f756e742d30",
  ct0: "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a",
};

// RFC 9180 A.2: the same KEM and KDF with ChaCha20-Poly1305, base mode.
const A2 = {
  info: "4f6465206f6e2061204772656369616e2055726e",
  pkEm: "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
  skEm: "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
  pkRm: "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
  skRm: "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
  pt: "4265617574792069732074727574682c20747275746820626561757479",
  aad0: "436f756e742d30",
  ct0: "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
};

// NIST GCM test case 16 (AES-256).
const GCM = {
  k: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
  iv: "cafebabefacedbaddecaf888",
  p: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
  a: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
  ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b",
};

describe("crypto backends", () => {
  it("picks node:crypto on Node and has @noble for the browser", () => {
    expect(nodeBackend?.name).toBe("node");
    expect(defaultBackend).toBe(nodeBackend);
    expect(nobleBackend.name).toBe("noble");
  });

  describe.each([
    ["node:crypto", node],
    ["@noble", nobleBackend],
  ])("%s", (_name, backend) => {
    it("derives the RFC 9180 A.1 key pairs", () => {
      const e = deriveX25519KeyPair(fromHex(A1.ikmE), backend);
      expect(toHex(e.privateKey)).toBe(A1.skEm);
      expect(toHex(e.publicKey)).toBe(A1.pkEm);
      const r = deriveX25519KeyPair(fromHex(A1.ikmR), backend);
      expect(toHex(r.publicKey)).toBe(A1.pkRm);
      expect(toHex(x25519PublicKey(fromHex(A1.skRm), backend))).toBe(A1.pkRm);
    });

    it("reproduces the RFC 9180 A.1 (AES-128-GCM) and A.2 (ChaCha20-Poly1305) ciphertexts and opens them", () => {
      for (const [v, aead] of [
        [A1, "aes128gcm"],
        [A2, "chacha20poly1305"],
      ] as const) {
        const sender = new HpkeRecipient(fromHex(v.pkRm), backend).setupSender(
          fromHex(v.info),
          aead,
          fromHex(v.skEm),
        );
        expect(toHex(sender.enc)).toBe(v.pkEm);
        expect(toHex(sender.context.seal(fromHex(v.aad0), fromHex(v.pt)))).toBe(v.ct0);
        const receiver = setupBaseR(fromHex(v.pkEm), fromHex(v.skRm), fromHex(v.info), aead, backend);
        expect(toHex(receiver.open(fromHex(v.aad0), fromHex(v.ct0)))).toBe(v.pt);
      }
    });

    it("matches NIST GCM test case 16 and refuses every flipped bit", () => {
      const sealed = aesGcmSeal(
        fromHex(GCM.k),
        fromHex(GCM.iv),
        fromHex(GCM.a),
        fromHex(GCM.p),
        256,
        backend,
      );
      expect(toHex(sealed)).toBe(GCM.ct);
      expect(toHex(aesGcmOpen(fromHex(GCM.k), fromHex(GCM.iv), fromHex(GCM.a), sealed, 256, backend))).toBe(
        GCM.p,
      );
      for (let i = 0; i < sealed.length; i += 7) {
        const bad = sealed.slice();
        bad[i] = bad[i]! ^ 1;
        expect(() => aesGcmOpen(fromHex(GCM.k), fromHex(GCM.iv), fromHex(GCM.a), bad, 256, backend)).toThrow(
          expect.objectContaining({ code: "DECRYPTION_FAILED" }),
        );
      }
    });

    it("refuses a small-order public key and a wrong private key", () => {
      const r = generateX25519KeyPair(backend);
      const { enc, ciphertext } = sealBase(r.publicKey, utf8("info"), utf8("aad"), utf8("secret"), backend);
      expect(() =>
        openBase(new Uint8Array(32), r.privateKey, utf8("info"), utf8("aad"), ciphertext, backend),
      ).toThrow(expect.objectContaining({ code: "DECRYPTION_FAILED" }));
      const other = generateX25519KeyPair(backend).privateKey;
      expect(() => openBase(enc, other, utf8("info"), utf8("aad"), ciphertext, backend)).toThrow(
        expect.objectContaining({ code: "DECRYPTION_FAILED" }),
      );
    });
  });

  it("agrees across backends: sealed by one, opened by the other, in both directions", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.boolean(),
        (pt, aad, info, nodeSeals) => {
          const [sealer, opener] = nodeSeals ? [node, nobleBackend] : [nobleBackend, node];
          const r = generateX25519KeyPair(opener);
          const { enc, ciphertext } = sealBase(r.publicKey, info, aad, pt, sealer);
          expect(toHex(new HpkeReceiver(r.privateKey, opener).open(enc, info, aad, ciphertext))).toBe(
            toHex(pt),
          );
          const key = r.privateKey;
          const nonce = enc.subarray(0, 12);
          const gcm = aesGcmSeal(key, nonce, aad, pt, 256, sealer);
          expect(toHex(aesGcmOpen(key, nonce, aad, gcm, 256, opener))).toBe(toHex(pt));
        },
      ),
      { numRuns: 100 },
    );
  });
});
