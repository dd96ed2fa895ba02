// The demo's identity chapter: a deployment CA, identities for a hospital's EHR, patients, audit
// companies, an admin and the custodian; the node serving over mutual TLS; encrypted records in, each
// party reading what it may, a refusal the patient can see.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MtlsClient } from "../../client/mtls-client.js";
import { fromBase64 } from "../../core/bytes.js";
import type { KeyFileProvider } from "../../crypto/keystore/index.js";
import { Identity, writeBundle } from "../../identity/bundle.js";
import { Deployment } from "../../identity/deployment.js";
import type { Role } from "../../identity/roles.js";
import { SQLITE_FILE_NAME } from "../../ledger/sqlite/sqlite-store.js";
import { openNotice } from "../../records/notices.js";
import { RecordOpener } from "../../records/record-opener.js";
import { startServer } from "../../service/server.js";
import type { Io } from "../io.js";

export const DEMO_PASSPHRASE = "demo passphrase, not for real use";

interface Item {
  index: number;
  entry: string;
  content: string | null;
}

const toStored = (items: Item[]) =>
  items.map((i) => ({
    index: i.index,
    entry: fromBase64(i.entry),
    content: i.content === null ? undefined : fromBase64(i.content),
  }));

export async function identityStory(
  io: Io,
  root: string,
  data: string,
  masterKey: KeyFileProvider,
): Promise<void> {
  io.out("\n6. A deployment CA, identities, and the node serving over mutual TLS:");
  const deployment = await Deployment.initCa(data, masterKey, "stmary");
  io.out(`   CA "stmary" (Ed25519 root, key sealed in the keystore): ${join(data, "ca", "ca.pem")}`);
  // A demo passphrase for every bundle; a real deployment gives each holder their own.
  const passphrase = DEMO_PASSPHRASE;
  const people: [Role, string][] = [
    ["node", "node-1"],
    ["ehr-source", "ehr-main"],
    ["patient", "MRN-ALICE-001"],
    ["patient", "MRN-BOB-002"],
    ["auditor", "acme-audit"],
    ["auditor", "beta-audit"],
    ["admin", "it-admin"],
    ["custodian", "privacy-office"],
  ];
  const ids = new Map<string, Identity>();
  for (const [role, id] of people) {
    const issued = await deployment.enroll({ role, id, passphrase });
    writeBundle(join(root, `${id}.custos-id`), issued.bundle);
    ids.set(id, Identity.unlock(issued.bundle, passphrase));
  }
  io.out(
    `   enrolled ${people.length} identities (bundles in ${root}/*.custos-id, passphrase "${passphrase}"),`,
  );
  io.out("   each published in the log as a CA-signed entry: the log, not a table, says who holds which key");
  await deployment.grant(ids.get("it-admin")!, {
    auditor: "acme-audit",
    patients: ["MRN-ALICE-001", "MRN-BOB-002"],
  });
  await deployment.grant(ids.get("it-admin")!, { auditor: "beta-audit", patients: ["MRN-BOB-002"] });
  io.out("   the admin signed two grants into the log: acme-audit -> Alice and Bob; beta-audit -> Bob only");

  const server = await startServer({
    deployment,
    identity: ids.get("node-1")!,
    api: { host: "127.0.0.1", port: 0 },
  });
  const url = `https://127.0.0.1:${server.api.port}`;
  const client = (id: string) => new MtlsClient(url, ids.get(id)!);
  try {
    io.out(`   node listening on ${url} (TLS 1.3; no certificate from this CA, no connection)`);

    const users = ["dr.house", "nurse.joy", "dr.grey", "clerk.smith"];
    const actions = ["query", "query", "change", "print", "copy", "create"] as const;
    const start = Date.now() - 301 * 150_000;
    const records = Array.from({ length: 300 }, (_, i) => ({
      time: new Date(start + i * 150_000).toISOString(),
      patientId: i % 3 === 0 ? "MRN-BOB-002" : "MRN-ALICE-001",
      userId: users[i % users.length]!,
      action: actions[i % actions.length]!,
      sourceEventId: `ehr-event-${i}`,
      ...(i % 50 === 7 ? { emergency: true } : {}),
    }));
    const ingest = await client("ehr-main").call<{ records: { index: number }[] }>(
      "POST",
      "/v1/records",
      records,
    );
    io.out(
      `   the EHR submitted ${ingest.records.length} records over mutual TLS; each sealed (AES-256-GCM) under its patient's`,
    );
    io.out(
      "   epoch key, HPKE-wrapped for the keys enrolled in the log: patient, granted audit companies, custodian",
    );

    const aliceId = ids.get("MRN-ALICE-001")!;
    const trail = await client("MRN-ALICE-001").call<{ items: Item[] }>("POST", "/v1/trail", {});
    const opened = new RecordOpener(aliceId.encryptionPrivateKey()).openAll(toStored(trail.items));
    opened.records.sort((a, b) => Date.parse(b.record.time) - Date.parse(a.record.time));
    io.out(
      `   Alice reads her own trail and decrypts it locally: ${opened.records.length} accesses; the latest three:`,
    );
    for (const { record } of opened.records.slice(0, 3)) {
      io.out(
        `     ${record.time}  ${record.action.padEnd(6)}  ${record.userId}${record.emergency ? "  (emergency access)" : ""}`,
      );
    }
    const acme = await client("acme-audit").call<{ items: Item[] }>("POST", "/v1/trail", {
      patientId: "MRN-ALICE-001",
    });
    const acmeOpened = new RecordOpener(ids.get("acme-audit")!.encryptionPrivateKey()).openAll(
      toStored(acme.items),
    );
    io.out(`   acme-audit (granted) reads Alice's trail: ${acmeOpened.records.length} accesses decrypted`);
    try {
      await client("beta-audit").call("POST", "/v1/trail", { patientId: "MRN-ALICE-001" });
      io.out("   beta-audit read Alice's trail (this should not happen)");
    } catch (error) {
      io.out(
        `   beta-audit (not granted Alice) is refused: ${(error as { code: string }).code}; the refusal goes into the log`,
      );
    }
    try {
      await client("it-admin").call("POST", "/v1/trail", { patientId: "MRN-ALICE-001" });
    } catch (error) {
      io.out(`   the admin manages grants but cannot read trails: ${(error as { code: string }).code}`);
    }
    const history = await client("MRN-ALICE-001").call<{ items: Item[] }>("POST", "/v1/query-history", {});
    io.out(
      "   Alice's query history, decrypted with her key (who looked at her trail, and who was refused):",
    );
    for (const item of toStored(history.items)) {
      const notice = openNotice(item, aliceId.encryptionPrivateKey());
      if (!notice) continue;
      const what =
        notice.kind === "query"
          ? `read it (${notice.body.returned} entries)`
          : `REFUSED (${notice.body.reason})`;
      io.out(`     ${notice.body.time}  ${notice.body.requester}  ${what}`);
    }
  } finally {
    await server.close();
    await deployment.close();
  }
  const file = readFileSync(join(data, SQLITE_FILE_NAME));
  const leaks = ["MRN-ALICE-001", "MRN-BOB-002", "dr.house", "nurse.joy"].filter((s) =>
    file.includes(Buffer.from(s)),
  );
  io.out(
    `   the database file holds no patient or user ID: ${leaks.length === 0 ? "checked, none found" : `FOUND ${leaks.join(", ")}`}`,
  );
}
