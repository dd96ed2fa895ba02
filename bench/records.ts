// Encrypted-records benchmarks (issue 3 goals): sealing over 10,000 distinct patients with three
// readers each (patient, one audit company, custodian), cold (HPKE wraps on first sight of a patient)
// and warm (one AES-GCM seal per record), plus storage overhead per record on disk.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditRecord } from "../src/core/record/index.js";
import { createKeyFile, KeyFileProvider } from "../src/crypto/keystore/index.js";
import { initDataDir } from "../src/ledger/data-dir.js";
import type { AppendItem } from "../src/ledger/sequencer.js";
import { BlindIndex, RecordSealer, Vault } from "../src/records/index.js";
import { registryReaders } from "../test/helpers/registry-readers.js";
import { round } from "./stats.js";
import type { BenchRow } from "./types.js";

const PATIENTS = 10_000;
const ACTIONS = ["query", "change", "print", "copy", "create", "delete"] as const;

function sampleRecord(i: number, patients: number): AuditRecord {
  return {
    time: new Date(Date.UTC(2026, 10, 23, 8) + i * 1000).toISOString(),
    patientId: `MRN-${String(i % patients).padStart(8, "0")}`,
    userId: `clinician-${i % 400}`,
    action: ACTIONS[i % ACTIONS.length]!,
    sourceEventId: `evt-${i}`,
    purposeOfUse: "TREAT",
  };
}

const patientIds = (n: number) => Array.from({ length: n }, (_, p) => `MRN-${String(p).padStart(8, "0")}`);

/** Readers from an identity registry (CA-signed enrollments, an admin's grant of every patient to A1). */
function directoryFor(patients: number, blindIndex: BlindIndex) {
  return registryReaders({
    deployment: "bench",
    patientTag: (id) => blindIndex.patientTag(id),
    patients: patientIds(patients),
    auditors: ["A1"],
    keepPrivateKeys: false,
  }).directory;
}

export async function benchRecords(): Promise<BenchRow[]> {
  const blindIndex = new BlindIndex(new Uint8Array(32).fill(1));
  const directory = directoryFor(PATIENTS, blindIndex);
  let wrapped = 0;
  const sink = {
    async append(items: readonly AppendItem[]) {
      wrapped += items.length;
      return items.map((_, index) => ({ index, leafHash: new Uint8Array(32), duplicate: false }));
    },
  };
  const sealer = new RecordSealer({
    blindIndex,
    directory,
    log: sink,
    // Sealing only (nothing is stored), and fewer patients than the cache remembers: no log to read.
    lastRecord: async () => undefined,
  });

  // Cold: the first record of each of 10,000 patients starts an epoch (3 HPKE wraps each).
  const batch = 1000;
  let t = performance.now();
  for (let i = 0; i < PATIENTS; i += batch) {
    await sealer.seal(
      Array.from({ length: batch }, (_, k) => sampleRecord(i + k, PATIENTS)),
      "ehr",
    );
  }
  const coldSeconds = (performance.now() - t) / 1000;
  const wrapsPerSecond = wrapped / coldSeconds;

  // Warm: keys cached; each record is one AES-GCM seal plus encoding.
  const warmCount = 200_000;
  const records = Array.from({ length: warmCount }, (_, i) => sampleRecord(i, PATIENTS));
  t = performance.now();
  for (let i = 0; i < warmCount; i += batch) await sealer.seal(records.slice(i, i + batch), "ehr");
  const warmPerSecond = warmCount / ((performance.now() - t) / 1000);

  // Storage overhead: real vault on disk, 20,000 records over 1,000 patients.
  const dir = mkdtempSync(join(tmpdir(), "custos-bench-records-"));
  let overhead = Number.NaN;
  let bytesPerRecord = Number.NaN;
  try {
    const keyFile = join(dir, "master.key");
    createKeyFile(keyFile);
    const masterKey = new KeyFileProvider(keyFile);
    await initDataDir(join(dir, "log"), { origin: "bench.custos.example/records", masterKey });
    const vault = await Vault.open(join(dir, "log"), masterKey, {
      readers: async (_ledger, patientTag) =>
        registryReaders({
          deployment: "bench",
          patientTag,
          patients: patientIds(1000),
          auditors: ["A1"],
          keepPrivateKeys: false,
        }).directory,
    });
    const stored = Array.from({ length: 20_000 }, (_, i) => sampleRecord(i, 1000));
    const plaintextBytes = stored.reduce((sum, r) => sum + Buffer.byteLength(JSON.stringify(r)), 0);
    for (let i = 0; i < stored.length; i += batch) await vault.ingest(stored.slice(i, i + batch), "ehr");
    await vault.ledger.checkpoint();
    await vault.close();
    const bytes = ["custos.db", "custos.db-wal"].reduce((sum, f) => {
      try {
        return sum + statSync(join(dir, "log", f)).size;
      } catch {
        return sum;
      }
    }, 0);
    bytesPerRecord = bytes / stored.length;
    overhead = bytes / plaintextBytes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  return [
    {
      name: "seal, warm keys (10k patients)",
      value: Math.round(warmPerSecond),
      unit: "records/s",
      goal: ">= 100,000",
      met: warmPerSecond >= 100_000,
    },
    {
      name: "key wraps, cold (10k patients x 3 readers)",
      value: Math.round(wrapsPerSecond),
      unit: "wraps/s",
      goal: ">= 10,000",
      met: wrapsPerSecond >= 10_000,
    },
    {
      name: "bytes on disk per record (incl. wrapped keys, tree)",
      value: round(bytesPerRecord, 1),
      unit: "bytes",
    },
    { name: "storage overhead vs plaintext JSON", value: round(overhead, 2), unit: "x" },
  ];
}
