// `custos demo` (npm run demo): a whole deployment on one machine, in a temp directory, told as a
// story: the CA and identities, a node serving over mutual TLS, an EHR feeding a week of accesses,
// patients and audit companies reading (verified, decrypted locally), a refusal the patient sees, the
// query history, the operator forking its own log (caught by the witnesses) and an attacker editing
// the database (demo-attacks.ts), both `verify` and the next client query naming the entry. Uses the
// same library calls as the real commands.

import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { CustosClient, VerificationError } from "../../client/index.js";
import { createKeyFile, KeyFileProvider } from "../../crypto/keystore/index.js";
import type { Role } from "../../identity/index.js";
import { Deployment, Identity, writeBundle } from "../../identity/index.js";
import { initDataDir, SQLITE_FILE_NAME } from "../../ledger/index.js";
import { type Listen, startServer } from "../../node/index.js";
import { writePortalSettings } from "../../service/index.js";
import type { Io } from "../io.js";
import { parseCount, parseListen } from "../options.js";
import { type DemoNode, type DemoScene, diskEdit, operatorFork } from "./demo-attacks.js";
import { DEMO_PASSPHRASE, DEMO_USERS, demoAccesses } from "./demo-data.js";
import { printExploreFurther, printPortalInvitation } from "./demo-outro.js";
import { startDemoWitnesses } from "./demo-witnesses.js";

export { DEMO_PASSPHRASE };

const PATIENTS = [
  ["MRN1001", "Alice Martin"],
  ["MRN1002", "Bogdan Petrov"],
  ["MRN1003", "Chiara Rossi"],
  ["MRN1004", "Dawit Bekele"],
  ["MRN1005", "Emma Larsen"],
] as const;
const COMPANIES = {
  "acme-audit": ["MRN1001", "MRN1002", "MRN1003"],
  "northwind-assurance": ["MRN1003", "MRN1004", "MRN1005"],
} as const;

export function registerDemoCommand(program: Command, io: Io): void {
  program
    .command("demo")
    .description(
      "a whole deployment on this machine: CA, node, EHR feed, patients, audit companies, tampering caught",
    )
    .option("--dir <dir>", "where to build the demo (default: a new temp directory)")
    .option("--records <n>", "how many access records the EHR sends", "3000")
    .option(
      "--serve",
      "after the story, keep the node, its witnesses and the browser portal running (Ctrl-C stops)",
    )
    .option("--portal <host:port>", "the portal's address with --serve", "127.0.0.1:8444")
    .option("--listen <host:port>", "the mutual-TLS API's address with --serve", "127.0.0.1:8443")
    .action(
      async (options: { dir?: string; records: string; serve?: boolean; portal: string; listen: string }) => {
        const count = parseCount(options.records, "--records");
        const root = options.dir ?? mkdtempSync(join(tmpdir(), "custos-demo-"));
        mkdirSync(root, { recursive: true });
        await runDemo(io, root, Math.max(50, count), {
          ...(options.serve
            ? { serve: { portal: parseListen(options.portal, "--portal"), api: parseListen(options.listen) } }
            : {}),
        });
      },
    );
}

const n = (x: number) => x.toLocaleString("en-US");

