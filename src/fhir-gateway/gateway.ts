// The FHIR AuditEvent search gateway: a local HTTP server on a loopback address that answers IHE ITI-81
// searches (FHIR R4 searchset Bundles) and reads from the holder's own trails. The node cannot read
// records, so every answer is read through the verifying reader (proofs, cosignatures) and decrypted
// here with the holder's keys. Plain HTTP on loopback only; the Host header must name the loopback
// address, so a web page cannot reach it through DNS rebinding. Errors are OperationOutcomes.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CustosError } from "../core/index.js";
import { recordsToSearchsetBundle, recordToAuditEvent } from "../core/record/index.js";
import { capabilityStatement } from "./capability.js";
import { eventMatches } from "./event-match.js";
import { type AuditEventSearch, PAGING_PARAMS, parseSearch, SearchError } from "./search-params.js";
import { type GatewayReader, readVerifiedRecords } from "./verified-records.js";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export interface GatewayOptions {
  readonly reader: GatewayReader;
  /** A loopback address: 127.0.0.1, ::1 or localhost. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly version?: string;
  /** One line per request, without patient data (method, path, status, duration). */
  readonly log?: (line: string) => void;
}

export interface RunningGateway {
  readonly url: string;
  close(): Promise<void>;
}

function outcome(
  status: number,
  code: string,
  text: string,
): { status: number; body: Record<string, unknown> } {
  return {
    status,
    body: {
      resourceType: "OperationOutcome",
      issue: [{ severity: status >= 500 ? "fatal" : "error", code, diagnostics: text }],
    },
  };
}

const VERIFICATION_CODES = new Set([
  "TAMPERED_ENTRY",
  "BAD_PROOF",
  "BAD_CHECKPOINT",
  "BAD_SIGNATURE",
  "BAD_NOTE",
  "DECRYPTION_FAILED",
  "UNKNOWN_KEY",
]);

/** Errors as FHIR OperationOutcomes with the status a FHIR client expects. */
export function errorOutcome(error: unknown): { status: number; body: Record<string, unknown> } {
  if (error instanceof SearchError) return outcome(error.status, error.issueCode, error.message);
  if (error instanceof CustosError) {
    if (error.code === "NOT_AUTHORIZED") return outcome(403, "forbidden", error.message);
    if (error.code === "NOT_AUTHENTICATED") return outcome(401, "security", error.message);
    if (error.code === "BAD_ARGUMENT") return outcome(400, "invalid", error.message);
    if (error.code === "UNAVAILABLE" || error.code === "STORE_BUSY" || error.code === "RATE_LIMITED")
      return outcome(503, "transient", `the node cannot answer now: ${error.message}`);
    if (VERIFICATION_CODES.has(error.code))
      return outcome(
        502,
        "exception",
        `the node's reply failed verification (${error.code}): ${error.message}`,
      );
    return outcome(502, "exception", `the node's reply could not be used (${error.code}): ${error.message}`);
  }
  return outcome(500, "exception", "internal error in the gateway");
}

export class FhirGateway {
  readonly #options: GatewayOptions;
  #base = "";

  constructor(options: GatewayOptions) {
    if (!LOOPBACK.has(options.host))
      throw new CustosError(
        "CONFIG",
        `the FHIR gateway serves decrypted records over plain HTTP: listen on 127.0.0.1, ::1 or localhost, not ${options.host}`,
      );
    this.#options = options;
  }

