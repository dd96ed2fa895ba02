// RFC 9180 appendix A.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode): the
// published values, checked through the same key schedule the Custos suite (AES-256-GCM) uses.
// The AES-256-GCM suite itself is checked by interoperating with @hpke/core in both directions.
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromHex, toHex, utf8 } from "../../../src/core/bytes.js";
import { CustosError } from "../../../src/core/errors.js";
import {
  deriveX25519KeyPair,
  generateX25519KeyPair,
  HpkeRecipient,
  openBase,
  sealBase,
  setupBaseR,
  x25519PublicKey,
} from "../../../src/crypto/hpke/index.js";
import { A1 } from "./vectors.js";

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

describe("HPKE (RFC 9180)", () => {
  it("derives the appendix A.1 key pairs", () => {
    const e = deriveX25519KeyPair(fromHex(A1.ikmE));
    expect(toHex(e.privateKey)).toBe(A1.skEm);
    expect(toHex(e.publicKey)).toBe(A1.pkEm);
    const r = deriveX25519KeyPair(fromHex(A1.ikmR));
    expect(toHex(r.privateKey)).toBe(A1.skRm);
    expect(toHex(r.publicKey)).toBe(A1.pkRm);
    expect(toHex(x25519PublicKey(fromHex(A1.skRm)))).toBe(A1.pkRm);
  });

  it("reproduces the appendix A.1 encapsulation and first ciphertext, and opens it", () => {
    const sender = new HpkeRecipient(fromHex(A1.pkRm)).setupSender(
      fromHex(A1.info),
      "aes128gcm",
      fromHex(A1.skEm),
    );
    expect(toHex(sender.enc)).toBe(A1.pkEm);
    expect(toHex(sender.context.seal(fromHex(A1.aad0), fromHex(A1.pt)))).toBe(A1.ct0);
    const receiver = setupBaseR(fromHex(A1.pkEm), fromHex(A1.skRm), fromHex(A1.info), "aes128gcm");
    expect(toHex(receiver.open(fromHex(A1.aad0), fromHex(A1.ct0)))).toBe(A1.pt);
  });

  it("interoperates with @hpke/core: sealed here, opened there, and back", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        async (pt, aad, info) => {
          const ours = generateX25519KeyPair();
          const sealed = sealBase(ours.publicKey, info, aad, pt);
          const recipientKey = await suite.kem.importKey("raw", ours.privateKey.slice().buffer, false);
          const opened = await suite.open(
            { recipientKey, enc: sealed.enc.slice().buffer, info: info.slice().buffer },
            sealed.ciphertext.slice().buffer,
            aad.slice().buffer,
          );
          expect(new Uint8Array(opened)).toEqual(pt);

          const theirs = await suite.kem.generateKeyPair();
          const theirPublic = new Uint8Array(await suite.kem.serializePublicKey(theirs.publicKey));
          const theirPrivate = new Uint8Array(await suite.kem.serializePrivateKey(theirs.privateKey));
          const sent = await suite.seal(
            { recipientPublicKey: theirs.publicKey, info: info.slice().buffer },
            pt.slice().buffer,
            aad.slice().buffer,
          );
          expect(theirPublic).toHaveLength(32);
          expect(
            openBase(new Uint8Array(sent.enc), theirPrivate, info, aad, new Uint8Array(sent.ct)),
          ).toEqual(pt);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("fails with DECRYPTION_FAILED when any bit of enc, ciphertext, aad or info changes, or the key is wrong", () => {
    const r = generateX25519KeyPair();
    const info = utf8("custos test");
    const aad = utf8("header");
    const { enc, ciphertext } = sealBase(r.publicKey, info, aad, utf8("a data key of 32 bytes.........."));
    const flip = (b: Uint8Array, i: number) => {
      const c = b.slice();
      c[i] = c[i]! ^ 1;
      return c;
    };
    const attempts: (() => Uint8Array)[] = [
      () => openBase(flip(enc, 5), r.privateKey, info, aad, ciphertext),
      () => openBase(enc, r.privateKey, info, aad, flip(ciphertext, 3)),
      () => openBase(enc, r.privateKey, info, aad, flip(ciphertext, ciphertext.length - 1)),
      () => openBase(enc, r.privateKey, info, flip(aad, 0), ciphertext),
      () => openBase(enc, r.privateKey, flip(info, 2), aad, ciphertext),
      () => openBase(enc, generateX25519KeyPair().privateKey, info, aad, ciphertext),
      () => openBase(enc.subarray(1), r.privateKey, info, aad, ciphertext),
      () => openBase(enc, r.privateKey, info, aad, ciphertext.subarray(0, 10)),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrow(CustosError);
      try {
        attempt();
      } catch (error) {
        expect((error as CustosError).code).toBe("DECRYPTION_FAILED");
        expect((error as Error).message).toMatch(/tampered|key/);
      }
    }
  });

  it("rejects a small-order public key instead of deriving the all-zero secret", () => {
    expect(() => sealBase(new Uint8Array(32), utf8(""), utf8(""), utf8("x"))).toThrow(CustosError);
  });
});
