// `custos demo` (npm run demo): a throwaway log in a temp directory, walked through step by step:
// create, append, checkpoint, prove, verify, then tamper with the database file and watch verify
// name the entry. Uses the same library calls as the real commands.

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Command } from "commander";
import { toBase64, utf8 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint/index.js";
import { encodeDataEntry } from "../../core/entry/index.js";
import { leafHash, verifyInclusion } from "../../core/merkle/index.js";
import { openNote } from "../../core/note/index.js";
import { parseAuditRecord } from "../../core/record/index.js";
import { generateX25519KeyPair } from "../../crypto/hpke/index.js";
import { createKeyFile, KeyFileProvider } from "../../crypto/keystore/index.js";
import { initDataDir, openLogWritable } from "../../ledger/data-dir.js";
import { SQLITE_FILE_NAME, SqliteStore } from "../../ledger/sqlite/sqlite-store.js";
import { verifyStore } from "../../ledger/verify/verifier.js";
import { RecordOpener, Vault } from "../../records/index.js";
import type { Io } from "../io.js";

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

  await encryptedRecordsStory(io, data, masterKey);

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
  io.out(`   node bin/custos.js log consistency --data ${data} --from 10 --to 1000`);
  io.out(
    `   echo "another entry" | node bin/custos.js log append --data ${data} --master-key-file ${masterKeyFile}`,
  );
}

async function encryptedRecordsStory(io: Io, data: string, masterKey: KeyFileProvider): Promise<void> {
  io.out(
    "\n6. Encrypted audit records: only the patient, the audit companies granted the patient and the custodian can read them.",
  );
  const vault = await Vault.open(data, masterKey);
  const parties = {
    custodian: generateX25519KeyPair(),
    alice: generateX25519KeyPair(),
    bob: generateX25519KeyPair(),
    auditor: generateX25519KeyPair(),
  };
  vault.directory.setCustodian(parties.custodian.publicKey);
  vault.directory.enroll("patient", "MRN-ALICE-001", parties.alice.publicKey);
  vault.directory.enroll("patient", "MRN-BOB-002", parties.bob.publicKey);
  vault.directory.enroll("auditor", "acme-audit", parties.auditor.publicKey);
  vault.directory.grant({ auditor: "acme-audit", patients: ["MRN-ALICE-001"], from: Date.now() - 1000 });
  await vault.saveDirectory();
  io.out("   enrolled 2 patients, 1 audit company (granted Alice only) and the custodian (X25519 keys)");
  const users = ["dr.house", "nurse.joy", "dr.grey", "clerk.smith"];
  const actions = ["query", "query", "change", "print", "copy", "create"] as const;
  const records = Array.from({ length: 300 }, (_, i) => ({
    time: new Date(Date.UTC(2026, 10, 23, 7) + i * 150_000).toISOString(),
    patientId: i % 3 === 0 ? "MRN-BOB-002" : "MRN-ALICE-001",
    userId: users[i % users.length]!,
    action: actions[i % actions.length]!,
    sourceEventId: `ehr-event-${i}`,
    ...(i % 50 === 7 ? { emergency: true } : {}),
  }));
  const results = await vault.ingest(
    records.map((r) => parseAuditRecord(r)),
    "ehr-main",
  );
  io.out(
    `   the EHR sent ${results.length} records; each sealed with AES-256-GCM under its patient's epoch key,`,
  );
  const status = await vault.keyStatus("MRN-ALICE-001");
  io.out(
    `   whose key is HPKE-wrapped for ${status.readers.length} readers (Alice, acme-audit, custodian) in the log`,
  );
  const alice = await vault.readTrail("MRN-ALICE-001", new RecordOpener(parties.alice.privateKey));
  io.out(`   Alice decrypts her own trail: ${alice.records.length} accesses; the latest three:`);
  for (const { record } of alice.records.slice(0, 3)) {
    io.out(
      `     ${record.time}  ${record.action.padEnd(6)}  ${record.userId}${record.emergency ? "  (emergency access)" : ""}`,
    );
  }
  const audit = await vault.readTrail("MRN-ALICE-001", new RecordOpener(parties.auditor.privateKey));
  io.out(`   acme-audit reads Alice's trail (granted): ${audit.records.length} accesses`);
  const refused = await vault.readTrail("MRN-BOB-002", new RecordOpener(parties.auditor.privateKey));
  io.out(
    `   acme-audit on Bob's trail (not granted): ${refused.records.length} readable, ${refused.notReadable.length} sealed to others`,
  );
  await vault.close();
  const file = readFileSync(join(data, SQLITE_FILE_NAME));
  const leaks = ["MRN-ALICE-001", "MRN-BOB-002", "dr.house", "nurse.joy"].filter((s) =>
    file.includes(Buffer.from(s)),
  );
  io.out(
    `   the database file holds no patient or user ID: ${leaks.length === 0 ? "checked, none found" : `FOUND ${leaks.join(", ")}`}`,
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
