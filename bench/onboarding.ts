// Bulk onboarding benchmark (issue 19.3): 100,000 patients whose holders made their own keys,
// enrolled from one CSV file into a data directory with its CA (`custos enroll --bulk`'s code path:
// parse, plan, CA-signed registry entries appended in batches, the registry folded). Goal: 60 s.

import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBase64 } from "../src/core/bytes.js";
import { EnvProvider } from "../src/crypto/keystore/index.js";
import { parseBulkCsv, planBulk, runBulk } from "../src/identity/bulk-enroll.js";
import { Deployment } from "../src/identity/deployment.js";
import { initDataDir } from "../src/ledger/data-dir.js";
import type { BenchRow } from "./types.js";

export async function benchOnboarding(scale = 1): Promise<BenchRow[]> {
  const patients = Math.max(1000, Math.round(100_000 * scale));
  const rows = ["kind,id,signing_key,encryption_key,auditor"];
  // The holders' own keys, made as a patient's device would: only the public halves reach the CSV.
  const publicRaw = (type: "ed25519" | "x25519") =>
    generateKeyPairSync(type as "ed25519", {
      publicKeyEncoding: { type: "spki", format: "der" },
      privateKeyEncoding: { type: "pkcs8", format: "der" },
    }).publicKey.subarray(-32);
  for (let i = 0; i < patients; i++) {
    const keys = [publicRaw("ed25519"), publicRaw("x25519")].map(toBase64);
    rows.push(`patient,MRN-${String(i).padStart(8, "0")},${keys.join(",")},`);
  }
  const text = `${rows.join("\n")}\n`;
  const dir = mkdtempSync(join(tmpdir(), "custos-bench-onboarding-"));
  const masterKey = new EnvProvider("K", { K: Buffer.alloc(32, 9).toString("base64") });
  try {
    await initDataDir(dir, { origin: "bench.custos.example/onboarding", masterKey });
    await (await Deployment.initCa(dir, masterKey, "bench")).close();
    const deployment = await Deployment.open(dir, masterKey);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const plan = planBulk(deployment, parseBulkCsv(text));
    const t1 = performance.now();
    await runBulk(deployment, plan, {});
    const seconds = (performance.now() - t0) / 1000;
    // CPU time beside wall time: on a shared machine the wall clock also counts waiting for a core.
    const used = process.cpuUsage(cpu0);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const enrolled = deployment.registry.withRole("patient").length;
    await deployment.close();
    if (enrolled !== patients) throw new Error(`enrolled ${enrolled} of ${patients}`);
    process.stderr.write(
      `onboarding: parse+plan ${((t1 - t0) / 1000).toFixed(1)} s, total ${seconds.toFixed(1)} s\n`,
    );
    return [
      {
        name: `bulk enrollment, ${patients.toLocaleString("en-US")} patients (holders' public keys)`,
        value: Math.round(seconds * 10) / 10,
        unit: "s",
        goal: `<= ${Math.round(60 * (patients / 100_000))}`,
        met: seconds <= 60 * (patients / 100_000),
      },
      {
        name: "bulk enrollment rate",
        value: Math.round(patients / seconds),
        unit: "patients/s",
      },
      {
        name: "bulk enrollment, CPU time of the process (user + system)",
        value: Math.round(cpuSeconds * 10) / 10,
        unit: "s",
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
