// A C2SP tlog-witness (c2sp.org/tlog-witness) over HTTPS: POST /add-checkpoint verifies a log's
// checkpoint against the keys trusted for its origin and a consistency proof from the checkpoint it
// last cosigned, then returns a c2sp.org/tlog-cosignature (v1, Ed25519). Read side for monitors and
// gossip: GET /checkpoints/<origin> (the latest cosigned checkpoint), GET /evidence/<origin> (the
// refused submissions, both notes each, paged) and GET /witness (name and key).
//
// The protocol core (`Witness`) is transport-free; the Fastify server only moves bytes. Request bodies
// are hostile: every line is checked, sizes are bigint up to 2^63-1, and nothing the client sends can
// produce a 5xx. The cosigner key is held in memory only and never logged.

import Fastify, { type FastifyReply } from "fastify";
import { type Checkpoint, parseCheckpoint } from "../core/checkpoint/index.js";
import { bytesEqual, CustosError, fromBase64, fromUtf8, toBase64 } from "../core/index.js";
import { EMPTY_ROOT, verifyConsistency } from "../core/merkle/index.js";
import {
  cosign,
  KEY_TYPES,
  openNote,
  type ParsedNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  type VerifierKey,
  verifierKeyFromSigner,
} from "../core/note/index.js";
import {
  EVIDENCE_KINDS,
  type Evidence,
  type EvidenceKind,
  type HeldCheckpoint,
  MAX_TREE_SIZE,
  type WitnessStore,
} from "./witness-store.js";

/** c2sp.org/tlog-witness: a client MUST NOT send more than 63 consistency proof lines. */
export const MAX_PROOF_LINES = 63;
/** An old-size line, 63 proof lines and a checkpoint with a few signatures fit many times over. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;
/** The text/x.tlog.size media type of a 409 that reports the latest cosigned size. */
export const TLOG_SIZE_TYPE = "text/x.tlog.size";
const TEXT_TYPE = "text/plain; charset=utf-8";
/** Evidence records per GET /evidence page: each holds two notes (a few KiB), so a page stays small. */
export const EVIDENCE_PAGE_LIMIT = 50;
const OLD_LINE = /^old (0|[1-9][0-9]{0,18})$/;
const SIZE_LINE = /^(0|[1-9][0-9]{0,18})$/;
const MAX_SAFE_SIZE = BigInt(Number.MAX_SAFE_INTEGER);

export interface AddCheckpointRequest {
  readonly oldSize: bigint;
  readonly proof: readonly Uint8Array[];
  /** The proof lines as sent (base64), kept for evidence. */
  readonly proofLines: readonly string[];
  /** The checkpoint note: body, blank line, signature lines. */
  readonly note: string;
}

function badRequest(message: string): CustosError {
  return new CustosError("BAD_ARGUMENT", message);
}

/**
 * Parses an add-checkpoint body (c2sp.org/tlog-witness): `old N\n`, up to 63 base64 hash lines, an
 * empty line, then the checkpoint note. Strict: no leading zeros, N at most 2^63-1, every line
 * newline-terminated, each proof line exactly one 32-byte hash in padded standard base64.
 */
export function parseAddCheckpointRequest(
  body: Uint8Array,
  limit: number = DEFAULT_BODY_LIMIT,
): AddCheckpointRequest {
  if (body.length > limit) throw new CustosError("TOO_LARGE", `the request body exceeds ${limit} bytes`);
  let text: string;
  try {
    text = fromUtf8(body);
  } catch {
    throw badRequest("the request body is not UTF-8");
  }
  const firstEnd = text.indexOf("\n");
  if (firstEnd < 0) throw badRequest("the request body has no old size line");
  const old = OLD_LINE.exec(text.slice(0, firstEnd));
  if (!old) throw badRequest('the first line must be "old <size>" in decimal without leading zeros');
  const oldSize = BigInt(old[1]!);
  if (oldSize > MAX_TREE_SIZE) throw badRequest("the old size exceeds 2^63-1");
  const proof: Uint8Array[] = [];
  const proofLines: string[] = [];
  let cursor = firstEnd + 1;
  for (;;) {
    const end = text.indexOf("\n", cursor);
    if (end < 0) throw badRequest("the request body has no empty line before the checkpoint");
    const line = text.slice(cursor, end);
    cursor = end + 1;
    if (line === "") break;
    if (proofLines.length === MAX_PROOF_LINES)
      throw badRequest(`more than ${MAX_PROOF_LINES} consistency proof lines`);
    let hash: Uint8Array;
    try {
      hash = fromBase64(line);
    } catch {
      throw badRequest("a consistency proof line is not base64");
    }
    if (hash.length !== 32) throw badRequest("a consistency proof line is not a 32-byte hash");
    proof.push(hash);
    proofLines.push(line);
  }
  const note = text.slice(cursor);
  if (note === "") throw badRequest("the request body has no checkpoint");
  return { oldSize, proof, proofLines, note };
}

