import { generateKeyPairSync } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createTokenProvider, logIn, loginRefusal } from "../../portal/src/lib/login.js";
import { createFetchTransport, type FetchLike } from "../../portal/src/lib/transport.js";
import { fromBase64 } from "../../src/core/bytes.js";
import { CustosError } from "../../src/core/errors.js";
import { type Challenge, loginMessage } from "../../src/identity/login-message.js";
import { LoginService, loginMessage as serverLoginMessage } from "../../src/service/login.js";

const SERVER = "custos://stmary/node/n1";
const ORIGIN = "https://portal.stmary.example";
const node = generateKeyPairSync("ed25519");

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

async function signer() {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { signingKey: pair.privateKey, publicKey };
}

/** A node's login routes over a LoginService, plus one protected route that counts tokens. */
function fakeNode(publicKey: Uint8Array, options: { refuseFirstToken?: boolean; server?: string } = {}) {
  const login = new LoginService(options.server ?? SERVER, node.privateKey, node.publicKey);
  const seen: string[] = [];
  let logins = 0;
  const fetch: FetchLike = async (url, init = {}) => {
    const path = new URL(url).pathname;
    const headers = new Headers(init.headers);
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    try {
      if (path === "/v1/login/challenge") return json(200, login.issueChallenge(ORIGIN));
      if (path === "/v1/login") {
        login.consume(body.challengeId, ORIGIN, publicKey, fromBase64(body.signature));
        logins++;
        const caller = {
          uri: "custos://stmary/patient/P1",
          role: "patient" as const,
          id: "P1",
          subject: "s",
          signingKey: publicKey,
        };
        return json(200, { ...(await login.issueToken(caller)), identity: caller.uri, role: caller.role });
      }
      if (path === "/v1/whoami") {
        const token = /^Bearer (.+)$/.exec(headers.get("authorization") ?? "")?.[1];
        if (!token) return json(401, { error: { code: "NOT_AUTHENTICATED", message: "log in first" } });
        await login.verifyToken(token);
        seen.push(token);
        if (options.refuseFirstToken && seen.length === 1) {
          return json(401, {
            error: { code: "TOKEN_EXPIRED", message: "the token has expired; log in again" },
          });
        }
        return json(200, { ok: true });
      }
      return json(404, { error: { code: "NOT_FOUND", message: "no such route" } });
    } catch (error) {
      const e = error as CustosError;
      return json(401, { error: { code: e.code, message: e.message } });
    }
  };
  return { fetch, seen, logins: () => logins };
}

describe("the login message", () => {
  it("is byte for byte the server's (one shared definition)", () => {
    expect(serverLoginMessage).toBe(loginMessage);
    const challenge = fc.record({
      challengeId: fc.string(),
      challenge: fc.string(),
      server: fc.string(),
      origin: fc.string(),
      expiresAt: fc.integer({ min: 0 }),
    });
    fc.assert(
      fc.property(challenge, (c: Challenge) => {
        expect(Buffer.from(loginMessage(c))).toEqual(Buffer.from(serverLoginMessage(c)));
      }),
    );
    const known: Challenge = {
      challengeId: "id",
      challenge: "ch",
      server: SERVER,
      origin: ORIGIN,
      expiresAt: 1,
    };
    expect(new TextDecoder().decode(loginMessage(known))).toBe(
      `custos-login-v1\n${SERVER}\n${ORIGIN}\nid\nch\n1\n`,
    );
  });
});

