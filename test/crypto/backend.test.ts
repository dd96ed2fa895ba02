// The browser portal opens records with the @noble backend, the node with node:crypto. Both must
// pass the published vectors (RFC 9180 A.1 and A.2, NIST GCM test case 16) and agree with each other
// on random inputs: whatever one seals, the other opens, and tampering fails on both.
import { spawnSync } from "node:child_process";
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
import { A1, A2 } from "./hpke/vectors.js";

const node = nodeBackend as CryptoBackend;

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

    it("derives RFC 7748 section 6.1's public keys and shared secret", () => {
      const alice = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
      const bob = fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
      const alicePub = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
      const bobPub = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
      expect(toHex(x25519PublicKey(alice, backend))).toBe(alicePub);
      expect(toHex(x25519PublicKey(bob, backend))).toBe(bobPub);
      const shared = backend.x25519(
        backend.x25519PrivateKey(alice),
        backend.x25519PublicKey(fromHex(bobPub)),
      );
      expect(toHex(shared)).toBe("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    });

    it("generates key pairs whose public half is the one the private half derives", () => {
      for (let i = 0; i < 50; i++) {
        const pair = backend.x25519Generate();
        expect(toHex(pair.publicKey)).toBe(toHex(x25519PublicKey(pair.rawPrivateKey, nobleBackend)));
      }
    });

    it("makes ephemeral keys whose public half agrees with the private half it keeps", () => {
      for (let i = 0; i < 20; i++) {
        const them = nobleBackend.x25519Generate();
        const ephemeral = backend.x25519Ephemeral();
        const ours = backend.x25519(ephemeral.privateKey, backend.x25519PublicKey(them.publicKey));
        const theirs = nobleBackend.x25519(
          nobleBackend.x25519PrivateKey(them.rawPrivateKey),
          nobleBackend.x25519PublicKey(ephemeral.publicKey),
        );
        expect(toHex(ours)).toBe(toHex(theirs));
        backend.x25519Release(ephemeral.privateKey);
      }
    });

    it("zero-fills a disposed HPKE context's key schedule and refuses to use it again", () => {
      const r = generateX25519KeyPair(backend);
      const { context } = new HpkeRecipient(r.publicKey, backend).setupSender(utf8("info"));
      context.seal(utf8("aad"), utf8("secret"));
      context.dispose();
      expect(() => context.seal(utf8("aad"), utf8("again"))).toThrow(
        expect.objectContaining({ code: "BAD_ARGUMENT" }),
      );
      expect(() => context.export(utf8("x"), 32)).toThrow(expect.objectContaining({ code: "BAD_ARGUMENT" }));
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

  it("generates tens of thousands of ephemeral keys without hanging (Node 20 keygen/GC deadlock)", () => {
    // generateKeyPairSync followed by a JWK export deadlocked within a few thousand keys on Node 20;
    // run in a child so a hang fails the test instead of stalling the suite. Every seal makes its
    // ephemeral key with generateKeyPairSync (kept inside OpenSSL, public half by X25519(k, 9)).
    const code = `import { generateX25519KeyPair } from "./src/crypto/hpke/primitives.ts";
      import { sealBase } from "./src/crypto/hpke/hpke.ts";
      const r = generateX25519KeyPair().publicKey, info = new Uint8Array(1), key = new Uint8Array(32);
      for (let i = 0; i < 30000; i++) sealBase(r, info, info, key);
      for (let i = 0; i < 300; i++) generateX25519KeyPair();
      process.stdout.write("done");`;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      encoding: "utf8",
      timeout: 90_000,
    });
    expect(run.stdout).toBe("done");
  }, 120_000);

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
