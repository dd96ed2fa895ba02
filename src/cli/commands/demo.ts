// `custos demo` (npm run demo): a whole deployment on one machine, in a temp directory, told as a
// story: the CA and identities, a node serving over mutual TLS, an EHR feeding a week of accesses,
// patients and audit companies reading (verified, decrypted locally), a refusal the patient sees, the
// query history, then an attacker editing the database and both `verify` and the next client query
// naming the entry. Uses the same library calls as the real commands.

import { cpSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Command } from "commander";
import { CustosClient, VerificationError } from "../../client/custos-client.js";
import { MtlsClient } from "../../client/mtls-client.js";
import { fromBase64 } from "../../core/bytes.js";
import { createKeyFile, KeyFileProvider } from "../../crypto/keystore/index.js";
import { Identity, writeBundle } from "../../identity/bundle.js";
import { Deployment } from "../../identity/deployment.js";
import type { Role } from "../../identity/roles.js";
import { initDataDir } from "../../ledger/data-dir.js";
import { SQLITE_FILE_NAME, SqliteStore } from "../../ledger/sqlite/sqlite-store.js";
import { verifyStore } from "../../ledger/verify/verifier.js";
import { writePortalSettings } from "../../service/portal-settings.js";
import { type Listen, startServer } from "../../service/server.js";
import { startWitnessServer } from "../../witness/witness-server.js";
import { initWitnessDir, loadCosignerKey, WitnessStore } from "../../witness/witness-store.js";
import type { Io } from "../io.js";
import { parseCount, parseListen } from "../options.js";
import { DEMO_USERS, demoAccesses } from "./demo-data.js";

