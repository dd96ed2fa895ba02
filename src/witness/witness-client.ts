// A log's side of the C2SP tlog-witness protocol: submit a checkpoint with a consistency proof from
// the size the witness last cosigned, learn that size from a 409 when it is unknown, and accept only
// cosignatures that verify with the witness's key.

import { request } from "node:https";
import { CustosError, toBase64 } from "../core/index.js";
import { parseNote, verifyCosignature } from "../core/note/index.js";

export interface WitnessEndpoint {
  /** The witness's submission prefix, e.g. https://witness.example:7380 */
  readonly url: string;
  /** The witness's cosigner verifier key (Go sumdb/note text form, type 0x04). */
  readonly verifierKey: string;
}

export interface TlsMaterial {
  readonly ca?: string;
  readonly key?: string;
  readonly cert?: string;
}

export type SubmitOutcome =
  | { readonly status: "cosigned"; readonly line: string; readonly timestamp: number }
  /** The witness holds a checkpoint this one is not consistent with: evidence of a fork. */
  | { readonly status: "conflict"; readonly witnessSize: number; readonly reason: string }
  | { readonly status: "failed"; readonly reason: string };

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

function post(url: string, body: string, tls: TlsMaterial, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL("add-checkpoint", url.endsWith("/") ? url : `${url}/`);
    const req = request(
      target,
      {
        method: "POST",
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        agent: false,
        timeout: timeoutMs,
        headers: { "content-type": "text/plain; charset=utf-8" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= 64 * 1024) chunks.push(chunk);
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new CustosError("STORE_BUSY", "the witness did not answer in time")));
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Submits `note` (a checkpoint of `size` entries) to a witness. `proof(from)` gives the consistency
 * proof from the witness's last cosigned size. `knownSize` is the size the log believes the witness
 * holds (0 if unknown); one 409 with the witness's size is followed by one retry.
 */
export async function submitCheckpoint(
  witness: WitnessEndpoint,
  note: string,
  size: number,
  proof: (from: number) => Promise<readonly Uint8Array[]>,
  knownSize: number,
  tls: TlsMaterial = {},
  timeoutMs = 5_000,
): Promise<SubmitOutcome & { witnessSize?: number }> {
  let old = knownSize;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (old > size)
      return { status: "conflict", witnessSize: old, reason: `the witness already cosigned size ${old}` };
    const hashes = old === 0 || old === size ? [] : await proof(old);
    const body = `old ${old}\n${hashes.map((h) => `${toBase64(h)}\n`).join("")}\n${note}`;
    let reply: Reply;
    try {
      reply = await post(witness.url, body, tls, timeoutMs);
    } catch (error) {
      return { status: "failed", reason: (error as Error).message };
    }
    if (reply.status === 200) {
      const body = parseNote(note).text;
      for (const line of reply.body.split("\n").filter((l) => l.length > 0)) {
        const checked = verifyCosignature(body, line, witness.verifierKey);
        if (checked.ok)
          return {
            status: "cosigned",
            line: `${line}\n`,
            timestamp: checked.timestamp ?? 0,
            witnessSize: size,
          };
      }
      return {
        status: "failed",
        reason: "the witness answered with no cosignature that verifies with its key",
      };
    }
    if (reply.status === 409 && reply.contentType.startsWith("text/x.tlog.size")) {
      const match = /^(0|[1-9][0-9]{0,15})\n$/.exec(reply.body);
      if (!match) return { status: "failed", reason: "the witness sent a malformed size" };
      old = Number(match[1]);
      continue;
    }
    if (reply.status === 409 || reply.status === 422) {
      return {
        status: "conflict",
        witnessSize: old,
        reason: `the witness refused: ${reply.status} ${reply.body.trim().slice(0, 200)}`,
      };
    }
    return {
      status: "failed",
      reason: `the witness answered ${reply.status} ${reply.body.trim().slice(0, 200)}`,
    };
  }
  return { status: "failed", reason: "the witness's size kept changing" };
}

/** The latest checkpoint a witness holds for `origin` (GET /checkpoints/<origin>), or undefined. */
export async function fetchWitnessCheckpoint(
  witness: WitnessEndpoint,
  origin: string,
  tls: TlsMaterial = {},
  timeoutMs = 5_000,
): Promise<string | undefined> {
  return get(witness.url, `checkpoints/${encodeURIComponent(origin)}`, tls, timeoutMs, 1024 * 1024);
}

/** One evidence record as GET /evidence/<origin> serves it (see witness-server.ts). Untrusted. */
export interface WitnessEvidence {
  readonly id: number;
  readonly kind: string;
  readonly heldNote: string | null;
  readonly submittedNote: string;
}

/** Most evidence records read from one witness in one call (pages of 50). */
const MAX_EVIDENCE_PER_FETCH = 500;

/**
 * The evidence a witness recorded for `origin` after the record `afterId` (GET /evidence/<origin>,
 * paged), or undefined if the witness is unreachable or answers out of shape. Bounded: at most 500
 * records, each field checked for type; the notes are checked by whoever uses them.
 */
export async function fetchWitnessEvidence(
  witness: WitnessEndpoint,
  origin: string,
  afterId = 0,
  tls: TlsMaterial = {},
  timeoutMs = 5_000,
): Promise<WitnessEvidence[] | undefined> {
  const records: WitnessEvidence[] = [];
  let after = afterId;
  while (records.length < MAX_EVIDENCE_PER_FETCH) {
    const body = await get(
      witness.url,
      `evidence/${encodeURIComponent(origin)}?after=${after}`,
      tls,
      timeoutMs,
      2 * 1024 * 1024,
    );
    if (body === undefined) return records.length > 0 ? records : undefined;
    let page: { evidence?: unknown; next?: unknown };
    try {
      page = JSON.parse(body) as { evidence?: unknown; next?: unknown };
    } catch {
      return records.length > 0 ? records : undefined;
    }
    if (!Array.isArray(page.evidence)) return records.length > 0 ? records : undefined;
    for (const item of page.evidence as Record<string, unknown>[]) {
      if (
        typeof item?.id !== "number" ||
        !Number.isSafeInteger(item.id) ||
        item.id <= after ||
        typeof item.kind !== "string" ||
        typeof item.submittedNote !== "string" ||
        (item.heldNote !== null && typeof item.heldNote !== "string")
      ) {
        return records;
      }
      records.push({
        id: item.id,
        kind: item.kind,
        heldNote: item.heldNote as string | null,
        submittedNote: item.submittedNote,
      });
      after = item.id;
    }
    if (typeof page.next !== "number" || page.next !== after) break;
  }
  return records;
}

function get(
  base: string,
  path: string,
  tls: TlsMaterial,
  timeoutMs: number,
  maxBytes: number,
): Promise<string | undefined> {
  const target = new URL(path, base.endsWith("/") ? base : `${base}/`);
  return new Promise((resolve) => {
    const req = request(
      target,
      {
        method: "GET",
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= maxBytes) chunks.push(chunk);
          else req.destroy();
        });
        res.on("end", () =>
          resolve(
            res.statusCode === 200 && size <= maxBytes ? Buffer.concat(chunks).toString("utf8") : undefined,
          ),
        );
        res.on("error", () => resolve(undefined));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}
