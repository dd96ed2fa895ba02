// Keep-alive over mutual TLS: requests with bodies arriving on reused connections while the previous,
// large reply is still being flushed. Node 20's HTTP server fails some of them with HPE_PAUSED (its
// parser, paused, is handed the rest of a TLS read); the HTTP base reads the socket as a stream so
// pausing holds the data back (src/service/http-base.ts). The server runs in its own process: on one
// event loop with the client the race does not occur.

import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  certificatePem,
  createRootCertificate,
  issueCertificate,
  type x509,
} from "../../src/identity/x509.js";
import { tempDir } from "../helpers/temp.js";

const SERVER = fileURLToPath(new URL("./keep-alive-server.ts", import.meta.url));
const CONNECTIONS = 6;
const REQUESTS_PER_CONNECTION = 40;

const temp = tempDir("custos-keep-alive-");
let client: { key: string; cert: string; ca: string };
const children: ChildProcess[] = [];

const pem = (key: KeyObject) => key.export({ type: "pkcs8", format: "pem" }).toString();

beforeAll(async () => {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 3_600_000);
  const caKeys = generateKeyPairSync("ed25519");
  const ca = await createRootCertificate({
    deployment: "keepalive",
    signingKey: caKeys.privateKey,
    publicKey: caKeys.publicKey,
    notBefore,
    notAfter,
  });
  const leaf = async (id: string, serial: bigint, hosts?: string[]) => {
    const keys = generateKeyPairSync("ed25519");
    const cert: x509.X509Certificate = await issueCertificate({
      ca,
      caKey: caKeys.privateKey,
      serial,
      kind: "tls",
      deployment: "keepalive",
      role: "node",
      id,
      uri: `custos://keepalive/node/${id}`,
      subjectKey: keys.privateKey,
      notBefore,
      notAfter,
      ...(hosts ? { hosts } : {}),
    });
    return { key: pem(keys.privateKey), cert: certificatePem(cert) };
  };
  const server = await leaf("server", 2n, ["127.0.0.1"]);
  client = { ...(await leaf("client", 3n)), ca: certificatePem(ca) };
  writeFileSync(join(temp.dir, "ca.pem"), client.ca);
  writeFileSync(join(temp.dir, "server.pem"), server.cert);
  writeFileSync(join(temp.dir, "server.key"), server.key);
});

afterAll(() => {
  for (const child of children) child.kill();
  temp.cleanup();
});

interface Server {
  readonly port: number;
  readonly clientErrors: string[];
}

function startServer(kind: "custos" | "plain"): Promise<Server> {
  const child = spawn(process.execPath, ["--import", "tsx", SERVER, temp.dir, kind], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const clientErrors: string[] = [];
  return new Promise((resolve, reject) => {
    let pending = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        const [word, value] = line.split(" ");
        if (word === "port") resolve({ port: Number(value), clientErrors });
        if (word === "clientError") clientErrors.push(value!);
      }
    });
    child.on("exit", (code) => reject(new Error(`the test server exited (${code})`)));
  });
}

interface Traffic {
  readonly outcomes: Map<string, number>;
  /** Requests sent on a connection that an earlier request had used. */
  readonly reused: number;
}

/** CONNECTIONS clients, each sending its requests one after another over a keep-alive agent. */
async function traffic(port: number, stopEarly: () => boolean): Promise<Traffic> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const body = `${"y".repeat(299)}\n`.repeat(1000);
  const outcomes = new Map<string, number>();
  let reused = 0;
  const one = () =>
    new Promise<string>((resolve) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: "/echo",
          method: "POST",
          agent,
          ...client,
          minVersion: "TLSv1.3",
          headers: { "content-type": "application/x-ndjson" },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const reply = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { size: number };
            resolve(res.statusCode === 200 && reply.size === body.length ? "200" : `${res.statusCode}`);
          });
          res.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        },
      );
      req.on("socket", () => {
        if (req.reusedSocket) reused++;
      });
      req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.end(body);
    });
  try {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        for (let i = 0; i < REQUESTS_PER_CONNECTION && !stopEarly(); i++) {
          const outcome = await one();
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { outcomes, reused };
}

describe("keep-alive over mutual TLS", () => {
  it("answers every request on reused connections, large replies and bodies alike", async () => {
    const server = await startServer("custos");
    const { outcomes, reused } = await traffic(server.port, () => false);
    expect(Object.fromEntries(outcomes)).toEqual({ "200": CONNECTIONS * REQUESTS_PER_CONNECTION });
    expect(reused).toBeGreaterThanOrEqual(CONNECTIONS * (REQUESTS_PER_CONNECTION - 1));
    expect(server.clientErrors).toEqual([]);
  });

  it.runIf(process.versions.node.startsWith("20."))(
    "the same traffic fails with HPE_PAUSED on Node 20's server without the HTTP base (the cause)",
    async () => {
      const server = await startServer("plain");
      const { outcomes } = await traffic(server.port, () => server.clientErrors.length > 0);
      expect(server.clientErrors).toContain("HPE_PAUSED");
      expect(outcomes.get("ECONNRESET") ?? 0).toBeGreaterThan(0);
    },
  );
});