/** Parses the checkpoint body strictly, with a clear refusal for sizes this witness cannot prove. */
function checkpointOf(text: string): Checkpoint {
  const sizeLine = text.split("\n")[1] ?? "";
  if (SIZE_LINE.test(sizeLine) && BigInt(sizeLine) > MAX_SAFE_SIZE) {
    throw badRequest("tree sizes above 2^53-1 are not supported by this witness");
  }
  try {
    return parseCheckpoint(text);
  } catch (error) {
    throw badRequest((error as Error).message);
  }
}

export type AddCheckpointOutcome =
  | "cosigned"
  | "bad-request"
  | "unknown-log"
  | "forbidden"
  | "size-conflict"
  | "fork"
  | "bad-proof";

export interface WitnessReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly outcome: AddCheckpointOutcome;
  readonly origin?: string;
  readonly size?: bigint;
  readonly evidence?: EvidenceKind;
}

function text(status: number, outcome: AddCheckpointOutcome, message: string, origin?: string): WitnessReply {
  return {
    status,
    contentType: TEXT_TYPE,
    body: `${message}\n`,
    outcome,
    ...(origin !== undefined ? { origin } : {}),
  };
}

/** The signature lines by trusted keys that verify, first occurrence per key (as openNote checks it). */
function verifiedLogSignatureLines(note: string, parsed: ParsedNote, trusted: readonly string[]): string[] {
  const lines: string[] = [];
  for (const key of trusted) {
    let verifier: VerifierKey;
    try {
      verifier = parseVerifierKey(key);
      openNote(note, [key]);
    } catch {
      continue; // c2sp.org/tlog-witness: signatures from unknown keys are ignored; a failing one counts for nothing.
    }
    const signature = parsed.signatures.find((s) => s.name === verifier.name && s.keyId === verifier.keyId);
    if (signature) lines.push(`\u2014 ${signature.name} ${signature.base64}\n`);
  }
  return lines;
}

/** The witness protocol over a store and a cosigner key, independent of HTTP. */
export class Witness {
  readonly store: WitnessStore;
  readonly name: string;
  readonly verifierKey: string;
  readonly #cosignerKey: string;
  readonly #now: () => number;

  constructor(store: WitnessStore, cosignerKey: string, now: () => number = Date.now) {
    const key = parseSignerKey(cosignerKey);
    if (key.type !== KEY_TYPES.cosignatureV1) {
      throw new CustosError("BAD_KEY", "a witness signs with a cosigner key (type 0x04)");
    }
    const verifierKey = verifierKeyFromSigner(cosignerKey);
    if (verifierKey !== store.meta.verifierKey) {
      throw new CustosError("CONFIG", "the cosigner key is not the key this witness store was created with");
    }
    this.store = store;
    this.name = key.name;
    this.verifierKey = verifierKey;
    this.#cosignerKey = cosignerKey;
    this.#now = now;
  }

