// How much of the log a restore would lose: each witness's latest cosigned checkpoint for the log
// (GET <witness>/checkpoints/<origin>), checked with the log's key and the witness's own, compared
// with the size of the log a restore brings back. Entries the witnesses cosigned that the restored log
// lacks were acknowledged to someone; a restored log that disagrees with a cosigned root at a size it
// holds is a fork, never a loss to accept.

import { request } from "node:https";
import { openCheckpoint } from "../core/checkpoint/index.js";
import { bytesEqual, CustosError } from "../core/index.js";
import { parseVerifierKey } from "../core/note/index.js";
import type { TlsMaterial, WitnessEndpoint } from "../witness/index.js";

export type WitnessView =
  | {
      readonly url: string;
      readonly name: string;
      readonly status: "cosigned";
      readonly size: number;
      readonly rootHash: Uint8Array;
    }
  | {
      readonly url: string;
      readonly name: string;
      readonly status: "none" | "unreachable" | "invalid";
      readonly reason: string;
    };

function fetchText(
  base: string,
  path: string,
  tls: TlsMaterial,
  timeoutMs: number,
): Promise<{ status: number; body: string } | { error: string }> {
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
          if (size <= 1024 * 1024) chunks.push(chunk);
          else req.destroy(new Error("the answer is too large"));
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", (error) => resolve({ error: error.message }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error) => resolve({ error: error.message }));
    req.end();
  });
}

/** Asks every witness for the latest checkpoint of `origin` it cosigned; never throws on its answer. */
export async function askWitnesses(
  witnesses: readonly WitnessEndpoint[],
  log: { readonly origin: string; readonly verifierKey: string },
  tls: TlsMaterial,
  timeoutMs = 5_000,
): Promise<WitnessView[]> {
  return Promise.all(
    witnesses.map(async (witness): Promise<WitnessView> => {
      const name = parseVerifierKey(witness.verifierKey).name;
      const base = { url: witness.url, name };
      const answer = await fetchText(
        witness.url,
        `checkpoints/${encodeURIComponent(log.origin)}`,
        tls,
        timeoutMs,
      );
      if ("error" in answer) return { ...base, status: "unreachable", reason: answer.error };
      if (answer.status === 404)
        return { ...base, status: "none", reason: "it holds no checkpoint of this log" };
      if (answer.status !== 200)
        return { ...base, status: "unreachable", reason: `it answered ${answer.status}` };
      try {
        const opened = openCheckpoint(answer.body, log.verifierKey, { cosignerKeys: [witness.verifierKey] });
        if (opened.checkpoint.origin !== log.origin || !opened.cosigners.includes(name)) {
          return {
            ...base,
            status: "invalid",
            reason: "its checkpoint does not carry its own cosignature for this log",
          };
        }
        return {
          ...base,
          status: "cosigned",
          size: opened.checkpoint.size,
          rootHash: opened.checkpoint.rootHash,
        };
      } catch (error) {
        return { ...base, status: "invalid", reason: (error as Error).message };
      }
    }),
  );
}

export interface LossReport {
  /** The size the restored log has. */
  readonly restoredSize: number;
  /** The largest size a witness cosigned (0 if none answered with one). */
  readonly witnessedSize: number;
  /** Entries the witnesses cosigned that the restored log lacks. */
  readonly lacks: number;
  readonly views: readonly WitnessView[];
}

/**
 * Compares the witnesses' views with a log of `restoredSize` entries whose root at a size is given by
 * `rootAt`. Throws CONFLICT on a fork (a witness cosigned another root at a size the log holds) and
 * UNAVAILABLE when a witness could not be asked (it might have seen more: the loss is unknown).
 */
export async function compareWithWitnesses(
  views: readonly WitnessView[],
  restoredSize: number,
  rootAt: (size: number) => Promise<Uint8Array>,
): Promise<LossReport> {
  const unanswered = views.filter((v) => v.status === "unreachable" || v.status === "invalid");
  if (unanswered.length > 0) {
    throw new CustosError(
      "UNAVAILABLE",
      `cannot tell what the restored log lacks: ${unanswered
        .map((v) => `witness ${v.name} (${v.url}): ${"reason" in v ? v.reason : ""}`)
        .join("; ")}; ask it again when it answers, or leave it out of --witness knowingly`,
    );
  }
  let witnessedSize = 0;
  for (const view of views) {
    if (view.status !== "cosigned") continue;
    witnessedSize = Math.max(witnessedSize, view.size);
    if (view.size <= restoredSize) {
      const root = await rootAt(view.size);
      if (!bytesEqual(root, view.rootHash)) {
        throw new CustosError(
          "CONFLICT",
          `the restored log forks from what witness ${view.name} cosigned: at size ${view.size} its root differs. Do not serve it; keep both and alert the witnesses (docs/mirror.md#recovery)`,
        );
      }
    }
  }
  return {
    restoredSize,
    witnessedSize,
    lacks: Math.max(0, witnessedSize - restoredSize),
    views,
  };
}
