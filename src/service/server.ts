// `custos serve`: the node's HTTP API on mutual TLS, and the portal port for browsers (server-side TLS
// plus signed-challenge login). Every request is authenticated (client certificate or token), then
// authorized against the log-derived registry; every refusal is recorded in the log.
//
// Logs never hold a patient ID, a user ID or a record: patient IDs travel in request bodies, not URLs,
// and only the route pattern, status and timing are logged.

import { createPublicKey } from "node:crypto";
import type { TLSSocket } from "node:tls";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { decodeEntry, decodeGrantEntry, ENTRY_KINDS, verifyRegistrySignature } from "../core/entry/index.js";
import { CustosError } from "../core/errors.js";
import { parseRecordInput } from "../core/record/record-input.js";
import { authorize, type Caller, type Operation, type Target } from "../identity/authorize.js";
import type { Identity } from "../identity/bundle.js";
import type { Deployment } from "../identity/deployment.js";
import { patientSubject, REGISTRY_LOOKUP_KEY } from "../identity/registry.js";
import { checkId, checkRole } from "../identity/roles.js";
import { sealNotice } from "../records/notices.js";
import type { Recipient } from "../records/recipients.js";
import { jsonBody, optionalString, optionalTime, textBody } from "./context.js";
import { errorReply } from "./errors.js";
import { LoginService } from "./login.js";

export interface Listen {
  readonly host: string;
  readonly port: number;
}

export interface ServeOptions {
  readonly deployment: Deployment;
  /** The node's own identity (role node): its TLS certificate and token-signing key. */
  readonly identity: Identity;
  readonly api: Listen;
  /** The browser-facing port (no client certificate; signed-challenge login). */
  readonly portal?: Listen;
  /** Accept TLS 1.2 as well as 1.3 (off unless a setting asks for it). */
  readonly allowTls12?: boolean;
  readonly bodyLimit?: number;
  readonly now?: () => number;
  /** How often to look for a re-issued CRL (ms). */
  readonly crlCheckMs?: number;
  /** Structured request logs (pino) to stdout. */
  readonly log?: boolean;
}

export interface RunningServer {
  readonly api: Listen;
  readonly portal?: Listen;
  close(): Promise<void>;
}

declare module "fastify" {
  interface FastifyRequest {
    caller?: Caller;
  }
}

