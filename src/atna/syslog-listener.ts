// The ATNA feed (IHE ITI-20): syslog over mutual TLS (RFC 5425), each frame an RFC 5424 message whose
// MSG is a DICOM AuditMessage, stored through the node's ingest path like a POST /v1/records.
//
// Durability and back-pressure (syslog has no acknowledgement, docs/atna.md): a connection's complete
// frames are mapped and handed to `ingest` as one batch; while that batch is not durable the socket is
// paused, so the TCP window closes and the sender waits. A failing store is retried with backoff, the
// socket still paused. A bad frame is counted, logged by reason only (never its content) and dropped
// whole; the frames beside it are stored.

import { createServer, type Server, type TLSSocket, type TlsOptions } from "node:tls";
import { CustosError, isCustosError } from "../core/index.js";
import type { AuditRecord } from "../core/record/index.js";
import { mapAuditMessage } from "./audit-message.js";
import { FrameReader } from "./frame-reader.js";
import { decodeUtf8, parseSyslogMessage } from "./syslog-message.js";

/** What happened to a frame or a connection, as counted by the metrics. */
export type FrameResult =
  | "stored"
  | "security-event"
  | "oversize"
  | "bad-syslog"
  | "bad-message"
  /** Well-formed, but the node refuses its records (e.g. the patient is not enrolled: KEY_MISSING). */
  | "refused";
export type ConnectionResult = "accepted" | "refused" | "bad-framing";

export interface SyslogFeedOptions {
  readonly host: string;
  readonly port: number;
  /** Server TLS options (key, cert, ca, crl, minVersion); client certificates are always required. */
  readonly tls: () => TlsOptions;
  /** The EHR source behind a verified client certificate, allowed to submit; throws otherwise. */
  readonly authenticate: (socket: TLSSocket) => Promise<string>;
  /** Checks again, per batch, that the source may still submit (a revocation takes effect at once). */
  readonly authorize: (socket: TLSSocket) => Promise<void>;
  /** Seals and appends; resolves once the records are durable and in the tree. */
  readonly ingest: (records: readonly AuditRecord[], source: string) => Promise<unknown>;
  /** Largest SYSLOG-MSG accepted (default 64 KiB). */
  readonly maxFrame?: number;
  readonly onFrame?: (result: FrameResult, records: number) => void;
  readonly onConnection?: (result: ConnectionResult) => void;
  /** Operational log lines: a reason and an error code, never a frame's content. */
  readonly log?: (message: string, fields: Readonly<Record<string, string | number>>) => void;
}

export interface SyslogFeed {
  readonly host: string;
  readonly port: number;
  /** New TLS options (a re-issued CRL) for connections from now on. */
  refreshTls(): void;
  close(): Promise<void>;
}

export const DEFAULT_MAX_FRAME = 64 * 1024;
const RETRY_MIN_MS = 100;
const NOT_ALLOWED = new Set(["NOT_AUTHORIZED", "NOT_AUTHENTICATED", "CERT_REVOKED", "CERT_EXPIRED"]);
const TRANSIENT = new Set(["STORE_BUSY", "STORE_CORRUPT", "INTERNAL"]);

interface Pending {
  readonly records: readonly AuditRecord[];
  readonly result: FrameResult;
}
const RETRY_MAX_MS = 5_000;

