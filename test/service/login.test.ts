import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Caller } from "../../src/identity/authorize.js";
import { CHALLENGE_TTL_MS, LoginService, loginMessage, TOKEN_TTL_S } from "../../src/service/login.js";

const node = generateKeyPairSync("ed25519");
const other = generateKeyPairSync("ed25519");
const user = generateKeyPairSync("ed25519");
const userPublic = new Uint8Array(user.publicKey.export({ format: "der", type: "spki" }).subarray(12));
const caller: Caller = {
  uri: "custos://d/patient/P1",
  role: "patient",
  id: "P1",
  subject: "tag:00",
  signingKey: userPublic,
};
const ORIGIN = "https://portal.example";

async function codeOf(run: () => unknown): Promise<string> {
  try {
    await run();
    return "OK";
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe("signed-challenge login", () => {
  it("accepts a signed challenge once, within its lifetime, from its origin", async () => {
    let clock = 1_800_000_000_000;
    const login = new LoginService("custos://d/node/n1", node.privateKey, node.publicKey, () => clock);
    const { sign } = await import("node:crypto");
    const signed = (c: ReturnType<LoginService["issueChallenge"]>) =>
      new Uint8Array(sign(null, loginMessage(c), user.privateKey));

    const c1 = login.issueChallenge(ORIGIN);
    expect(login.consume(c1.challengeId, ORIGIN, userPublic, signed(c1)).challengeId).toBe(c1.challengeId);
    expect(await codeOf(() => login.consume(c1.challengeId, ORIGIN, userPublic, signed(c1)))).toBe(
      "BAD_CHALLENGE",
    );

    const c2 = login.issueChallenge(ORIGIN);
    clock += CHALLENGE_TTL_MS + 1;
    expect(await codeOf(() => login.consume(c2.challengeId, ORIGIN, userPublic, signed(c2)))).toBe(
      "BAD_CHALLENGE",
    );

    const c3 = login.issueChallenge(ORIGIN);
    const forged = signed(c3);
    forged[0]! ^= 1;
    expect(await codeOf(() => login.consume(c3.challengeId, ORIGIN, userPublic, forged))).toBe(
      "BAD_SIGNATURE",
    );
    // The message binds the server: a signature over another server's challenge fails.
    const c4 = login.issueChallenge(ORIGIN);
    const elsewhere = new Uint8Array(
      sign(null, loginMessage({ ...c4, server: "custos://d/node/evil" }), user.privateKey),
    );
    expect(await codeOf(() => login.consume(c4.challengeId, ORIGIN, userPublic, elsewhere))).toBe(
      "BAD_SIGNATURE",
    );
  });

  it("issues tokens that expire, are bound to this server, and break when altered", async () => {
    let clock = 1_800_000_000_000;
    const login = new LoginService("custos://d/node/n1", node.privateKey, node.publicKey, () => clock);
    const { token, expiresAt } = await login.issueToken(caller);
    expect(expiresAt).toBe(clock + TOKEN_TTL_S * 1000);
    expect(await login.verifyToken(token)).toEqual(caller);

    const [header, payload, signature] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    const escalated = Buffer.from(JSON.stringify({ ...claims, role: "admin" })).toString("base64url");
    expect(await codeOf(() => login.verifyToken(`${header}.${escalated}.${signature}`))).toBe("BAD_TOKEN");
    expect(await codeOf(() => login.verifyToken(token.slice(0, token.length - 10)))).toBe("BAD_TOKEN");
    expect(await codeOf(() => login.verifyToken(`${header}.${payload}.`))).toBe("BAD_TOKEN");
    // The same signature bytes spelled another way (spare bits of the last base64url character).
    const last = signature!.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    const respelled = `${header}.${payload}.${signature!.slice(0, -1)}${twin}`;
    expect(Buffer.from(respelled.split(".")[2]!, "base64url")).toEqual(Buffer.from(signature!, "base64url"));
    expect(await codeOf(() => login.verifyToken(respelled))).toBe("BAD_TOKEN");

    const otherServer = new LoginService(
      "custos://d/node/n2",
      other.privateKey,
      other.publicKey,
      () => clock,
    );
    expect(await codeOf(() => otherServer.verifyToken(token))).toBe("BAD_TOKEN");
    const sameKeyOtherAudience = new LoginService(
      "custos://d/node/n2",
      node.privateKey,
      node.publicKey,
      () => clock,
    );
    expect(await codeOf(() => sameKeyOtherAudience.verifyToken(token))).toBe("BAD_TOKEN");

    clock += TOKEN_TTL_S * 1000 + 1000;
    expect(await codeOf(() => login.verifyToken(token))).toBe("TOKEN_EXPIRED");
  });
});
