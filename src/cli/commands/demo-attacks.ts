// The demo's two attacks, both caught. The operator forks its own log (a copy of the node given
// another past, signed with the same key): the witnesses refuse it and keep the evidence, the real
// node learns of it by gossip, a patient's client refuses the copy. Then an attacker edits a
// ciphertext in the database file: `custos verify` names the entry.

import { createHash } from "node:crypto";
import { cpSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { CustosClient } from "../../client/index.js";
import { MtlsClient } from "../../client/index.js";
import { fromBase64 } from "../../core/index.js";
import type { MasterKeyProvider } from "../../crypto/keystore/index.js";
import type { Identity } from "../../identity/index.js";
import { Deployment } from "../../identity/index.js";
import { SQLITE_FILE_NAME, SqliteStore, verifyStore } from "../../ledger/index.js";
import { type RunningServer, startServer } from "../../node/index.js";
import type { WitnessEndpoint } from "../../witness/index.js";
import type { Io } from "../io.js";
import { type DemoRecord, demoAccesses } from "./demo-data.js";
import type { DemoWitness } from "./demo-witnesses.js";

/** The node the story runs on; the fork scene restarts it (new server, new address). */
export interface DemoNode {
  deployment: Deployment;
  server: RunningServer;
  url: string;
}

export interface DemoScene {
  readonly io: Io;
  readonly step: (k: number, text: string) => void;
  readonly root: string;
  /** The node's data directory. */
  readonly data: string;
  readonly masterKey: MasterKeyProvider;
  readonly ids: ReadonlyMap<string, Identity>;
  readonly patients: readonly string[];
  readonly witnesses: readonly DemoWitness[];
  readonly witnessFlags: readonly WitnessEndpoint[];
  /** The log's origin. */
  readonly origin: string;
  /** What the EHR sent. */
  readonly accesses: readonly DemoRecord[];
  /** A verifying client for an identity, against the node at `at`. */
  readonly client: (id: string, at: string) => CustosClient;
  readonly node: DemoNode;
}

const n = (x: number) => x.toLocaleString("en-US");

/** Step 8: the operator's same-size fork, caught by the witnesses, by gossip and by a patient's client. */
export async function operatorFork(scene: DemoScene): Promise<void> {
  const {
    io,
    step,
    root,
    data,
    masterKey,
    ids,
    patients,
    witnesses,
    witnessFlags,
    origin,
    accesses,
    client,
    node,
  } = scene;
  step(
    8,
    "The operator itself rewrites history: it copies its node (same log, same signing key) and gives the copy another past.",
  );
  await node.server.close();
  await node.deployment.close();
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
  node.deployment = await Deployment.open(data, masterKey);
  node.server = await startNode(node.deployment);
  node.url = `https://127.0.0.1:${node.server.api.port}`;
  const more = demoAccesses(patients, 60, Date.now() - 60_000, 1).map((r, i) => ({
    ...r,
    sourceEventId: `ehr-late-${i}`,
  }));
  const honestLast = Math.max(...(await client("stmary-ehr", node.url).submit(more)).map((r) => r.index));
  await client("stmary-ehr", node.url).waitForCheckpoint(honestLast + 1);
  await client("MRN1001", node.url).trail({ limit: 1 });
  io.out(`   the real node carries on: 60 more accesses, witnessed (log size ${n(honestLast + 1)})`);
  const forkDeployment = await Deployment.open(forkDir, masterKey);
  const forkServer = await startNode(forkDeployment);
  const forkUrl = `https://127.0.0.1:${forkServer.api.port}`;
  try {
    // The copy grows to exactly the size the witnesses hold, with another history: a same-size fork.
    const held = async () => {
      for (let i = 0; i < 40; i++) {
        const own = (await node.deployment.vault.ledger.latestCheckpoint())?.size;
        const entries = await node.deployment.vault.ledger.size();
        const sizes = witnesses.map((w) => Number(w.store.latest(origin)?.size ?? -1));
        if (own === entries && sizes.every((size) => size === own)) return own;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return Math.max(...witnesses.map((w) => Number(w.store.latest(origin)?.size ?? 0)));
    };
    const target = await held();
    const start = await forkDeployment.vault.ledger.size();
    // Copies of accesses the copy already holds (their patients' epoch keys exist): one entry each.
    const perPatient = patients.map((id) => accesses.find((r) => r.patientId === id)!).filter(Boolean);
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
    const realAuditor = new MtlsClient(node.url, ids.get("acme-audit")!);
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
}

/** Step 9: one byte of a ciphertext changed in the database file; `custos verify` names the entry. */
export async function diskEdit(scene: DemoScene): Promise<void> {
  const { io, step, data, ids, node } = scene;
  step(9, "An attacker with access to the disk edits one of Alice's records directly in the database file:");
  const alice = await new MtlsClient(node.url, ids.get("MRN1001")!).call<{
    items: { index: number; content: string | null; entry: string }[];
  }>("POST", "/v1/trail", { limit: 50 });
  const victim = alice.items.find((i) => i.content !== null && fromBase64(i.entry)[1] === 0x02)!;
  await node.server.close();
  await node.deployment.close();
  const db = new Database(join(data, SQLITE_FILE_NAME));
  const content = Buffer.from(fromBase64(victim.content!));
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
}
