// A node that cannot be reached is UNAVAILABLE (try again, or another node: nothing was refused); only a
// certificate the TLS handshake rejects is NOT_AUTHENTICATED. A dead node must never read as a refusal.

import { mkdirSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MtlsClient, transportError } from "../../src/client/mtls-client.js";
import { CustosError } from "../../src/core/errors.js";
import { EnvProvider, Keystore } from "../../src/crypto/keystore/index.js";
import { Identity } from "../../src/identity/bundle.js";
import { DeploymentCa } from "../../src/identity/ca.js";
import { freePort } from "../helpers/deployment.js";
import { tempDir } from "../helpers/temp.js";

const PASS = "network failure passphrase";
const env = { CUSTOS_MASTER_KEY: Buffer.alloc(32, 9).toString("base64") };
let root: ReturnType<typeof tempDir>;
let patient: Identity;
let foreignNode: Identity;
const servers: Server[] = [];

async function deployment(name: string): Promise<DeploymentCa> {
  mkdirSync(join(root.dir, name));
  const keystore = await Keystore.create(
    join(root.dir, name, "keystore.json"),
    new EnvProvider("CUSTOS_MASTER_KEY", env),
  );
  return DeploymentCa.init(join(root.dir, name), keystore, name);
}

async function codeOf(run: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(CustosError);
    return { code: (error as CustosError).code, message: (error as CustosError).message };
  }
  return { code: "OK", message: "" };
}

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

beforeAll(async () => {
  root = tempDir("custos-network-");
  const home = await deployment("stmary");
  const other = await deployment("elsewhere");
  const issued = await home.issue({ role: "patient", id: "P1", passphrase: PASS, kdfIterations: 1000 });
  patient = Identity.unlock(issued.bundle, PASS);
  const node = await other.issue({ role: "node", id: "n1", passphrase: PASS, kdfIterations: 1000 });
  foreignNode = Identity.unlock(node.bundle, PASS);
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  root.cleanup();
});

describe("a node that cannot be reached", () => {
  it("is UNAVAILABLE when nothing listens on its port", async () => {
    const port = await freePort();
    const client = new MtlsClient(`https://127.0.0.1:${port}`, patient);
    expect(await codeOf(() => client.call("GET", "/v1/checkpoint"))).toMatchObject({
      code: "UNAVAILABLE",
      message: expect.stringContaining("could not reach the node"),
    });
  });

  it("is UNAVAILABLE when the connection is dropped before TLS completes", async () => {
    const port = await listen(createTcpServer((socket) => socket.destroy()));
    const client = new MtlsClient(`https://127.0.0.1:${port}`, patient);
    expect((await codeOf(() => client.bytes("/tile/0/000"))).code).toBe("UNAVAILABLE");
  });

  it("is UNAVAILABLE for an unknown host", async () => {
    const client = new MtlsClient("https://no-such-host.invalid:8443", patient);
    expect((await codeOf(() => client.call("GET", "/v1/checkpoint"))).code).toBe("UNAVAILABLE");
  });

  it("is NOT_AUTHENTICATED only when the handshake rejects a certificate (another deployment's node)", async () => {
    const server = createHttpsServer(
      {
        key: foreignNode.signingKey.export({ type: "pkcs8", format: "pem" }).toString(),
        cert: foreignNode.bundle.signingCertificate,
        minVersion: "TLSv1.3",
      },
      (_request, response) => response.end("{}"),
    );
    const port = await listen(server);
    const client = new MtlsClient(`https://127.0.0.1:${port}`, patient);
    expect(await codeOf(() => client.call("GET", "/v1/checkpoint"))).toMatchObject({
      code: "NOT_AUTHENTICATED",
      message: expect.stringContaining("handshake"),
    });
  });

  it("sorts socket errors: connection failures are UNAVAILABLE, certificate failures NOT_AUTHENTICATED", () => {
    const failure = (code: string, message = code) => Object.assign(new Error(message), { code });
    for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE"]) {
      expect(transportError(failure(code)).code, code).toBe("UNAVAILABLE");
    }
    expect(transportError(new Error("socket hang up")).code).toBe("UNAVAILABLE");
    for (const code of [
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "CERT_HAS_EXPIRED",
      "ERR_TLS_CERT_ALTNAME_INVALID",
    ]) {
      expect(transportError(failure(code)).code, code).toBe("NOT_AUTHENTICATED");
    }
    expect(
      transportError(
        failure("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "tlsv13 alert certificate required"),
      ).code,
    ).toBe("NOT_AUTHENTICATED");
  });
});