export async function startSyslogFeed(options: SyslogFeedOptions): Promise<SyslogFeed> {
  const log = options.log ?? (() => undefined);
  const sockets = new Set<TLSSocket>();
  const busy = new Set<Promise<void>>();
  let closing = false;
  const server: Server = createServer({ ...options.tls(), requestCert: true, rejectUnauthorized: true });

  server.on("secureConnection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.pause();
    const work = serve(socket)
      .catch(() => {
        socket.destroy();
      })
      .finally(() => busy.delete(work));
    busy.add(work);
  });
  // Handshake failures (no or unknown client certificate, wrong TLS version) never reach serve().
  server.on("tlsClientError", (error) => {
    options.onConnection?.("refused");
    log("syslog connection refused during the TLS handshake", {
      code: (error as NodeJS.ErrnoException).code ?? "TLS",
    });
  });

  async function serve(socket: TLSSocket): Promise<void> {
    let source: string;
    try {
      source = await options.authenticate(socket);
    } catch (error) {
      options.onConnection?.("refused");
      log("syslog connection refused", { code: isCustosError(error) ? error.code : "INTERNAL" });
      socket.destroy();
      return;
    }
    options.onConnection?.("accepted");
    const reader = new FrameReader(options.maxFrame ?? DEFAULT_MAX_FRAME);
    let ended = false;
    let wake: (() => void) | undefined;
    socket.on("data", (chunk: Buffer) => {
      reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      socket.pause();
      wake?.();
    });
    socket.on("close", () => {
      ended = true;
      wake?.();
    });
    for (;;) {
      const batch: Pending[] = [];
      let framingLost = false;
      try {
        for (let frame = reader.next(); frame; frame = reader.next()) {
          if (frame.kind === "oversize") {
            options.onFrame?.("oversize", 0);
            log("syslog frame over the size limit dropped", { bytes: frame.length });
            continue;
          }
          const mapped = mapFrame(frame.bytes, source);
          if ("rejected" in mapped) {
            options.onFrame?.(mapped.rejected, 0);
            log("syslog frame refused", { reason: mapped.rejected, code: mapped.code });
            continue;
          }
          batch.push({ records: mapped.records, result: mapped.securityEvent ? "security-event" : "stored" });
        }
      } catch (error) {
        // The framing is lost: nothing after this point can be trusted to start a frame. The whole
        // frames before it are still stored.
        framingLost = true;
        options.onConnection?.("bad-framing");
        log("syslog connection closed: framing lost", {
          code: isCustosError(error) ? error.code : "INTERNAL",
        });
        socket.destroy();
      }
      if (batch.length > 0 && !(await store(socket, batch, source))) {
        socket.destroy();
        return;
      }
      if (framingLost || closing) return;
      // Bytes that arrived while the batch was stored may hold whole frames: look before waiting.
      if (batch.length > 0) continue;
      if (ended || socket.destroyed) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
        socket.resume();
      });
      wake = undefined;
    }
  }

  /**
   * Appends a batch of frames' records, retrying a failing store with backoff. A batch the node refuses
   * for good (a record it will not take) is stored frame by frame, so only the refused frame is
   * dropped. False when the source may no longer submit.
   */
  async function store(socket: TLSSocket, batch: readonly Pending[], source: string): Promise<boolean> {
    const outcome = await attempt(
      socket,
      batch.flatMap((frame) => frame.records),
      source,
    );
    if (outcome === "stored") {
      for (const frame of batch) options.onFrame?.(frame.result, frame.records.length);
      return true;
    }
    if (outcome === "not-allowed") return false;
    if (batch.length === 1) {
      options.onFrame?.("refused", 0);
      log("syslog frame refused by the node", { reason: "refused", code: outcome.code });
      return true;
    }
    for (const frame of batch) if (!(await store(socket, [frame], source))) return false;
    return true;
  }

  async function attempt(
    socket: TLSSocket,
    records: readonly AuditRecord[],
    source: string,
  ): Promise<"stored" | "not-allowed" | { code: string }> {
    for (let delay = RETRY_MIN_MS; ; delay = Math.min(RETRY_MAX_MS, delay * 2)) {
      try {
        await options.authorize(socket);
        await options.ingest(records, source);
        return "stored";
      } catch (error) {
        const code = isCustosError(error) ? error.code : "INTERNAL";
        if (NOT_ALLOWED.has(code)) {
          log("syslog source no longer allowed to submit; connection closed", { code });
          return "not-allowed";
        }
        // A store that fails (disk, database, a busy sequencer) is retried; anything else is final.
        if (isCustosError(error) && !TRANSIENT.has(code)) return { code };
        if (closing) return "not-allowed";
        log("storing syslog records failed; retrying", { code, retryMs: delay });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    host: options.host,
    port: typeof address === "object" && address ? address.port : options.port,
    refreshTls: () => server.setSecureContext({ ...options.tls() }),
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Connections stop reading; batches already handed to ingest finish (or give up retrying).
      for (const socket of sockets) socket.pause();
      await Promise.allSettled([...busy].map((work) => Promise.race([work, delay(RETRY_MAX_MS)])));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Mapped =
  | { records: readonly AuditRecord[]; securityEvent: boolean }
  | { rejected: "bad-syslog" | "bad-message"; code: string };

/** One frame to records, or the reason it is refused (whole: nothing of it is stored). */
export function mapFrame(bytes: Uint8Array, source: string): Mapped {
  let xml: string;
  let host: string | undefined;
  try {
    const message = parseSyslogMessage(bytes);
    xml = decodeUtf8(message.msg, "the message");
    host = message.hostname;
  } catch (error) {
    return { rejected: "bad-syslog", code: isCustosError(error) ? error.code : "INTERNAL" };
  }
  try {
    return mapAuditMessage(xml, host ? `${source} (syslog host ${host})` : source);
  } catch (error) {
    if (!isCustosError(error))
      throw new CustosError("INTERNAL", "mapping an audit message failed", { cause: error });
    return { rejected: "bad-message", code: error.code };
  }
}
