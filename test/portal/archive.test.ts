// The page's archive opening (portal/src/lib/archive.ts) under Node, on an archive the command line
// wrote for a regulator: the records the regulator's key opens, where the witness keys come from (and
// saying so when there are none), an identity the archive is not for, a changed byte refused before
// any key is unlocked, a witness quorum the archive lacks, and a bundle without the log's key.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveRefusedError, openArchiveFile } from "../../portal/src/lib/archive.js";
import type { PortalConfig } from "../../portal/src/lib/types.js";
import type { Io } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { generateCosignerKey } from "../../src/core/note/index.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;
let archive: Uint8Array;
let cliRecords: { index: number; userId: string }[];
const HOUR = 3_600_000;
const T0 = Math.floor((Date.now() - 3 * 24 * HOUR) / HOUR) * HOUR;

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    stdin: Readable.from([]),
    out: (line) => out.push(`${line}\n`),
    outRaw: (text) => out.push(text),
    err: (line) => err.push(`${line}\n`),
    isTTY: false,
  };
  const saved = { ...process.env };
  process.env.CUSTOS_BUNDLE_PASSPHRASE = PASS;
  process.env.CUSTOS_MASTER_KEY = env.masterKey;
  try {
    const status = await main(args, io);
    return { status, stdout: out.join(""), stderr: err.join("") };
  } finally {
    process.env = saved;
  }
}

const bundleText = (id: string) => readFileSync(join(env.root, `${id}.custos-id`), "utf8");
const logKeyOf = (id: string) =>
  (JSON.parse(bundleText(id)) as { log: { verifierKey: string } }).log.verifierKey;

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["custodian", "privacy"],
      ["auditor", "regulator"],
    ],
    masterKeyFill: 31,
  });
  const records = ["P1", "P2", "P1"].map((patientId, i) => ({
    time: new Date(T0 + i * 60_000).toISOString(),
    patientId,
    userId: `dr-${i}`,
    action: "query",
  }));
  const file = join(env.root, "records.ndjson");
  writeFileSync(file, records.map((r) => JSON.stringify(r)).join("\n"));
  expect((await cli(["ingest", file, "--data", env.data, "--source", "emr"])).status).toBe(0);
  const out = join(env.root, "regulator.custos-archive");
  const made = await cli([
    "archive",
    "--data",
    env.data,
    "--from",
    new Date(T0).toISOString(),
    "--to",
    new Date(T0 + HOUR).toISOString(),
    "--for",
    "auditor/regulator",
    "--as",
    join(env.root, "privacy.custos-id"),
    "--out",
    out,
  ]);
  expect(made.stderr).toBe("");
  archive = new Uint8Array(readFileSync(out));
  const read = await cli([
    "read",
    "--archive",
    out,
    "--log-key",
    logKeyOf("regulator"),
    "--as",
    join(env.root, "regulator.custos-id"),
    "--json",
  ]);
  cliRecords = (JSON.parse(read.stdout) as { records: { index: number; userId: string }[] }).records;
}, 120_000);

afterAll(async () => {
  await env.cleanup();
});

function config(overrides: Partial<PortalConfig> = {}): PortalConfig {
  return {
    deployment: "stmary",
    node: "custos://stmary/node/n1",
    log: { origin: "e2e.custos.example/log", verifierKey: logKeyOf("regulator") },
    witnesses: { keys: [], quorum: 0 },
    ...overrides,
  };
}

async function refusal(promise: Promise<unknown>): Promise<ArchiveRefusedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArchiveRefusedError);
  return error as ArchiveRefusedError;
}

describe("opening an archive in the page", () => {
  it("opens the records custos read --archive opens, and says no witness keys were used", async () => {
    const opened = await openArchiveFile({ name: "a", bytes: archive }, bundleText("regulator"), PASS, null);
    expect(cliRecords).toHaveLength(3);
    expect(opened.rows.map((r) => [r.index, r.record.userId]).sort()).toEqual(
      cliRecords.map((r) => [r.index, r.userId]).sort(),
    );
    expect(opened.addressedToMe).toBe(true);
    expect(opened.summary).toMatchObject({ records: 3, witnessedSize: 0 });
    expect(opened.trust.noWitnesses).toMatch(/carry no witness keys.*could not read the portal's settings/);
    expect(opened.file.sha256).toMatch(/^[0-9a-f]{64}$/);
    const again = await openArchiveFile(
      { name: "a", bytes: archive },
      bundleText("regulator"),
      PASS,
      config(),
    );
    expect(again.trust.noWitnesses).toMatch(/names no witness for this log/);
    const other = await openArchiveFile(
      { name: "a", bytes: archive },
      bundleText("regulator"),
      PASS,
      config({ log: { origin: "other", verifierKey: "other+00000000+AQ==" } }),
    );
    expect(other.trust.noWitnesses).toMatch(/serves another log/);
  });

  it("opens nothing for an identity the archive is not made for, and says so", async () => {
    const opened = await openArchiveFile({ name: "a", bytes: archive }, bundleText("P1"), PASS, null);
    expect(opened.rows).toEqual([]);
    expect(opened.addressedToMe).toBe(false);
    expect(opened.notReadable).toBe(3);
  });

  it("refuses a changed byte, naming the signature, before any key is unlocked", async () => {
    const changed = archive.slice();
    changed[200] = changed[200]! ^ 1;
    // A wrong passphrase would fail the unlock: the refusal comes first.
    const refused = await refusal(
      openArchiveFile({ name: "t", bytes: changed }, bundleText("regulator"), "wrong", null),
    );
    expect(refused.problems.map((p) => p.code)).toEqual(["ARCHIVE_SIGNATURE"]);
    expect(refused.file.name).toBe("t");
  });

  it("refuses an archive without the cosignatures the portal requires for this log", async () => {
    const witness = generateCosignerKey("w.example/w1").verifierKey;
    const refused = await refusal(
      openArchiveFile(
        { name: "a", bytes: archive },
        bundleText("regulator"),
        PASS,
        config({ witnesses: { keys: [witness], quorum: 1 } }),
      ),
    );
    expect(refused.problems.map((p) => p.code)).toContain("WITNESS_QUORUM_MISSING");
  });

  it("refuses a bundle without the log's key plainly", async () => {
    const json = JSON.parse(bundleText("regulator")) as Record<string, unknown>;
    delete json.log;
    await expect(
      openArchiveFile({ name: "a", bytes: archive }, JSON.stringify(json), PASS, null),
    ).rejects.toMatchObject({
      code: "BAD_BUNDLE",
      message: expect.stringMatching(/does not carry the log's key/),
    });
  });
});
