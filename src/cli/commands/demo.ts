// `custos demo` (npm run demo): a throwaway log in a temp directory, walked through step by step:
// create, append, checkpoint, prove, verify, then tamper with the database file and watch verify
// name the entry. Uses the same library calls as the real commands.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Command } from "commander";
import { toBase64, utf8 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint/index.js";
import { encodeDataEntry } from "../../core/entry/index.js";
import { leafHash, verifyInclusion } from "../../core/merkle/index.js";
import { openNote } from "../../core/note/index.js";
import { createKeyFile, KeyFileProvider } from "../../crypto/keystore/index.js";
import { initDataDir, openLogWritable } from "../../ledger/data-dir.js";
import { SQLITE_FILE_NAME, SqliteStore } from "../../ledger/sqlite/sqlite-store.js";
import { verifyStore } from "../../ledger/verify/verifier.js";
import type { Io } from "../io.js";
import { DEMO_PASSPHRASE, identityStory } from "./demo-identity.js";

const ACTIONS = ["query", "query", "query", "change", "create", "print", "copy", "delete"] as const;

export function registerDemoCommand(program: Command, io: Io): void {
  program
    .command("demo")
    .description("walk through a throwaway log: append, prove, verify, tamper, detect")
    .option("--dir <dir>", "where to build the demo (default: a new temp directory)")
    .option("--entries <n>", "how many entries to append", "5000")
    .action(async (options: { dir?: string; entries: string }) => {
      await runDemo(
        io,
        options.dir ?? mkdtempSync(join(tmpdir(), "custos-demo-")),
        Number(options.entries) || 5000,
      );
    });
}

async function runDemo(io: Io, root: string, count: number): Promise<void> {
  const step = (n: number, text: string) => io.out(`\n${n}. ${text}`);
  const data = join(root, "log");
  const masterKeyFile = join(root, "master.key");
  io.out(
    "Custos walkthrough: a tamper-evident, append-only Merkle log with signed checkpoints, and encrypted audit records.",
  );
  io.out(`Everything lives in ${root} and can be deleted afterwards.`);

  step(1, "Create a log. A master key protects the node's secrets; the demo generates one:");
  createKeyFile(masterKeyFile);
  const masterKey = new KeyFileProvider(masterKeyFile);
  const init = await initDataDir(data, { origin: "demo.custos.example/log", masterKey });
  io.out(
    `   master key file ${masterKeyFile} (a real node keeps it off the data disk, or uses a passphrase)`,
  );
  io.out(`   log "${init.origin}" in ${data}`);
  io.out(`   verifier key (publish it): ${init.verifierKey}`);

  step(
    2,
    `Append ${count.toLocaleString("en-US")} entries, as concurrent requests; each is acknowledged only once durable and in the tree:`,
  );
  const ledger = await openLogWritable(data, masterKey, { checkpointIntervalMs: 1000 });
  const started = performance.now();
  const acks = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      ledger.appendOne({
        entry: encodeDataEntry(utf8(sampleLine(i))),
        idempotencyKey: utf8(`demo-event-${i}`),
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  io.out(
    `   ${acks.length.toLocaleString("en-US")} entries in ${seconds.toFixed(2)} s (${Math.round(count / seconds).toLocaleString("en-US")} entries/s, group commit)`,
  );
  const replay = await ledger.appendOne({
    entry: encodeDataEntry(utf8(sampleLine(7))),
    idempotencyKey: utf8("demo-event-7"),
  });
  io.out(
    `   a replay of event 7 gets its original index back: ${replay.index} (duplicate: ${replay.duplicate})`,
  );

  step(3, "Sign a checkpoint (C2SP tlog-checkpoint in a signed note, Ed25519):");
  const checkpoint = await ledger.checkpoint();
  for (const line of checkpoint.note.trimEnd().split("\n")) io.out(`   | ${line}`);
  const body = parseCheckpoint(openNote(checkpoint.note, [init.verifierKey]).text);

  step(4, "Prove that entry 1234 is in the log, as any client would check it:");
  const index = Math.min(1234, count - 1);
  const entry = await ledger.getEntry(index);
  const proof = await ledger.inclusionProof(index, body.size);
  const ok = verifyInclusion(leafHash(entry.data), index, body.size, proof, body.rootHash);
  io.out(
    `   ${proof.length} hashes prove entry ${index} under root ${toBase64(body.rootHash).slice(0, 16)}...: ${ok ? "verified" : "FAILED"}`,
  );
  await ledger.close();

  step(5, "Verify the whole store: every entry, tree node and checkpoint:");
  const clean = await verifyReport(data);
  io.out(
    `   ${clean.ok ? "OK" : "PROBLEMS"}: ${clean.entriesChecked.toLocaleString("en-US")} entries, ${clean.checkpointsChecked} checkpoints, ${clean.findings.length} findings`,
  );

  await identityStory(io, root, data, masterKey);

  step(7, `An attacker with access to the disk edits entry ${index} directly in ${SQLITE_FILE_NAME}:`);
  const db = new Database(join(data, SQLITE_FILE_NAME));
  db.prepare("UPDATE entries SET data = ? WHERE idx = ?").run(
    encodeDataEntry(utf8("nothing to see here")),
    index,
  );
  db.close();
  const tampered = await verifyReport(data);
  io.out(`   verify: ${tampered.ok ? "no problem found (this should not happen)" : "TAMPERING DETECTED"}`);
  for (const finding of tampered.findings) io.out(`   - [${finding.code}] ${finding.message}`);

  io.out("\nExplore further:");
  io.out(`   node bin/custos.js verify --data ${data}`);
  io.out(`   node bin/custos.js verify --data ${data} --json`);
  io.out(`   node bin/custos.js log prove --data ${data} --index 42`);
  io.out(
    `   CUSTOS_BUNDLE_PASSPHRASE='${DEMO_PASSPHRASE}' node bin/custos.js serve --data ${data} --identity ${join(root, "node-1.custos-id")} --master-key-file ${masterKeyFile}`,
  );
  io.out(`   node bin/custos.js log consistency --data ${data} --from 10 --to 1000`);
  io.out(
    `   echo "another entry" | node bin/custos.js log append --data ${data} --master-key-file ${masterKeyFile}`,
  );
}

async function verifyReport(data: string) {
  const store = SqliteStore.open(data, { readonly: true });
  try {
    return await verifyStore(store);
  } finally {
    await store.close();
  }
}

function sampleLine(i: number): string {
  const action = ACTIONS[i % ACTIONS.length]!;
  const minute = String(i % 60).padStart(2, "0");
  return JSON.stringify({
    time: `2026-11-23T09:${minute}:00.000Z`,
    user: `clinician-${i % 40}`,
    action,
    seq: i,
  });
}
