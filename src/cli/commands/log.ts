// `custos log ...`: create a log, append to it, sign checkpoints and produce proofs.

import { createInterface } from "node:readline";
import type { Command } from "commander";
import { encodeDataEntry, MAX_ENTRY_BYTES } from "../../core/entry/index.js";
import { CustosError, toBase64, utf8 } from "../../core/index.js";
import { leafHash } from "../../core/merkle/index.js";
import type { AppendResult } from "../../ledger/index.js";
import { initDataDir, openLogReadOnly, openLogWritable } from "../../ledger/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { masterKeyFrom, parseCount, requireData } from "../options.js";

interface DataOptions {
  data?: string;
  db?: string;
  masterKeyFile?: string;
  json?: boolean;
}

export function registerLogCommands(program: Command, io: Io): void {
  const log = program.command("log").description("create, append to and prove a Custos log");
  const dataOption = ["--data <dir>", "the log's data directory", process.env.CUSTOS_DATA] as const;
  const dbOption = [
    "--db <url>",
    "keep the log in PostgreSQL at this URL (default: SQLite in --data)",
    process.env.CUSTOS_DB_URL,
  ] as const;
  const masterKeyOption = [
    "--master-key-file <file>",
    "file with the 32-byte master key (or set CUSTOS_MASTER_KEY / CUSTOS_MASTER_PASSPHRASE)",
  ] as const;

  log
    .command("init")
    .description("create a new, empty log with a fresh signing key")
    .option(...dataOption)
    .option(...dbOption)
    .option(...masterKeyOption)
    .option("--origin <name>", "the log's origin line (unique name), e.g. hospital.example/custos")
    .option("--json", "print the result as JSON")
    .action(async (options: DataOptions & { origin?: string }) => {
      const data = requireData(options.data);
      const origin = options.origin ?? `custos.local/${randomName()}`;
      const result = await initDataDir(data, {
        origin,
        masterKey: masterKeyFrom(options),
        ...(options.db ? { db: options.db } : {}),
      });
      if (options.json) io.out(JSON.stringify(result));
      else {
        io.out(`created log "${result.origin}" in ${data}`);
        io.out(`verifier key: ${result.verifierKey}`);
        io.out("give the verifier key to anyone who must check this log's checkpoints");
      }
    });

  log
    .command("append")
    .description("append entries read from stdin (one per line) and print each one's index")
    .option(...dataOption)
    .option(...dbOption)
    .option(...masterKeyOption)
    .option("--format <format>", "lines (raw text lines) or ndjson (each line must be a JSON value)", "lines")
    .option("--json", "print one JSON object per entry: index and leaf hash")
    .action(async (options: DataOptions & { format: string }) => {
      if (options.format !== "lines" && options.format !== "ndjson") {
        throw new UsageError(`--format must be lines or ndjson, got "${options.format}"`);
      }
      const data = requireData(options.data);
      const ledger = await openLogWritable(
        data,
        masterKeyFrom(options),
        options.db ? { db: options.db } : {},
      );
      try {
        const entries = await readEntries(io, options.format);
        if (entries.length === 0) throw new UsageError("nothing to append: stdin was empty");
        const results = await ledger.append(entries.map((entry) => ({ entry })));
        printResults(io, results, options.json === true);
        await ledger.checkpoint();
      } finally {
        await ledger.close();
      }
    });

  log
    .command("checkpoint")
    .description("sign a checkpoint for everything appended so far and print it")
    .option(...dataOption)
    .option(...dbOption)
    .option(...masterKeyOption)
    .option("--latest", "print the latest stored checkpoint without signing (no master key needed)")
    .action(async (options: DataOptions & { latest?: boolean }) => {
      const data = requireData(options.data);
      const ledger = options.latest
        ? await openLogReadOnly(data, options.db ? { db: options.db } : {})
        : await openLogWritable(data, masterKeyFrom(options), options.db ? { db: options.db } : {});
      try {
        const checkpoint = options.latest ? await ledger.latestCheckpoint() : await ledger.checkpoint();
        if (checkpoint === undefined) throw new CustosError("NOT_FOUND", "the log has no checkpoint yet");
        io.outRaw(checkpoint.note);
      } finally {
        await ledger.close();
      }
    });

  log
    .command("prove")
    .description("print an inclusion proof for entry N (C2SP tlog-proof with the signed checkpoint)")
    .option(...dataOption)
    .option(...dbOption)
    .requiredOption("--index <n>", "the entry's index")
    .option("--size <s>", "tree size to prove against (default: the latest checkpoint's)")
    .option("--json", "print as JSON")
    .action(async (options: DataOptions & { index: string; size?: string }) => {
      const data = requireData(options.data);
      const index = parseCount(options.index, "--index");
      const ledger = await openLogReadOnly(data, options.db ? { db: options.db } : {});
      try {
        const checkpoints = await ledger.store.listCheckpoints();
        const latest = await ledger.latestCheckpoint();
        const size = options.size !== undefined ? parseCount(options.size, "--size") : (latest?.size ?? 0);
        if (index >= size) {
          throw new UsageError(
            options.size === undefined
              ? `entry ${index} is not covered by the latest checkpoint (size ${size}); run custos log checkpoint first`
              : `index ${index} is not in a tree of size ${size}`,
          );
        }
        const proof = await ledger.inclusionProof(index, size);
        const entry = await ledger.getEntry(index);
        const root = await ledger.rootAt(size);
        const checkpoint = checkpoints.filter((cp) => cp.size === size).pop();
        if (options.json) {
          io.out(
            JSON.stringify({
              index,
              size,
              leafHash: toBase64(leafHash(entry.data)),
              rootHash: toBase64(root),
              proof: proof.map(toBase64),
              ...(checkpoint ? { checkpoint: checkpoint.note } : {}),
            }),
          );
        } else if (checkpoint) {
          io.outRaw(
            `c2sp.org/tlog-proof@v1\nindex ${index}\n${proof.map((h) => `${toBase64(h)}\n`).join("")}\n${checkpoint.note}`,
          );
        } else {
          io.out(
            `index ${index}\nsize ${size}\nleaf ${toBase64(leafHash(entry.data))}\nroot ${toBase64(root)}`,
          );
          for (const hash of proof) io.out(toBase64(hash));
        }
      } finally {
        await ledger.close();
      }
    });

  log
    .command("consistency")
    .description("print a consistency proof between two tree sizes")
    .option(...dataOption)
    .option(...dbOption)
    .requiredOption("--from <a>", "the older tree size")
    .requiredOption("--to <b>", "the newer tree size")
    .option("--json", "print as JSON")
    .action(async (options: DataOptions & { from: string; to: string }) => {
      const data = requireData(options.data);
      const from = parseCount(options.from, "--from");
      const to = parseCount(options.to, "--to");
      if (from > to) throw new UsageError(`--from ${from} is larger than --to ${to}`);
      const ledger = await openLogReadOnly(data, options.db ? { db: options.db } : {});
      try {
        const proof = await ledger.consistencyProof(from, to);
        const [oldRoot, newRoot] = [await ledger.rootAt(from), await ledger.rootAt(to)];
        if (options.json) {
          io.out(
            JSON.stringify({
              from,
              to,
              oldRoot: toBase64(oldRoot),
              newRoot: toBase64(newRoot),
              proof: proof.map(toBase64),
            }),
          );
        } else {
          io.out(`old ${from} ${toBase64(oldRoot)}\nnew ${to} ${toBase64(newRoot)}`);
          for (const hash of proof) io.out(toBase64(hash));
        }
      } finally {
        await ledger.close();
      }
    });
}

async function readEntries(io: Io, format: "lines" | "ndjson"): Promise<Uint8Array[]> {
  const entries: Uint8Array[] = [];
  let lineNumber = 0;
  const reader = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of reader) {
    lineNumber++;
    if (line.length === 0) continue;
    if (format === "ndjson") {
      try {
        JSON.parse(line);
      } catch {
        throw new UsageError(`line ${lineNumber} is not valid JSON; nothing was appended`);
      }
    }
    const payload = utf8(line);
    if (payload.length > MAX_ENTRY_BYTES - 16) {
      throw new UsageError(
        `line ${lineNumber} is longer than ${MAX_ENTRY_BYTES - 16} bytes; nothing was appended`,
      );
    }
    entries.push(encodeDataEntry(payload));
  }
  return entries;
}

function printResults(io: Io, results: readonly AppendResult[], json: boolean): void {
  const lines = results.map((r) =>
    json
      ? JSON.stringify({ index: r.index, leafHash: toBase64(r.leafHash), duplicate: r.duplicate })
      : String(r.index),
  );
  io.out(lines.join("\n"));
}

function randomName(): string {
  const bytes = new Uint8Array(4);
  globalThis.crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
