// TLS to the database: sslmode=verify-full with sslrootcert in the URL must check the server's
// certificate chain and host name. A minimal fake server speaks the start of the PostgreSQL protocol
// (SSLRequest, then TLS, then refuses the login with a recognizable message), so reaching that message
// proves the handshake was accepted. Certificates are made per run with the openssl command.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, PostgresStore } from "../../../src/ledger/postgres/index.js";
import { tempDir } from "../../helpers/temp.js";

const REACHED = "fake server reached over verified TLS";
const SSL_REQUEST_CODE = 80877103; // PostgreSQL protocol 53.2.9: SSLRequest

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: "pipe" });
  } catch (error) {
    throw new Error(
      `the TLS tests need the openssl command to make certificates: ${(error as Error).message}`,
    );
  }
}

function makeCa(dir: string, name: string): void {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    ],
    dir,
  );
}

function makeServerCert(dir: string, name: string, ca: string, altNames: string): void {
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${altNames}\n`);
  openssl(
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    ],
    dir,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ],
    dir,
  );
}

/** PostgreSQL ErrorResponse: FATAL 28000 with a message, then the server hangs up. */
function loginRefused(message: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from("SFATAL\0VFATAL\0C28000\0"),
    Buffer.from(`M${message}\0`),
    Buffer.from("\0"),
  ]);
  const header = Buffer.alloc(5);
  header.write("E", 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

/** Accepts an SSLRequest with TLS (key and cert) or declines it ("N") when no certificate is given. */
async function fakeServer(tls?: { key: string; cert: string }): Promise<{ server: Server; port: number }> {
  const server = createServer((socket: Socket) => {
    socket.on("error", () => undefined);
    socket.once("data", (request) => {
      if (request.length < 8 || request.readInt32BE(4) !== SSL_REQUEST_CODE) return socket.destroy();
      if (tls === undefined) {
        socket.write("N");
        return socket.end();
      }
      socket.write("S");
      const secure = new TLSSocket(socket, { isServer: true, key: tls.key, cert: tls.cert });
      secure.on("error", () => undefined);
      secure.once("data", () => secure.end(loginRefused(REACHED)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

let dir: string;
let cleanup: () => void;
const servers: Server[] = [];
let goodPort: number;
let otherNamePort: number;
let plainPort: number;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir("custos-tls-"));
  makeCa(dir, "ca");
  makeCa(dir, "other-ca");
  makeServerCert(dir, "server", "ca", "IP:127.0.0.1,DNS:localhost");
  makeServerCert(dir, "elsewhere", "ca", "DNS:db.elsewhere.example");
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  const good = await fakeServer({ key: read("server.key"), cert: read("server.pem") });
  const otherName = await fakeServer({ key: read("elsewhere.key"), cert: read("elsewhere.pem") });
  const plain = await fakeServer();
  servers.push(good.server, otherName.server, plain.server);
  goodPort = good.port;
  otherNamePort = otherName.port;
  plainPort = plain.port;
});

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  cleanup?.();
});

const url = (port: number, rootCert: string) =>
  `postgres://custos@127.0.0.1:${port}/test?sslmode=verify-full&sslrootcert=${encodeURIComponent(join(dir, rootCert))}`;

describe("TLS to PostgreSQL with sslmode=verify-full", () => {
  it("completes the handshake when the server's certificate chains to sslrootcert and names the host", async () => {
    await expect(PostgresStore.open(url(goodPort, "ca.pem"))).rejects.toMatchObject({
      code: "CONFIG",
      message: expect.stringContaining(REACHED),
    });
  });

  it("refuses a server whose certificate another CA signed", async () => {
    for (const attempt of [
      PostgresStore.open(url(goodPort, "other-ca.pem")),
      migrate(url(goodPort, "other-ca.pem"), "custos"),
    ]) {
      await expect(attempt).rejects.toMatchObject({
        code: "CONFIG",
        message: expect.stringMatching(
          /TLS connection to PostgreSQL at 127\.0\.0\.1:\d+ failed.*sslrootcert/,
        ),
      });
    }
  });

  it("refuses a certificate issued for another host name", async () => {
    const error = await PostgresStore.open(url(otherNamePort, "ca.pem")).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "CONFIG", message: expect.stringContaining("TLS connection") });
    expect((error as Error).message).not.toContain(REACHED);
  });

  it("refuses a server that does not offer TLS", async () => {
    await expect(PostgresStore.open(url(plainPort, "ca.pem"))).rejects.toMatchObject({
      code: "CONFIG",
      message: expect.stringContaining("TLS connection"),
    });
  });

  it("says so when the sslrootcert file cannot be read", async () => {
    await expect(PostgresStore.open(url(goodPort, "missing.pem"))).rejects.toMatchObject({
      code: "CONFIG",
      message: expect.stringContaining("cannot read a file named in the database URL"),
    });
  });
});