async function runDemo(
  io: Io,
  root: string,
  count: number,
  options: { serve?: { portal: Listen; api: Listen } } = {},
): Promise<void> {
  const started = performance.now();
  const step = (k: number, text: string) => io.out(`\n${k}. ${text}`);
  const data = join(root, "node");
  const masterKeyFile = join(root, "master.key");
  io.out(
    "Custos: a tamper-evident, end-to-end encrypted audit trail of who accessed a patient's health record.",
  );
  io.out(`This demo builds a throwaway deployment in ${root}.`);

  step(
    1,
    "St Mary's hospital sets up a node: a log, a master key for its secrets, its own certificate authority.",
  );
  createKeyFile(masterKeyFile);
  const masterKey = new KeyFileProvider(masterKeyFile);
  const init = await initDataDir(data, { origin: "stmary.custos.example/log", masterKey });
  const deployment = await Deployment.initCa(data, masterKey, "stmary");
  io.out(`   log "${init.origin}", checkpoints signed with ${init.verifierKey.slice(0, 40)}...`);
  io.out(
    `   CA certificate ${join(data, "ca", "ca.pem")} (Ed25519); its key is sealed in the node's keystore`,
  );

  step(
    2,
    "Everyone gets an identity: two certificates (signing, encryption) in a passphrase-protected bundle.",
  );
  const people: [Role, string][] = [
    ["node", "node-1"],
    ["ehr-source", "stmary-ehr"],
    ["admin", "it-admin"],
    ["custodian", "privacy-office"],
    ...PATIENTS.map(([id]) => ["patient", id] as [Role, string]),
    ...Object.keys(COMPANIES).map((id) => ["auditor", id] as [Role, string]),
    ...Object.keys(COMPANIES).map((id) => ["witness", `${id}-witness`] as [Role, string]),
  ];
  const ids = new Map<string, Identity>();
  for (const [role, id] of people) {
    const issued = await deployment.enroll({ role, id, passphrase: DEMO_PASSPHRASE });
    writeBundle(join(root, `${id}.custos-id`), issued.bundle);
    ids.set(id, Identity.unlock(issued.bundle, DEMO_PASSPHRASE));
  }
  io.out(`   ${people.length} identities: the node, the EHR, an admin, the privacy office (custodian),`);
  io.out(
    `   5 patients (${PATIENTS.map(([, name]) => name.split(" ")[0]).join(", ")}), 2 audit companies and a witness for each`,
  );
  io.out(
    "   each enrollment is a CA-signed log entry: who holds which key is read from the log, not a table",
  );
  for (const [company, patients] of Object.entries(COMPANIES)) {
    await deployment.grant(ids.get("it-admin")!, { auditor: company, patients: [...patients] });
    io.out(`   the admin grants ${company} the patients ${patients.join(", ")} (signed, in the log)`);
  }

  // Each audit company runs a witness (C2SP tlog-witness) that cosigns only a log that grew honestly.
  const { origin, verifierKey } = deployment.vault.ledger.meta;
  const witnesses = await startDemoWitnesses(root, Object.keys(COMPANIES), ids, masterKey, {
    origin,
    verifierKey,
  });
  const witnessed = { keys: witnesses.map((w) => w.key), quorum: 2 };
  // What the portal tells people about this deployment (custos portal config; docs/portal.md).
  writePortalSettings(data, {
    hospital: "St Mary's Hospital",
    timeZone: "Europe/Berlin",
    workingHours: { start: "07:00", end: "19:00", days: ["mon", "tue", "wed", "thu", "fri"] },
    privacyContact: {
      name: "St Mary's Privacy Office",
      email: "privacy@stmary.example",
      phone: "+49 30 5550 100",
    },
    witnesses: Object.fromEntries(
      witnesses.map((w) => [w.key, w.id.startsWith("acme") ? "Acme Audit" : "Northwind Assurance"]),
    ),
  });
  const witnessFlags = witnesses.map((w) => ({ url: w.url, verifierKey: w.key }));
  const server = await startServer({
    deployment,
    identity: ids.get("node-1")!,
    api: { host: "127.0.0.1", port: 0 },
    portal: { host: "127.0.0.1", port: 0 },
    verifyEveryMs: 0,
    witnesses: witnessFlags,
  });
  // The fork scene (demo-attacks.ts) restarts the node: the story goes on with node.server, node.url.
  const node: DemoNode = { deployment, server, url: `https://127.0.0.1:${server.api.port}` };
  const client = (id: string, at = node.url) =>
    new CustosClient({
      url: at,
      identity: ids.get(id)!,
      statePath: join(root, `${id}.state.json`),
      witnesses: witnessed,
    });
  try {
    step(
      3,
      `The node serves its API over mutual TLS 1.3 at ${node.url}: no certificate from this CA, no connection.`,
    );
    io.out(
      `   each checkpoint goes to the audit companies' witnesses (${witnesses.map((w) => w.id).join(", ")}); clients trust only what both cosigned`,
    );

    const accesses = demoAccesses(
      PATIENTS.map(([id]) => id),
      count,
      Date.now() - 3_600_000,
    );
    const ehr = client("stmary-ehr");
    const t0 = performance.now();
    let last = 0;
    for (let i = 0; i < accesses.length; i += 500) {
      const results = await ehr.submit(accesses.slice(i, i + 500));
      last = Math.max(last, ...results.map((r) => r.index));
    }
    const seconds = (performance.now() - t0) / 1000;
    await ehr.waitForCheckpoint(last + 1);
    const emergencies = accesses.filter((a) => a.emergency).length;
    const printsCopies = accesses.filter((a) => a.action === "print" || a.action === "copy").length;
    step(4, `The EHR sends a week of accesses: ${n(accesses.length)} records in ${seconds.toFixed(1)} s.`);
    io.out(
      `   daytime peaks, ${emergencies} emergency (break-the-glass) accesses, ${printsCopies} prints and copies`,
    );
    io.out(
      "   each is acknowledged only once durable and in the Merkle tree; each is encrypted (AES-256-GCM)",
    );
    io.out(
      "   under its patient's key, which is wrapped (HPKE) for the patient, the granted companies and the custodian",
    );
    const receipt = await ehr.receipt(last);
    io.out(
      `   receipt for entry ${receipt.index}: inclusion proof verified against the checkpoint of size ${n(receipt.checkpoint.size)}, cosigned by ${receipt.checkpoint.cosigners.length} witnesses`,
    );

    step(5, "Each patient reads their own history, verified and decrypted on their side:");
    for (const [id, name] of PATIENTS) {
      const trail = await client(id).trail({ limit: 5000 });
      const urgent = trail.records.filter((r) => r.record.emergency).length;
      const latest = trail.records[0]?.record;
      io.out(
        `   ${name.padEnd(14)} ${String(trail.records.length).padStart(5)} accesses, ${urgent} emergency; latest: ${latest ? `${latest.time.slice(0, 16)} ${latest.action} by ${latest.userId}` : "none"}`,
      );
    }

    step(6, "Each audit company reads the patients it is granted:");
    for (const company of Object.keys(COMPANIES)) {
      const view = await client(company).auditTrails({ limit: 5000 });
      const records = view.patients.flatMap((p) => p.result?.records ?? []);
      const perUser = new Map<string, number>();
      for (const r of records) perUser.set(r.record.userId, (perUser.get(r.record.userId) ?? 0) + 1);
      const top = [...perUser].sort((a, b) => b[1] - a[1])[0];
      const nights = records.filter((r) => {
        const h = new Date(r.record.time).getUTCHours();
        return h < 6 || h >= 22;
      }).length;
      io.out(
        `   ${company.padEnd(20)} ${view.patients.length} patients, ${n(records.length)} accesses; busiest user ${top?.[0]} (${top?.[1]}); ${nights} at night (22-06 UTC)`,
      );
    }
    try {
      await client("acme-audit").trail({ patientId: "MRN1004" });
      io.out("   acme-audit read Dawit's trail (this should not happen)");
    } catch (error) {
      io.out(
        `   acme-audit asks for Dawit Bekele (MRN1004), not granted: refused (${(error as { code: string }).code}), and the refusal is logged`,
      );
    }
    step(7, "Dawit reads who looked at his trail (the meta-audit, sealed to him):");
    // What was just recorded is served once a witnessed checkpoint covers it (about a second).
    let history = await client("MRN1004").queryHistory();
    for (let i = 0; i < 40 && !history.some((h) => h.kind === "refusal"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      history = await client("MRN1004").queryHistory();
    }
    history.sort((a, b) => Date.parse(a.body.time) - Date.parse(b.body.time));
    for (const notice of history) {
      const what =
        notice.kind === "query"
          ? `read it (${notice.body.returned} entries)`
          : `was REFUSED (${notice.body.reason})`;
      io.out(`   ${notice.body.time.slice(11, 19)}  ${notice.body.requester}  ${what}`);
    }

    const scene: DemoScene = {
      io,
      step,
      root,
      data,
      masterKey,
      ids,
      patients: PATIENTS.map(([id]) => id),
      witnesses,
      witnessFlags,
      origin,
      accesses,
      client,
      node,
    };
    await operatorFork(scene);
    await diskEdit(scene);
  } finally {
    await node.server.close().catch(() => undefined);
    await node.deployment.close().catch(() => undefined);
  }

  // The node comes back; Alice's next query refuses the altered entry.
  const reopened = await Deployment.open(data, masterKey);
  const again = await startServer({
    deployment: reopened,
    identity: ids.get("node-1")!,
    api: options.serve?.api ?? { host: "127.0.0.1", port: 0 },
    ...(options.serve ? { portal: options.serve.portal } : {}),
    verifyEveryMs: 0,
    witnesses: witnessFlags,
  });
  let serving = false;
  try {
    await client("MRN1001", `https://127.0.0.1:${again.api.port}`).trail({ limit: 5000 });
    io.out("   Alice's next query: accepted (this should not happen)");
  } catch (error) {
    const named =
      error instanceof VerificationError || (error as { code?: string }).code === "TAMPERED_ENTRY";
    io.out(`   Alice's next query: ${named ? "REFUSED" : "failed"}: ${(error as Error).message}`);
    serving = options.serve !== undefined;
  } finally {
    if (!serving) {
      await again.close();
      await reopened.close();
      for (const w of witnesses) await w.stop();
    }
  }

  const file = readFileSync(join(data, SQLITE_FILE_NAME));
  const leaks = [...PATIENTS.map(([id]) => id), ...DEMO_USERS].filter((s) => file.includes(Buffer.from(s)));
  io.out(
    `\nThe database file holds no patient or user ID: ${leaks.length === 0 ? "checked, none found" : `FOUND ${leaks.join(", ")}`}.`,
  );
  io.out(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s. Files in ${root}:`);
  io.out(`   node/           the node's data (log, keystore, CA); master key in master.key`);
  io.out(`   *.custos-id     identity bundles, passphrase "${DEMO_PASSPHRASE}"`);
  printExploreFurther(io, root, data, masterKeyFile);
  if (!serving || !again.portal) {
    io.out("\nThe browser portal (patients' and audit companies' view): run the demo with --serve,");
    io.out("   npm run demo -- --serve      (the node, its witnesses and the portal stay up until Ctrl-C)");
    return;
  }
  printPortalInvitation(io, root, { ...again, portal: again.portal });
  io.out("Serving until Ctrl-C.");
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await again.close();
  await reopened.close();
  for (const w of witnesses) await w.stop();
}
