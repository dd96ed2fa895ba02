// The client commands as real processes against a real node: remote ingest, query (table, JSON, FHIR),
// query-history and receipt, with refusals reported and a non-zero exit.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { runCli } from "./run-cli.js";

let env: TestDeployment;
const cli = (args: string[], input?: string) =>
  runCli(args, {
    env: { CUSTOS_BUNDLE_PASSPHRASE: PASS, CUSTOS_SERVER: `https://127.0.0.1:${env.apiPort}` },
    ...(input !== undefined ? { input } : {}),
  });
const bundle = (id: string) => join(env.root, `${id}.custos-id`);

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["custodian", "privacy"],
      ["admin", "adm"],
      ["auditor", "A1"],
    ],
    grants: [{ auditor: "A1", patients: ["P1"] }],
    masterKeyFill: 21,
  });
  await env.start();
}, 120_000);

afterAll(async () => {
  await env.cleanup();
});

describe("the client commands", () => {
  it("ingests NDJSON over mutual TLS, then patients and audit companies query it", async () => {
    const lines = Array.from({ length: 30 }, (_, i) =>
      JSON.stringify({
        time: new Date(Date.UTC(2026, 10, 22, 8 + (i % 10))).toISOString(),
        patientId: i % 3 === 0 ? "P2" : "P1",
        userId: `dr-${i % 3}`,
        action: i % 5 === 0 ? "print" : "query",
        sourceEventId: `e-${i}`,
      }),
    ).join("\n");
    const sent = cli(["ingest", "-", "--as", bundle("emr"), "--batch", "7"], lines);
    expect(sent.stderr).toBe("");
    expect(sent.stdout).toMatch(/sent 30 record\(s\): 30 stored, 0 already present/);
    const again = cli(["ingest", "-", "--as", bundle("emr")], lines);
    expect(again.stdout).toMatch(/0 stored, 30 already present/);
    // Served once a signed checkpoint covers them (1 s interval; longer on a loaded machine).
    let mine = cli(["query", "--as", bundle("P1")]);
    for (let i = 0; i < 40 && !/\b20 access\(es\)/.test(mine.stdout); i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      mine = cli(["query", "--as", bundle("P1")]);
    }
    expect(mine.status).toBe(0);
    expect(mine.stdout).toMatch(
      /20 access\(es\), newest first; every entry verified against the signed log of size \d+/,
    );
    expect(mine.stdout).not.toMatch(/\bP2\b/);

    const prints = JSON.parse(cli(["query", "--as", bundle("P1"), "--action", "print", "--json"]).stdout);
    expect(prints.records.every((r: { action: string }) => r.action === "print")).toBe(true);
    expect(prints.records.length).toBe(4);

    const fhir = JSON.parse(cli(["query", "--as", bundle("A1"), "--patient", "P1", "--fhir"]).stdout);
    expect(fhir).toMatchObject({ resourceType: "Bundle", type: "searchset", total: 20 });

    const mixed = cli(["query", "--as", bundle("A1"), "--patient", "P1", "P2"]);
    expect(mixed.status).toBe(1);
    expect(mixed.stderr).toContain("refused: P2 (NOT_AUTHORIZED)");
    expect(mixed.stdout).toMatch(/20 access\(es\)/);
  });

  it("shows a patient who read their trail and who was refused", async () => {
    let history = cli(["query-history", "--as", bundle("P2")]);
    for (let i = 0; i < 40 && !/REFUSED/.test(history.stdout); i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      history = cli(["query-history", "--as", bundle("P2")]);
    }
    expect(history.status).toBe(0);
    expect(history.stdout).toMatch(
      /custos:\/\/stmary\/auditor\/A1 +auditor +read-trail +REFUSED \(NOT_AUTHORIZED\)/,
    );
  });

  it("gives verified receipts and fails clearly without a passphrase or server", () => {
    const receipt = cli(["receipt", "3", "--as", bundle("emr")]);
    expect(receipt.stdout).toMatch(/entry 3 \(leaf hash .*\) is in the log: verified/);
    const proof = cli(["receipt", "3", "--as", bundle("emr"), "--tlog-proof"]);
    expect(proof.stdout).toMatch(/^c2sp.org\/tlog-proof@v1\nindex 3\n/);
    const noPass = runCli(["query", "--as", bundle("P1"), "--server", "https://127.0.0.1:1"]);
    expect(noPass.status).toBe(2);
    expect(noPass.stderr).toMatch(/^error: no bundle passphrase/);
    const wrong = runCli(["query", "--as", bundle("P1"), "--server", "https://127.0.0.1:1"], {
      env: { CUSTOS_BUNDLE_PASSPHRASE: "not the passphrase" },
    });
    expect(wrong.stderr).toMatch(/^error: the passphrase does not open/);
  });
});