/** One passphrase for every demo bundle; a real deployment gives each holder their own. */
export const DEMO_PASSPHRASE = "demo passphrase, not for real use";

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
  let deployment = await Deployment.initCa(data, masterKey, "stmary");
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
  const witnesses: {
    id: string;
    url: string;
    key: string;
    store: WitnessStore;
    stop: () => Promise<void>;
  }[] = [];
  for (const company of Object.keys(COMPANIES)) {
    const id = `${company}-witness`;
    const dir = join(root, id);
    await initWitnessDir(dir, { name: `witness.${company}.example`, masterKey });
    const store = WitnessStore.open(dir);
    store.addLogKey(origin, verifierKey);
    const tls = ids.get(id)!.tlsOptions();
    const running = await startWitnessServer({
      store,
      cosignerKey: await loadCosignerKey(dir, masterKey, store.meta),
      tls: { key: tls.key.export({ type: "pkcs8", format: "pem" }).toString(), cert: tls.cert },
    });
    witnesses.push({
      id,
      url: `https://127.0.0.1:${running.port}`,
      key: running.verifierKey,
      store,
      stop: async () => {
        await running.close();
        store.close();
      },
    });
  }
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
  let server = await startServer({
    deployment,
    identity: ids.get("node-1")!,
    api: { host: "127.0.0.1", port: 0 },
    portal: { host: "127.0.0.1", port: 0 },
    verifyEveryMs: 0,
    witnesses: witnessFlags,
  });
  let url = `https://127.0.0.1:${server.api.port}`;
  const client = (id: string, at = url) =>
    new CustosClient({
      url: at,
      identity: ids.get(id)!,
      statePath: join(root, `${id}.state.json`),
      witnesses: witnessed,
    });
  try {
    step(
      3,
      `The node serves its API over mutual TLS 1.3 at ${url}: no certificate from this CA, no connection.`,
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

    step(
      8,
      "The operator itself rewrites history: it copies its node (same log, same signing key) and gives the copy another past.",
    );
    await server.close();
    await deployment.close();
    const forkDir = join(root, "forked-node");
    cpSync(data, forkDir, { recursive: true });
    const startNode = async (d: Deployment) =>
      startServer({
        deployment: d,
        identity: ids.get("node-1")!,
        api: { host: "127.0.0.1", port: 0 },
        verifyEveryMs: 0,
        witnesses: witnessFlags,
        gossipEveryMs: 500,
      });
    deployment = await Deployment.open(data, masterKey);
    server = await startNode(deployment);
    url = `https://127.0.0.1:${server.api.port}`;
    const more = demoAccesses(
      PATIENTS.map(([id]) => id),
      60,
      Date.now() - 60_000,
      1,
    ).map((r, i) => ({ ...r, sourceEventId: `ehr-late-${i}` }));
    const honestLast = Math.max(...(await client("stmary-ehr").submit(more)).map((r) => r.index));
    await client("stmary-ehr").waitForCheckpoint(honestLast + 1);
    await client("MRN1001").trail({ limit: 1 });
    io.out(`   the real node carries on: 60 more accesses, witnessed (log size ${n(honestLast + 1)})`);
    const forkDeployment = await Deployment.open(forkDir, masterKey);
    const forkServer = await startNode(forkDeployment);
    const forkUrl = `https://127.0.0.1:${forkServer.api.port}`;
    try {
      // The copy grows to exactly the size the witnesses hold, with another history: a same-size fork.
      const held = async () => {
        for (let i = 0; i < 40; i++) {
          const own = (await deployment.vault.ledger.latestCheckpoint())?.size;
          const entries = await deployment.vault.ledger.size();
          const sizes = witnesses.map((w) => Number(w.store.latest(origin)?.size ?? -1));
          if (own === entries && sizes.every((size) => size === own)) return own;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        return Math.max(...witnesses.map((w) => Number(w.store.latest(origin)?.size ?? 0)));
      };
      const target = await held();
      const start = await forkDeployment.vault.ledger.size();
      // Copies of accesses the copy already holds (their patients' epoch keys exist): one entry each.
      const perPatient = PATIENTS.map(([id]) => accesses.find((r) => r.patientId === id)!).filter(Boolean);
      const rewritten = [...perPatient, ...accesses.slice(-Math.max(1, target - start))].map((r, i) => ({
        ...r,
        userId: "nobody",
        sourceEventId: `ehr-rewritten-${i}`,
      }));
      let used = 0;
      for (let size = start; size < target && used < rewritten.length; ) {
        const remaining = target - size;
        // First one record per patient (it may open key epochs: envelope entries), then top up.
        const first = used === 0 ? new Set(rewritten.map((r) => r.patientId)).size : 0;
        const batch = rewritten.slice(used, used + (first || (remaining > 10 ? remaining - 10 : 1)));
        used += batch.length;
        await forkDeployment.vault.ingest(batch, "stmary-ehr");
        size = await forkDeployment.vault.ledger.size();
      }
      const length = (await forkDeployment.vault.ledger.size()) - start;
      io.out(
        `   the copy signs a checkpoint over a different history (${length} accesses that never happened)`,
      );
      const auditor = new MtlsClient(forkUrl, ids.get("acme-audit")!);
      let alerts: { witness: string; reason: string }[] = [];
      for (let i = 0; i < 60 && alerts.filter((a) => /refused/.test(a.reason)).length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        alerts = (await auditor.call<{ alerts: { witness: string; reason: string }[] }>("GET", "/v1/alerts"))
          .alerts;
      }
      for (const alert of alerts.filter((a) => /refused/.test(a.reason)).slice(0, 2)) {
        io.out(`   witness at ${alert.witness} ${alert.reason.replace(/^the witness /, "")}`);
      }
      for (const w of witnesses) {
        const evidence = w.store.evidence(origin);
        const last = evidence[evidence.length - 1];
        if (last) {
          io.out(
            `   ${w.id} keeps the evidence: two checkpoints signed with the log's key that cannot both be true (sizes ${last.heldSize} and ${last.submittedSize})`,
          );
        }
      }
      // The real node reads the witnesses' evidence (gossip) and proves the fork against its own tree.
      const realAuditor = new MtlsClient(url, ids.get("acme-audit")!);
      let gossiped: { id: number; size: number; kind?: string; source?: string }[] = [];
      for (let i = 0; i < 40 && gossiped.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        gossiped = (
          await realAuditor.call<{ alerts: { id: number; size: number; kind?: string; source?: string }[] }>(
            "GET",
            "/v1/alerts",
          )
        ).alerts.filter((a) => a.source === "gossip");
      }
      const found = gossiped[0];
      io.out(
        found
          ? `   the real node learns of it by gossip from the witnesses' evidence: alert ${found.id} (${found.kind}) lists both checkpoints of size ${found.size}, for the audit companies until acknowledged`
          : "   the real node did not learn of the fork by gossip (this should not happen)",
      );
      try {
        await client("MRN1001", forkUrl).trail({ limit: 5000 });
        io.out("   Alice's client accepted the copy (this should not happen)");
      } catch (error) {
        io.out(`   Alice's client refuses the copy: ${(error as Error).message}`);
      }
    } finally {
      await forkServer.close();
      await forkDeployment.close();
    }

    step(
      9,
      "An attacker with access to the disk edits one of Alice's records directly in the database file:",
    );
    const alice = await new MtlsClient(url, ids.get("MRN1001")!).call<{
      items: { index: number; content: string | null; entry: string }[];
    }>("POST", "/v1/trail", { limit: 50 });
    const victim = alice.items.find((i) => i.content !== null && fromBase64(i.entry)[1] === 0x02)!;
    await server.close();
    await deployment.close();
    const db = new Database(join(data, SQLITE_FILE_NAME));
    const content = Buffer.from(fromBase64(victim.content!));
    const { createHash } = await import("node:crypto");
    const hash = createHash("sha256").update(content).digest();
    const original = Buffer.from(content);
    content[content.length - 5]! ^= 0x20;
    // Everywhere the ciphertext is stored: the log's contents and the copy in the patient's trail index.
    db.prepare("UPDATE contents SET data = ? WHERE hash = ?").run(content, hash);
    db.prepare("UPDATE lookup SET content = ? WHERE idx = ? AND content = ?").run(
      content,
      victim.index,
      original,
    );
    db.close();
    io.out(`   one byte of the ciphertext of entry ${victim.index} changed in ${SQLITE_FILE_NAME}`);
    const store = SqliteStore.open(data, { readonly: true });
    const report = await verifyStore(store);
    await store.close();
    io.out(
      `   custos verify: ${report.ok ? "no problem found (this should not happen)" : "TAMPERING DETECTED"}`,
    );
    for (const finding of report.findings.slice(0, 3)) io.out(`   - [${finding.code}] ${finding.message}`);
  } finally {
    await server.close().catch(() => undefined);
    await deployment.close().catch(() => undefined);
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
  io.out("\nExplore further:");
  const env = `CUSTOS_BUNDLE_PASSPHRASE='${DEMO_PASSPHRASE}'`;
  io.out(`   node bin/custos.js verify --data ${data}`);
  io.out(
    `   ${env} node bin/custos.js serve --data ${data} --master-key-file ${masterKeyFile} --identity ${join(root, "node-1.custos-id")} --listen 127.0.0.1:8443 --portal 127.0.0.1:8444`,
  );
  io.out(
    `   ${env} node bin/custos.js query --server https://127.0.0.1:8443 --as ${join(root, "MRN1002.custos-id")}`,
  );
  io.out(
    `   ${env} node bin/custos.js query --server https://127.0.0.1:8443 --as ${join(root, "northwind-assurance.custos-id")} --emergency`,
  );
  io.out(
    `   ${env} node bin/custos.js query-history --server https://127.0.0.1:8443 --as ${join(root, "MRN1003.custos-id")}`,
  );
  const bundle = (id: string) => join(root, `${id}.custos-id`);
  if (!serving || !again.portal) {
    io.out("\nThe browser portal (patients' and audit companies' view): run the demo with --serve,");
    io.out("   npm run demo -- --serve      (the node, its witnesses and the portal stay up until Ctrl-C)");
    return;
  }
  io.out(
    "\nThe browser portal is up (patients' and audit companies' view, verified and decrypted in the page):",
  );
  io.out(`   https://${again.portal.host}:${again.portal.port}/`);
  io.out(
    `   its certificate is self-signed; check its SHA-256 SPKI fingerprint: ${again.portalCertificate?.fingerprint ?? "(operator certificate)"}`,
  );
  io.out(`   sign in with one of these bundle files, passphrase "${DEMO_PASSPHRASE}":`);
  io.out(`     ${bundle("MRN1002")}   Bogdan, a patient`);
  io.out(`     ${bundle("MRN1001")}   Alice, whose trail holds the entry the attacker edited`);
  io.out(`     ${bundle("acme-audit")}   an audit company (Alice, Bogdan, Chiara)`);
  io.out(`     ${bundle("northwind-assurance")}   an audit company (Chiara, Dawit, Emma)`);
  io.out(`   the API (mutual TLS): https://${again.api.host}:${again.api.port}`);
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