  async listen(): Promise<RunningGateway> {
    const server: Server = createServer((request, response) => {
      void this.#handle(request, response);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#options.port, this.#options.host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.#base = `http://${host}:${address.port}`;
    return {
      url: this.#base,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }

  #hostAllowed(request: IncomingMessage): boolean {
    const host = request.headers.host;
    if (host === undefined) return false;
    const port = new URL(this.#base).port;
    const name = host.replace(/:\d+$/, "");
    return host.endsWith(`:${port}`) && (LOOPBACK.has(name) || name === "[::1]");
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = Date.now();
    let reply: { status: number; body: Record<string, unknown> };
    const url = new URL(request.url ?? "/", this.#base);
    try {
      if (!this.#hostAllowed(request))
        reply = outcome(403, "forbidden", "the Host header must name this gateway's loopback address");
      else if (request.method !== "GET" && request.method !== "HEAD")
        reply = outcome(405, "not-supported", "this gateway is read-only: GET only");
      else reply = await this.#route(url);
    } catch (error) {
      reply = errorOutcome(error);
    }
    const body = JSON.stringify(reply.body);
    response.writeHead(reply.status, {
      "content-type": "application/fhir+json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "content-length": Buffer.byteLength(body),
    });
    response.end(request.method === "HEAD" ? undefined : body);
    this.#options.log?.(`${request.method} ${url.pathname} ${reply.status} ${Date.now() - started}ms`);
  }

  async #route(url: URL): Promise<{ status: number; body: Record<string, unknown> }> {
    const path = url.pathname.replace(/\/+$/, "");
    if (path === "/metadata")
      return {
        status: 200,
        body: capabilityStatement(this.#base, { version: this.#options.version ?? "0" }),
      };
    if (path === "/AuditEvent") return { status: 200, body: await this.#search(url.searchParams) };
    const read = /^\/AuditEvent\/([^/]+)$/.exec(path);
    if (read) return { status: 200, body: await this.#read(decodeURIComponent(read[1]!)) };
    throw new SearchError(404, "not-found", "not found: this gateway serves /metadata and /AuditEvent");
  }

  async #matching(search: AuditEventSearch) {
    const { records } = await readVerifiedRecords(this.#options.reader, search, search.patients);
    const found = records
      .map((opened) => ({
        opened,
        event: recordToAuditEvent(opened.record, { id: String(opened.index), source: opened.source }),
      }))
      .filter(({ opened, event }) => eventMatches(event, opened.record, search));
    const sign = search.newestFirst ? -1 : 1;
    found.sort(
      (a, b) =>
        sign * (Date.parse(a.opened.record.time) - Date.parse(b.opened.record.time)) ||
        sign * (a.opened.index - b.opened.index),
    );
    return found;
  }

  async #search(params: URLSearchParams): Promise<Record<string, unknown>> {
    const search = parseSearch(params);
    const found = await this.#matching(search);
    const page = found.slice(search.offset, search.offset + search.count);
    const link = (offset: number) => {
      const next = new URLSearchParams(
        [...params].filter(([k]) => !(PAGING_PARAMS as readonly string[]).includes(k)),
      );
      next.set("_count", String(search.count));
      next.set("_sort", search.newestFirst ? "-date" : "date");
      if (offset > 0) next.set("_offset", String(offset));
      return `${this.#base}/AuditEvent?${next}`;
    };
    const bundle = recordsToSearchsetBundle(
      page.map(({ opened }) => ({
        record: opened.record,
        id: String(opened.index),
        fullUrl: `${this.#base}/AuditEvent/${opened.index}`,
        source: opened.source,
      })),
      {
        total: found.length,
        selfUrl: link(search.offset),
        ...(search.offset + search.count < found.length
          ? { nextUrl: link(search.offset + search.count) }
          : {}),
      },
    );
    if (search.offset > 0) {
      const links = bundle.link as { relation: string; url: string }[];
      links.push({ relation: "previous", url: link(Math.max(0, search.offset - search.count)) });
    }
    return bundle;
  }

  async #read(id: string): Promise<Record<string, unknown>> {
    if (!FHIR_ID.test(id) || !/^\d{1,15}$/.test(id))
      throw new SearchError(404, "not-found", "no AuditEvent with this id (ids are log entry numbers)");
    const { records } = await readVerifiedRecords(this.#options.reader, {}, undefined);
    const opened = records.find((r) => r.index === Number(id));
    if (!opened)
      throw new SearchError(404, "not-found", `no AuditEvent ${id} in the trails this identity reads`);
    return recordToAuditEvent(opened.record, { id, source: opened.source });
  }
}