describe("login from the page", () => {
  it("signs the challenge with the non-extractable key and the node's own check accepts it", async () => {
    const { signingKey, publicKey } = await signer();
    const fake = fakeNode(publicKey);
    const transport = createFetchTransport({ baseUrl: ORIGIN, fetch: fake.fetch });
    const token = await logIn({ transport, server: SERVER, origin: ORIGIN, certificate: "PEM", signingKey });
    expect(token.identity).toBe("custos://stmary/patient/P1");
    expect(token.renewAt - Date.now()).toBeGreaterThan(200_000);
    expect(token.renewAt - Date.now()).toBeLessThanOrEqual(240_000);
  });

  it("signs nothing for a challenge from another node or for another origin", async () => {
    const { signingKey, publicKey } = await signer();
    const fake = fakeNode(publicKey, { server: "custos://stmary/node/evil" });
    const transport = createFetchTransport({ baseUrl: ORIGIN, fetch: fake.fetch });
    await expect(
      logIn({ transport, server: SERVER, origin: ORIGIN, certificate: "PEM", signingKey }),
    ).rejects.toMatchObject({ code: "LOGIN_FAILED", message: expect.stringContaining("another node") });
    const honest = fakeNode(publicKey);
    await expect(
      logIn({
        transport: createFetchTransport({ baseUrl: ORIGIN, fetch: honest.fetch }),
        server: SERVER,
        origin: "https://elsewhere.example",
        certificate: "PEM",
        signingKey,
      }),
    ).rejects.toMatchObject({ code: "LOGIN_FAILED" });
    expect(honest.logins()).toBe(0);
  });

  it("logs in again once, transparently, when the node refuses a token", async () => {
    const { signingKey, publicKey } = await signer();
    const fake = fakeNode(publicKey, { refuseFirstToken: true });
    const open = createFetchTransport({ baseUrl: ORIGIN, fetch: fake.fetch });
    const options = { transport: open, server: SERVER, origin: ORIGIN, certificate: "PEM", signingKey };
    const tokens = createTokenProvider(options, await logIn(options));
    const transport = createFetchTransport({ baseUrl: ORIGIN, fetch: fake.fetch, token: tokens });
    expect(await transport.call("GET", "/v1/whoami")).toEqual({ ok: true });
    expect(fake.logins()).toBe(2);
    expect(new Set(fake.seen).size).toBe(2);
    expect(await transport.call("GET", "/v1/whoami")).toEqual({ ok: true });
    expect(fake.logins()).toBe(2);
  });

  it("renews the token before it lapses, using the held key", async () => {
    const { signingKey, publicKey } = await signer();
    const fake = fakeNode(publicKey);
    let clock = Date.now();
    const open = createFetchTransport({ baseUrl: ORIGIN, fetch: fake.fetch });
    const options = {
      transport: open,
      server: SERVER,
      origin: ORIGIN,
      certificate: "PEM",
      signingKey,
      now: () => clock,
    };
    const tokens = createTokenProvider(options);
    const first = await tokens.token();
    expect(await tokens.token()).toBe(first);
    clock += 250_000; // past the renewal point, a minute before the 5-minute token lapses
    expect(await tokens.token()).not.toBe(first);
    expect(fake.logins()).toBe(2);
    tokens.forget();
    await expect(tokens.token()).rejects.toMatchObject({ code: "SIGNED_OUT" });
  });

  it("says plainly why the node refused a login, under the node's own code", () => {
    const cases: [CustosError["code"], RegExp][] = [
      ["CERT_REVOKED", /revoked/],
      ["NOT_AUTHENTICATED", /revoked/],
      ["CERT_EXPIRED", /expired/],
      ["CERT_NOT_YET_VALID", /clock/],
      ["UNKNOWN_CA", /deployment/],
      ["RATE_LIMITED", /busy/],
      ["BAD_CHALLENGE", /refused \(x\); try again/],
      ["STORE_BUSY", /refused the login: x\./],
    ];
    for (const [code, message] of cases) {
      const error = loginRefusal(new CustosError(code, "x"));
      expect(error).toMatchObject({ code });
      expect(error.message).toMatch(message);
    }
  });
});

describe("the fetch transport", () => {
  it("parses JSON, returns text as text, and throws the node's error code and message", async () => {
    const fetch: FetchLike = async (url, init) => {
      const path = new URL(url).pathname;
      if (path === "/v1/checkpoint")
        return new Response("origin\n5\nhash=\n", {
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      if (path === "/echo")
        return json(200, {
          got: JSON.parse(String(init?.body)),
          type: new Headers(init?.headers).get("content-type"),
        });
      if (path === "/odd") return json(418, { error: { code: "TEAPOT", message: "short and stout" } });
      if (path === "/bare") return new Response("oops", { status: 502 });
      return json(403, { error: { code: "NOT_AUTHORIZED", message: "not granted" } });
    };
    const transport = createFetchTransport({ baseUrl: "https://node.example/", fetch });
    expect(await transport.call("GET", "/v1/checkpoint")).toBe("origin\n5\nhash=\n");
    expect(await transport.call("POST", "/echo", { a: 1 })).toEqual({
      got: { a: 1 },
      type: "application/json",
    });
    await expect(transport.call("GET", "/v1/trail")).rejects.toMatchObject({
      code: "NOT_AUTHORIZED",
      message: "not granted",
    });
    await expect(transport.call("GET", "/v1/trail")).rejects.toBeInstanceOf(CustosError);
    await expect(transport.call("GET", "/odd")).rejects.toMatchObject({
      code: "INTERNAL",
      message: "TEAPOT: short and stout",
    });
    await expect(transport.call("GET", "/bare")).rejects.toMatchObject({ code: "INTERNAL" });
    const down = createFetchTransport({
      baseUrl: "https://node.example",
      fetch: () => Promise.reject(new TypeError("fetch failed")),
    });
    await expect(down.call("GET", "/v1/trail")).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });
});
