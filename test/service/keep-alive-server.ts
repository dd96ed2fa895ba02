// A TLS server in its own process for test/service/keep-alive.test.ts (the race it checks needs the
// client and the server on separate event loops). argv: the directory holding ca.pem, server.pem and
// server.key, then "custos" (createHttpApp) or "plain" (Fastify over the same TLS, without the
// HTTP base). POST /echo answers, a moment later, with the body's size and an 80 KB filler, larger than a socket's
// write high-water mark. Prints "port N" once listening and "clientError CODE" for each parser error.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { createHttpApp, listenAt, mutualTls } from "../../src/service/http-base.js";

const [dir, kind] = process.argv.slice(2) as [string, "custos" | "plain"];
const tls = mutualTls({
  key: readFileSync(join(dir, "server.key"), "utf8"),
  cert: readFileSync(join(dir, "server.pem"), "utf8"),
  caPem: readFileSync(join(dir, "ca.pem"), "utf8"),
});
const app: FastifyInstance =
  kind === "custos"
    ? createHttpApp({ tls, bodyLimit: 8 * 1024 * 1024, textContentTypes: ["application/x-ndjson"] })
    : (Fastify({ https: tls, bodyLimit: 8 * 1024 * 1024 }) as unknown as FastifyInstance);
if (kind === "plain")
  app.addContentTypeParser("application/x-ndjson", { parseAs: "string" }, (_request, body, done) =>
    done(null, body),
  );
const filler = "x".repeat(80_000);
// Answered on a later turn of the event loop, as the node answers once the records are durable.
app.post("/echo", async (request) => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return { size: String(request.body).length, filler };
});
app.server.on("clientError", (error: NodeJS.ErrnoException) => {
  process.stdout.write(`clientError ${error.code ?? error.message}\n`);
});
const { port } = await listenAt(app, { host: "127.0.0.1", port: 0 });
process.stdout.write(`port ${port}\n`);