const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { deployment, identity } = options;
  if (identity.role !== "node")
    throw new CustosError("CONFIG", "custos serve needs a node identity (role node)");
  const now = options.now ?? Date.now;
  const nodeKeyPem = identity.signingKey.export({ type: "pkcs8", format: "pem" }).toString();
  const login = new LoginService(
    identity.uri,
    identity.signingKey,
    createPublicKey(identity.signingKey),
    now,
  );
  const minVersion = options.allowTls12 ? "TLSv1.2" : "TLSv1.3";
  const tlsBase = () => ({
    key: nodeKeyPem,
    cert: identity.bundle.signingCertificate,
    ca: deployment.anchor.caPem,
    ...(deployment.anchor.crlPem ? { crl: deployment.anchor.crlPem } : {}),
    minVersion: minVersion as "TLSv1.2" | "TLSv1.3",
  });
  const callers = new WeakMap<object, Caller>();

  async function callerFromCertificate(request: FastifyRequest): Promise<Caller> {
    const socket = request.raw.socket as TLSSocket;
    const cached = callers.get(socket);
    if (cached) return cached;
    const peer = socket.getPeerX509Certificate?.();
    if (!peer)
      throw new CustosError(
        "NOT_AUTHENTICATED",
        "a client certificate from this deployment's CA is required",
      );
    const principal = await deployment.anchor.verify(peer.toString(), "signing", now());
    const caller: Caller = {
      uri: principal.uri,
      role: principal.role,
      id: principal.id,
      subject: deployment.subjectOf(principal.role, principal.id),
      signingKey: principal.publicKey,
    };
    callers.set(socket, caller);
    return caller;
  }

  async function callerFromToken(request: FastifyRequest): Promise<Caller> {
    const header = request.headers.authorization;
    if (!header)
      throw new CustosError("NOT_AUTHENTICATED", "log in first: send `Authorization: Bearer <token>`");
    const match = /^Bearer ([A-Za-z0-9._-]+)$/.exec(header);
    if (!match) throw new CustosError("BAD_TOKEN", "the Authorization header is not a bearer token");
    return login.verifyToken(match[1]!);
  }

  /** Authorizes or records the refusal and throws. */
  async function allow(
    caller: Caller,
    operation: Operation,
    target: Target,
    patientId?: string,
  ): Promise<void> {
    const decision = authorize(deployment.registry, caller, operation, target, now());
    if (decision.allowed) return;
    await deployment.recordRefusal(caller, operation, decision.code, patientId).catch(() => undefined);
    throw new CustosError(decision.code, decision.reason);
  }

  function sendError(reply: FastifyReply, error: unknown): FastifyReply {
    const { status, body } = errorReply(error);
    return reply.code(status).type("application/json").send(body);
  }

  function build(mode: "mtls" | "portal"): FastifyInstance {
    const app = Fastify({
      https:
        mode === "mtls"
          ? { ...tlsBase(), requestCert: true, rejectUnauthorized: true }
          : { ...tlsBase(), requestCert: false },
      bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
      logger: options.log ? { redact: ["req.headers.authorization"] } : false,
      return503OnClosing: true,
    });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ["application/json", "application/x-ndjson", "application/fhir+json", "text/plain"],
      { parseAs: "string" },
      (_request, body, done) => done(null, body),
    );
    app.setErrorHandler((error, _request, reply) => sendError(reply, error));
    app.setNotFoundHandler((_request, reply) =>
      sendError(reply, new CustosError("NOT_FOUND", "no such endpoint")),
    );
    app.addHook("onResponse", async (request, reply) => {
      if (options.log)
        request.log.info(
          {
            route: request.routeOptions.url ?? "unknown",
            status: reply.statusCode,
            ms: Math.round(reply.elapsedTime),
          },
          "request",
        );
    });
    app.addHook("preHandler", async (request) => {
      const route = request.routeOptions.url ?? "";
      if (route === "/v1/health" || route.startsWith("/v1/login")) return;
      request.caller =
        mode === "mtls" ? await callerFromCertificate(request) : await callerFromToken(request);
    });

    app.get("/v1/health", async () => ({ status: "ok" }));

    if (mode === "portal") {
      app.post("/v1/login/challenge", async (request) => {
        const origin = request.headers.origin;
        if (typeof origin !== "string" || origin.length > 512) {
          throw new CustosError("BAD_CHALLENGE", "a login needs the request's Origin header");
        }
        return login.issueChallenge(origin);
      });
      app.post("/v1/login", async (request) => {
        const body = jsonBody(request);
        const challengeId = optionalString(body.challengeId, "challengeId");
        const certificate = optionalString(body.certificate, "certificate");
        const signature = optionalString(body.signature, "signature");
        if (!challengeId || !certificate || !signature) {
          throw new CustosError("BAD_ARGUMENT", "send challengeId, certificate (PEM) and signature (base64)");
        }
        const origin = request.headers.origin ?? "";
        let sig: Uint8Array;
        try {
          sig = fromBase64(signature);
        } catch {
          throw new CustosError("BAD_ARGUMENT", "signature must be base64");
        }
        // The challenge is consumed first: whatever happens next, it cannot be replayed.
        const principal = await deployment.anchor.verify(certificate, "signing", now()).catch((error) => {
          login.discard(challengeId);
          throw error;
        });
        login.consume(challengeId, origin, principal.publicKey, sig);
        const caller: Caller = {
          uri: principal.uri,
          role: principal.role,
          id: principal.id,
          subject: deployment.subjectOf(principal.role, principal.id),
          signingKey: principal.publicKey,
        };
        await allow(caller, "read-log", {});
        return { ...(await login.issueToken(caller)), identity: caller.uri, role: caller.role };
      });
    }

    app.get("/v1/whoami", async (request) => {
      const caller = request.caller!;
      await allow(caller, "read-log", {});
      return { identity: caller.uri, role: caller.role, id: caller.id };
    });

    app.get("/v1/checkpoint", async (request, reply) => {
      await allow(request.caller!, "read-log", {});
      const checkpoint = await deployment.vault.ledger.latestCheckpoint();
      if (!checkpoint) throw new CustosError("NOT_FOUND", "the log has no checkpoint yet");
      return reply.type("text/plain; charset=utf-8").send(checkpoint.note);
    });

    app.post("/v1/records", async (request) => {
      const caller = request.caller!;
      await allow(caller, "submit-records", {});
      const records = parseRecordInput(textBody(request));
      const foreign = records.findIndex((r) => r.sourceSystem !== undefined && r.sourceSystem !== caller.id);
      if (foreign >= 0) {
        await allow(caller, "submit-records", { source: records[foreign]!.sourceSystem! });
      }
      const results = await deployment.vault.ingest(records, caller.id);
      return {
        records: results.map((r) => ({
          index: r.index,
          leafHash: toBase64(r.leafHash),
          duplicate: r.duplicate,
        })),
      };
    });

    app.post("/v1/trail", async (request) => {
      const caller = request.caller!;
      const body = jsonBody(request);
      const patientId =
        optionalString(body.patientId, "patientId") ?? (caller.role === "patient" ? caller.id : undefined);
      if (!patientId) throw new CustosError("BAD_ARGUMENT", "name the patient (patientId)");
      checkId(patientId);
      const from = optionalTime(body.from, "from");
      const to = optionalTime(body.to, "to");
      const tag = deployment.vault.patientTag(patientId);
      await allow(caller, "read-trail", { patient: patientSubject(tag) }, patientId);
      const items = (await deployment.vault.patientItems(patientId)).filter((item) => {
        const kind = decodeEntry(item.entry).kind;
        return kind === ENTRY_KINDS.accessRecord || kind === ENTRY_KINDS.keyEnvelope;
      });
      // The meta-audit: this query is itself a log entry the patient can read.
      const at = now();
      const readers: Recipient[] = [...deployment.directory.custodians(at)];
      const patient = deployment.registry.active("patient", patientSubject(tag), at);
      if (patient) readers.unshift({ id: "patient", role: "patient", encryptionKey: patient.encryptionKey });
      await deployment.vault.ledger.append([
        sealNotice(
          { kind: "query", time: at, patientTag: tag },
          {
            time: new Date(at).toISOString(),
            requester: caller.uri,
            role: caller.role,
            operation: "read-trail",
            returned: items.length,
            ...(from !== undefined || to !== undefined ? {} : {}),
          },
          readers,
        ),
      ]);
      return {
        items: items.map((item) => ({
          index: item.index,
          entry: toBase64(item.entry),
          content: item.content === undefined ? null : toBase64(item.content),
        })),
      };
    });

    app.post("/v1/query-history", async (request) => {
      const caller = request.caller!;
      if (caller.role !== "patient") {
        await allow(caller, "read-query-history", {});
      }
      const tag = deployment.vault.patientTag(caller.id);
      await allow(caller, "read-query-history", { patient: patientSubject(tag) }, caller.id);
      const items = (await deployment.vault.patientItems(caller.id)).filter((item) => {
        const kind = decodeEntry(item.entry).kind;
        return kind === ENTRY_KINDS.queryRecord || kind === ENTRY_KINDS.refusal;
      });
      return {
        items: items.map((item) => ({
          index: item.index,
          entry: toBase64(item.entry),
          content: item.content === undefined ? null : toBase64(item.content),
        })),
      };
    });

    app.post("/v1/grants", async (request) => {
      const caller = request.caller!;
      await allow(caller, "manage-grants", {});
      const body = jsonBody(request);
      const encoded = optionalString(body.entry, "entry");
      if (!encoded)
        throw new CustosError("BAD_ARGUMENT", "send the admin-signed grant entry (base64) as entry");
      let bytes: Uint8Array;
      try {
        bytes = fromBase64(encoded);
      } catch {
        throw new CustosError("BAD_ARGUMENT", "entry must be base64");
      }
      const grant = decodeGrantEntry(bytes);
      if (grant.admin !== caller.id || !verifyRegistrySignature(bytes, caller.signingKey)) {
        throw new CustosError("BAD_SIGNATURE", "the grant must be signed by the admin who sends it");
      }
      if (!deployment.registry.active("auditor", grant.auditor, now())) {
        throw new CustosError("NOT_FOUND", `audit company ${grant.auditor} is not enrolled`);
      }
      const [result] = await deployment.vault.ledger.append([
        { entry: bytes, lookupKeys: [REGISTRY_LOOKUP_KEY] },
      ]);
      await deployment.registry.refresh(deployment.vault.ledger.store);
      deployment.vault.rotate();
      return { index: result!.index };
    });

    app.post("/v1/revocations", async (request) => {
      const caller = request.caller!;
      await allow(caller, "manage-identities", {});
      const body = jsonBody(request);
      const role = checkRole(optionalString(body.role, "role") ?? "");
      const id = checkId(optionalString(body.id, "id") ?? "");
      const result = await deployment.revoke(role, id);
      refreshTls();
      return { index: result.index, serials: result.serials };
    });

    return app;
  }

  const api = build("mtls");
  const portal = options.portal ? build("portal") : undefined;

  function refreshTls(): void {
    for (const app of [api, portal]) {
      if (!app) continue;
      const server = app.server as unknown as { setSecureContext?: (o: object) => void };
      server.setSecureContext?.({
        ...tlsBase(),
        ...(app === api ? { requestCert: true, rejectUnauthorized: true } : {}),
      });
    }
  }

  // Every node checks the current CRL: pick up a re-issued one, and keep it from expiring.
  const crlTimer = setInterval(() => {
    deployment
      .maintainCrl()
      .then((changed) => {
        if (changed) refreshTls();
      })
      .catch((error: unknown) => api.log.error({ code: (error as CustosError).code }, "CRL refresh failed"));
  }, options.crlCheckMs ?? 30_000);
  crlTimer.unref();

  await api.listen({ host: options.api.host, port: options.api.port });
  const apiAddress = api.server.address();
  let portalListen: Listen | undefined;
  if (portal && options.portal) {
    await portal.listen({ host: options.portal.host, port: options.portal.port });
    const address = portal.server.address();
    portalListen = {
      host: options.portal.host,
      port: typeof address === "object" && address ? address.port : options.portal.port,
    };
  }
  return {
    api: {
      host: options.api.host,
      port: typeof apiAddress === "object" && apiAddress ? apiAddress.port : options.api.port,
    },
    ...(portalListen ? { portal: portalListen } : {}),
    close: async () => {
      clearInterval(crlTimer);
      await api.close();
      await portal?.close();
    },
  };
}
