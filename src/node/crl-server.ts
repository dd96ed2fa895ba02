// The CRL distribution point (RFC 5280 4.2.1.13): `custos serve --crl-listen HOST:PORT` serves the
// deployment CA's current CRL over plain HTTP, where the certificates' CRL distribution point
// extension says it is (`custos ca init --crl-url`, `custos ca crl-url`), so OpenSSL
// (`openssl verify -crl_check -crl_download`) and other parties check revocation without a copy of
// the node's files. Plain HTTP is the usual transport for a CRL: it is signed by the CA, public (the
// revoked serials and nothing else), and fetching it over TLS would need a revocation check of its own.
//
//   GET /crl       the CRL in DER (application/pkix-crl), as RFC 5280 asks of an HTTP distribution point
//   GET /crl.pem   the same in PEM
//
// Every request reads the CRL the node holds now: a revocation or a re-issued CRL shows at once.

import { createServer, type Server } from "node:http";
import type { Listen } from "../service/index.js";

export interface CrlServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** What the server serves: the CRL now, in both encodings (undefined while there is none). */
export interface CrlSource {
  crl(): { readonly der: Uint8Array; readonly pem: string } | undefined;
}

export async function startCrlServer(listen: Listen, source: CrlSource): Promise<CrlServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    const send = (
      status: number,
      type: string,
      body: string | Uint8Array,
      headers: Record<string, string> = {},
    ) => {
      response.writeHead(status, {
        "content-type": type,
        "content-length": Buffer.byteLength(body),
        ...headers,
      });
      response.end(request.method === "HEAD" ? undefined : body);
    };
    if (path !== "/crl" && path !== "/crl.pem")
      return send(404, "text/plain", "not found: the CRL is at /crl\n");
    if (request.method !== "GET" && request.method !== "HEAD") {
      return send(405, "text/plain", "only GET and HEAD\n", { allow: "GET, HEAD" });
    }
    const crl = source.crl();
    if (!crl) return send(404, "text/plain", "this deployment has no CRL\n");
    // Caches may keep it briefly; a revocation shows within five minutes at most.
    const cache = { "cache-control": "public, max-age=300" };
    if (path === "/crl") return send(200, "application/pkix-crl", crl.der, cache);
    return send(200, "application/x-pem-file", crl.pem, cache);
  });
  // A slow or idle client cannot hold the listener: the body is a few kilobytes.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    host: listen.host,
    port: typeof address === "object" && address ? address.port : listen.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