  /** c2sp.org/tlog-witness add-checkpoint: the whole request, checked in the spec's order. */
  addCheckpoint(body: Uint8Array, limit: number = DEFAULT_BODY_LIMIT): WitnessReply {
    let request: AddCheckpointRequest;
    let parsed: ParsedNote;
    let checkpoint: Checkpoint;
    try {
      request = parseAddCheckpointRequest(body, limit);
      parsed = parseNote(request.note);
      checkpoint = checkpointOf(parsed.text);
    } catch (error) {
      if (error instanceof CustosError && error.code === "TOO_LARGE")
        return text(413, "bad-request", error.message);
      return text(400, "bad-request", error instanceof CustosError ? error.message : "malformed request");
    }
    const { origin } = checkpoint;
    const log = this.store.knownLog(origin);
    if (!log) return text(404, "unknown-log", "unknown log origin", origin);
    const logLines = verifiedLogSignatureLines(request.note, parsed, log.verifierKeys);
    if (logLines.length === 0)
      return text(403, "forbidden", "no signature verifies with a key trusted for this origin", origin);
    const size = BigInt(checkpoint.size);
    if (request.oldSize > size)
      return text(400, "bad-request", "the old size exceeds the checkpoint size", origin);
    if (request.oldSize === 0n && request.proof.length > 0)
      return text(400, "bad-request", "the consistency proof must be empty when the old size is 0", origin);

    const receivedAt = this.#now();
    const evidence = (kind: EvidenceKind) => ({
      kind,
      receivedAt,
      submittedSize: size,
      submittedRoot: checkpoint.rootHash,
      submittedBody: parsed.text,
      submittedNote: request.note,
      proof: request.proofLines,
    });
    return this.store.update(origin, (held: HeldCheckpoint | undefined) => {
      const heldSize = held?.size ?? 0n;
      const heldRoot = held?.rootHash ?? EMPTY_ROOT;
      if (request.oldSize !== heldSize) {
        return {
          result: {
            status: 409,
            contentType: TLOG_SIZE_TYPE,
            body: `${heldSize}\n`,
            outcome: "size-conflict" as const,
            origin,
            size,
          },
        };
      }
      if (size === heldSize && !bytesEqual(checkpoint.rootHash, heldRoot)) {
        return {
          result: {
            ...text(409, "fork", "same size as the latest cosigned checkpoint, different root hash", origin),
            size,
            evidence: EVIDENCE_KINDS.sameSizeDifferentRoot,
          },
          evidence: evidence(EVIDENCE_KINDS.sameSizeDifferentRoot),
        };
      }
      // RFC 6962 2.1.2 (RFC 9162 2.1.4.2); equal sizes need an empty proof.
      if (
        !verifyConsistency(Number(heldSize), checkpoint.size, request.proof, heldRoot, checkpoint.rootHash)
      ) {
        const suspicious = size > heldSize;
        return {
          result: {
            ...text(422, "bad-proof", "the consistency proof does not verify", origin),
            size,
            ...(suspicious ? { evidence: EVIDENCE_KINDS.consistencyProofFailed } : {}),
          },
          ...(suspicious ? { evidence: evidence(EVIDENCE_KINDS.consistencyProofFailed) } : {}),
        };
      }
      const cosignedAt = Math.floor(receivedAt / 1000);
      const line = cosign(parsed.text, this.#cosignerKey, cosignedAt);
      return {
        result: {
          status: 200,
          contentType: TEXT_TYPE,
          body: line,
          outcome: "cosigned" as const,
          origin,
          size,
        },
        advance: {
          size,
          rootHash: checkpoint.rootHash,
          note: `${parsed.text}\n${logLines.join("")}${line}`,
          cosignedAt,
        },
      };
    });
  }

  /** The latest cosigned checkpoint note for an origin (log signatures and our cosignature). */
  latestNote(origin: string): string | undefined {
    return this.store.latest(origin)?.note;
  }

  /** One page of the evidence kept for an origin, as served by GET /evidence/<origin>. */
  evidencePage(origin: string, afterId = 0, limit: number = EVIDENCE_PAGE_LIMIT): EvidencePage {
    const rows = this.store.evidencePage(origin, afterId, limit + 1);
    const page = rows.slice(0, limit);
    return {
      origin,
      evidence: page.map(evidenceJson),
      next: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null,
    };
  }
}

/** An evidence record on the wire: both notes whole, sizes as numbers (at most 2^53-1 is ever stored). */
export interface EvidenceJson {
  readonly id: number;
  readonly kind: EvidenceKind;
  /** Milliseconds since the epoch. */
  readonly receivedAt: number;
  readonly heldSize: number;
  readonly heldRoot: string;
  readonly heldNote: string | null;
  readonly submittedSize: number;
  readonly submittedRoot: string;
  readonly submittedNote: string;
  readonly proof: readonly string[];
}

export interface EvidencePage {
  readonly origin: string;
  readonly evidence: readonly EvidenceJson[];
  /** Pass as `?after=` for the next page; null when this is the last. */
  readonly next: number | null;
}

function evidenceJson(e: Evidence): EvidenceJson {
  return {
    id: e.id,
    kind: e.kind,
    receivedAt: e.receivedAt,
    heldSize: Number(e.heldSize),
    heldRoot: toBase64(e.heldRoot),
    heldNote: e.heldNote,
    submittedSize: Number(e.submittedSize),
    submittedRoot: toBase64(e.submittedRoot),
    submittedNote: e.submittedNote,
    proof: e.proof,
  };
}

export interface WitnessServerOptions {
  readonly store: WitnessStore;
  /** The cosigner signer key (type 0x04, Go sumdb/note text form); held in memory only. */
  readonly cosignerKey: string;
  /** The server's TLS key and certificate chain, PEM. */
  readonly tls: { readonly key: string; readonly cert: string };
  /** Mutual TLS inside a deployment: require a client certificate issued by this CA (PEM). */
  readonly requireClientCert?: { readonly ca: string; readonly crl?: string };
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly bodyLimit?: number;
  readonly allowTls12?: boolean;
  /** Structured request logs (pino) on stdout; never a key. */
  readonly log?: boolean;
  /** Milliseconds since the epoch; cosignature timestamps are its seconds. */
  readonly now?: () => number;
}

export interface RunningWitness {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly verifierKey: string;
  /** Stops the server; the caller closes the store. */
  close(): Promise<void>;
}

function sendText(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type(TEXT_TYPE).send(`${message}\n`);
}

export async function startWitnessServer(options: WitnessServerOptions): Promise<RunningWitness> {
  const witness = new Witness(options.store, options.cosignerKey, options.now);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const clientAuth = options.requireClientCert
    ? {
        requestCert: true,
        rejectUnauthorized: true,
        ca: options.requireClientCert.ca,
        ...(options.requireClientCert.crl ? { crl: options.requireClientCert.crl } : {}),
      }
    : { requestCert: false };
  const app = Fastify({
    https: {
      key: options.tls.key,
      cert: options.tls.cert,
      minVersion: options.allowTls12 ? "TLSv1.2" : "TLSv1.3",
      ...clientAuth,
    },
    bodyLimit,
    requestTimeout: 30_000,
    logger: options.log ? { redact: ["req.headers.authorization"] } : false,
    return503OnClosing: true,
    frameworkErrors: (_error, _request, reply) => sendText(reply, 400, "bad request"),
  });
  // The spec names no media type for the request; take the body as bytes whatever the client says.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
  app.setErrorHandler((error, request, reply) => {
    const { statusCode: status, message } = error as { statusCode?: number; message?: string };
    if (status !== undefined && status >= 400 && status < 500)
      return sendText(reply, status, message ?? "bad request");
    request.log.error({ code: (error as CustosError).code }, "witness request failed");
    return sendText(reply, 500, "internal error");
  });
  app.setNotFoundHandler((_request, reply) => sendText(reply, 404, "no such endpoint"));

  app.post("/add-checkpoint", async (request, reply) => {
    const body = request.body instanceof Uint8Array ? request.body : new Uint8Array(0);
    const result = witness.addCheckpoint(body, bodyLimit);
    const fields = {
      outcome: result.outcome,
      origin: result.origin,
      ...(result.size !== undefined ? { size: result.size.toString() } : {}),
    };
    if (result.evidence)
      request.log.warn({ ...fields, evidence: result.evidence }, "refused: evidence recorded");
    else request.log.info(fields, "add-checkpoint");
    return reply.code(result.status).type(result.contentType).send(result.body);
  });
  app.route({
    method: ["GET", "HEAD", "PUT", "DELETE", "PATCH"],
    url: "/add-checkpoint",
    handler: (_request, reply) => sendText(reply.header("allow", "POST"), 405, "use POST"),
  });
  app.get("/checkpoints/*", async (request, reply) => {
    // The wildcard is percent-decoded by the router, so an encoded "/" in the origin arrives as "/".
    const origin = (request.params as { "*": string })["*"];
    const note = witness.latestNote(origin);
    if (note === undefined) return sendText(reply, 404, "no cosigned checkpoint for this origin");
    return reply.code(200).type(TEXT_TYPE).send(note);
  });
  app.get("/evidence/*", async (request, reply) => {
    const origin = (request.params as { "*": string })["*"];
    const after = (request.query as { after?: unknown } | undefined)?.after;
    let afterId = 0;
    if (after !== undefined) {
      if (typeof after !== "string" || !/^(0|[1-9][0-9]{0,14})$/.test(after))
        return sendText(reply, 400, "after must be an evidence ID (a decimal number)");
      afterId = Number(after);
    }
    if (!witness.store.knownLog(origin)) return sendText(reply, 404, "unknown log origin");
    return reply
      .code(200)
      .type("application/json")
      .send(JSON.stringify(witness.evidencePage(origin, afterId)));
  });
  app.get("/witness", async () => ({ name: witness.name, verifierKey: witness.verifierKey }));

  const host = options.host ?? "127.0.0.1";
  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 0);
  return {
    host,
    port,
    name: witness.name,
    verifierKey: witness.verifierKey,
    close: () => app.close(),
  };
}
