// Archives end to end through the `custos` command line on a real SQLite deployment (the offline steps
// as real processes): written for a
// regulator (keys re-wrapped by the custodian), verified offline with nothing but the log's key,
// opened offline with the regulator's bundle, every tampering with the file caught and located,
// erased content left out of a later archive, and retention refusing to expire what no archive holds.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Io } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import {
  encodeArchive,
  frameArchive,
  parseArchiveBody,
  verifyArchive,
} from "../../src/core/archive/index.js";
import { decodeOperatorActionEntry, ENTRY_KINDS } from "../../src/core/entry/index.js";
import { generateCosignerKey, generateSignerKey, signNote } from "../../src/core/note/index.js";
import { ed25519Verify } from "../../src/core/platform.js";
import { EnvProvider } from "../../src/crypto/keystore/index.js";
import { loadSignerKey, openLogReadOnly } from "../../src/ledger/data-dir.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { type CliResult, runCli } from "./run-cli.js";

let env: TestDeployment;
let logKey: string;
/** The offline steps run as real processes, as a regulator's machine would run them. */
const offline = (args: string[]) =>
  runCli(args, { env: { CUSTOS_BUNDLE_PASSPHRASE: PASS, CUSTOS_MASTER_KEY: env.masterKey } });
/** The node-side steps run the same command line in this process (each one a process costs seconds). */
async function cli(args: string[]): Promise<CliResult> {
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
const bundle = (id: string) => join(env.root, `${id}.custos-id`);
const HOUR = 3_600_000;
// Ten days ago, at the start of an hour: past a one-day retention on any clock.
const T0 = Math.floor((Date.now() - 10 * 24 * HOUR) / HOUR) * HOUR;

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["custodian", "privacy"],
      ["auditor", "regulator"],
    ],
    masterKeyFill: 23,
  });
  // Records on three days, each day's in its own process, so each patient's day is a key epoch of
  // its own (epoch keys live in memory only); the archive takes the first two days.
  for (const day of [0, 1, 2]) {
    const records = ["P1", "P2"].map((patientId, i) => ({
      time: new Date(T0 + day * 24 * HOUR + i * 60_000).toISOString(),
      patientId,
      userId: `dr-${day}-${i}`,
      action: "query",
    }));
    const file = join(env.root, `records-${day}.ndjson`);
    writeFileSync(file, records.map((r) => JSON.stringify(r)).join("\n"));
    expect((await cli(["ingest", file, "--data", env.data, "--source", "emr"])).status).toBe(0);
  }
  const ledger = await openLogReadOnly(env.data);
  logKey = ledger.meta.verifierKey;
  await ledger.close();
}, 120_000);

afterAll(async () => {
  await env.cleanup();
});

const range = ["--from", new Date(T0).toISOString(), "--to", new Date(T0 + 2 * 24 * HOUR).toISOString()];

describe("custos archive", () => {
  it("needs the custodian to give a reader without keys its envelopes, then writes an archive that verifies and opens offline", async () => {
    const out = join(env.root, "first.custos-archive");
    const refused = await cli([
      "archive",
      "--data",
      env.data,
      ...range,
      "--for",
      "auditor/regulator",
      "--out",
      out,
    ]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/regulator holds no key for 4 epoch\(s\).*pass --as/);

    const made = await cli([
      "archive",
      "--data",
      env.data,
      ...range,
      "--for",
      "auditor/regulator",
      "--out",
      out,
      "--as",
      bundle("privacy"),
    ]);
    expect(made.stderr).toBe("");
    expect(made.stdout).toMatch(/archived 4 record\(s\), 4 key envelope\(s\) for 1 reader\(s\)/);
    expect(made.stdout).toMatch(/re-wrapped 4 epoch key/);

    const verified = offline(["verify-archive", out, "--log-key", logKey]);
    expect(verified.status).toBe(0);
    expect(verified.stdout).toMatch(/4 record\(s\), 4 key envelope\(s\), 0 erasure entries/);
    expect(verified.stdout).toContain("OK: the archive verifies");

    const read = offline([
      "read",
      "--archive",
      out,
      "--log-key",
      logKey,
      "--as",
      bundle("regulator"),
      "--json",
    ]);
    expect(read.stderr).toBe("");
    const opened = JSON.parse(read.stdout) as { records: { patientId: string; userId: string }[] };
    expect(opened.records.map((r) => r.userId).sort()).toEqual(["dr-0-0", "dr-0-1", "dr-1-0", "dr-1-1"]);
    // A patient not named as a reader holds no envelope in it: nothing opens.
    const p1 = await cli(["read", "--archive", out, "--log-key", logKey, "--as", bundle("P1"), "--json"]);
    expect(JSON.parse(p1.stdout).records).toEqual([]);
    // Retention counts on it: it is recorded in the log, as an operator action signed by the
    // custodian who made it, naming the range, the anchor's size, the file's hash and the readers.
    expect(made.stdout).toMatch(
      /recorded in the log as entry \d+ \(sha256 [0-9a-f]{64}\): retention counts it/,
    );
    const status = await cli(["retention", "status", "--data", env.data, "--json"]);
    const archives = JSON.parse(status.stdout).archives as { index: number; sha256: string }[];
    expect(archives).toHaveLength(1);
    expect(archives[0]!.sha256).toBe(createHash("sha256").update(readFileSync(out)).digest("hex"));
    const store = SqliteStore.open(env.data, { readonly: true });
    try {
      const [stored] = await store.getEntriesAt([archives[0]!.index]);
      const action = decodeOperatorActionEntry(stored!.data);
      expect(action).toMatchObject({
        action: "archive",
        operator: "custos://stmary/custodian/privacy",
        archive: {
          from: T0,
          to: T0 + 2 * 24 * HOUR,
          records: 4,
          readers: ["custos://stmary/auditor/regulator"],
        },
      });
      const privacy = env.identity("custodian/privacy");
      expect(
        ed25519Verify(privacy.signingPublicKey(), action.signed!.message, action.signed!.signature),
      ).toBe(true);
    } finally {
      await store.close();
    }
    expect(existsSync(join(env.data, "archives.json"))).toBe(false);

    // A patient named as a reader needs keys to their own records only: P1 holds them already, so no
    // custodian is needed, and with one nothing of P2's is re-wrapped for P1.
    const forP1 = join(env.root, "p1.custos-archive");
    const own = await cli(["archive", "--data", env.data, ...range, "--for", "patient/P1", "--out", forP1]);
    expect(own.stderr).toBe("");
    expect(own.status).toBe(0);
    // The log's entry names the patient reader by tag: the log is in clear, a patient's ID never is.
    const recorded = JSON.parse((await cli(["retention", "status", "--data", env.data, "--json"])).stdout)
      .archives as { readers: string[] }[];
    expect(recorded[1]!.readers).toEqual([
      expect.stringMatching(/^custos:\/\/stmary\/patient\/tag:[0-9a-f]{64}$/),
    ]);
    const p1Read = offline(["read", "--archive", forP1, "--log-key", logKey, "--as", bundle("P1"), "--json"]);
    const p1Records = (JSON.parse(p1Read.stdout) as { records: { userId: string }[] }).records;
    expect(p1Records.map((r) => r.userId).sort()).toEqual(["dr-0-0", "dr-1-0"]);
    const again = await cli([
      "archive",
      "--data",
      env.data,
      ...range,
      "--for",
      "patient/P1",
      "--out",
      join(env.root, "p1-again.custos-archive"),
      "--as",
      bundle("privacy"),
    ]);
    expect(again.stderr).toBe("");
    expect(again.stdout).not.toMatch(/re-wrapped [1-9]/);
  });

  it("detects any change to the file, and names the entry when a log key re-signed a changed body", async () => {
    const out = join(env.root, "first.custos-archive");
    const file = readFileSync(out);
    // One flipped byte in the body: the log's signature over the body's hash fails.
    const flipped = Buffer.from(file);
    flipped[200] = flipped[200]! ^ 1;
    writeFileSync(join(env.root, "flipped.custos-archive"), flipped);
    const bad = offline(["verify-archive", join(env.root, "flipped.custos-archive"), "--log-key", logKey]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/ARCHIVE_SIGNATURE|ARCHIVE_MALFORMED/);
    // Another log's key does not open it.
    const other = await cli([
      "verify-archive",
      out,
      "--log-key",
      generateSignerKey("other.example/log").verifierKey,
    ]);
    expect(other.status).not.toBe(0);

    // The log's own key (the operator) re-signs a body whose content it changed: located finding.
    const body = parseArchiveBody(frameArchive(file).bodyBytes);
    const victim = body.entries.find((e) => e.content !== undefined)!;
    const changed = {
      ...body,
      entries: body.entries.map((e) =>
        e === victim ? { ...e, content: Uint8Array.from(e.content!, (b, i) => (i === 20 ? b ^ 1 : b)) } : e,
      ),
    };
    const signerKey = await loadSignerKey(
      env.data,
      new EnvProvider("CUSTOS_MASTER_KEY", { CUSTOS_MASTER_KEY: env.masterKey }),
    );
    const resigned = encodeArchive(changed, (text) => signNote(text, signerKey));
    const report = verifyArchive(resigned, { logKey });
    expect(report.ok).toBe(false);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: "CONTENT_MODIFIED", index: victim.index }),
    ]);
    // A dropped proof hash: that entry is no longer proven in the log.
    const unproven = encodeArchive(
      { ...body, entries: body.entries.map((e) => (e === victim ? { ...e, proof: e.proof.slice(1) } : e)) },
      (text) => signNote(text, signerKey),
    );
    expect(verifyArchive(unproven, { logKey }).findings).toEqual([
      expect.objectContaining({ code: "ENTRY_NOT_IN_LOG", index: victim.index }),
    ]);
    // Demanding a witness's cosignature the archive lacks is a finding too.
    const witnessed = verifyArchive(file, {
      logKey,
      witnessKeys: [generateCosignerKey("w.example/w1").verifierKey],
    });
    expect(witnessed.findings.map((f) => f.code)).toContain("WITNESS_QUORUM_MISSING");
  });

  it("leaves out content erased before the archive was made, and says so", async () => {
    expect(
      (
        await cli([
          "erase",
          "--data",
          env.data,
          "--patient",
          "P2",
          "--reason",
          "erasure-request",
          "--authorized-by",
          "privacy-officer",
        ])
      ).status,
    ).toBe(0);
    const out = join(env.root, "after-erasure.custos-archive");
    const made = await cli([
      "archive",
      "--data",
      env.data,
      ...range,
      "--for",
      "auditor/regulator",
      "--out",
      out,
    ]);
    expect(made.stderr).toBe("");
    expect(made.stdout).toMatch(/left out 4 erased item\(s\)/);
    const verified = await cli(["verify-archive", out, "--log-key", logKey, "--json"]);
    expect(verified.status).toBe(0);
    expect(JSON.parse(verified.stdout).summary).toMatchObject({ records: 4, erasedContents: 4 });
    const read = await cli([
      "read",
      "--archive",
      out,
      "--log-key",
      logKey,
      "--as",
      bundle("regulator"),
      "--json",
    ]);
    const opened = JSON.parse(read.stdout) as { records: { patientId: string }[]; erased: number[] };
    expect(opened.records.map((r) => r.patientId)).toEqual(["P1", "P1"]);
    expect(opened.erased).toHaveLength(2);
  });

  it("keeps retention from expiring what no archive recorded in the log holds", async () => {
    // An archive made with --no-record (read-only, beside a running node) is not in the log, and a
    // list of archives in a file beside the log (what earlier releases trusted) counts for nothing.
    const unrecorded = join(env.root, "unrecorded.custos-archive");
    const loose = await cli([
      "archive",
      "--data",
      env.data,
      "--from",
      new Date(T0).toISOString(),
      "--to",
      new Date(T0 + 3 * 24 * HOUR).toISOString(),
      "--for",
      "patient/P1",
      "--out",
      unrecorded,
      "--no-record",
    ]);
    expect(loose.stderr).toBe("");
    expect(loose.stdout).toMatch(
      /not recorded in the log \(--no-record\): retention does not count this archive/,
    );
    writeFileSync(
      join(env.data, "archives.json"),
      JSON.stringify({
        archives: [
          {
            file: unrecorded,
            sha256: createHash("sha256").update(readFileSync(unrecorded)).digest("hex"),
            from: T0,
            to: T0 + 3 * 24 * HOUR,
            size: 1_000_000,
            records: 6,
            verifiedAt: Date.now(),
          },
        ],
      }),
    );
    expect(
      (await cli(["retention", "set", "--data", env.data, "--days", "1", "--require-archive"])).stdout,
    ).toMatch(/only once archived/);
    // The records are ten days old: the archived days expire, the third day waits for an archive.
    const run = await cli(["retention", "run", "--data", env.data]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toMatch(/expired 2 epoch\(s\).*; 2 epoch\(s\) waiting/);
    const status = await cli(["retention", "status", "--data", env.data, "--json"]);
    expect(JSON.parse(status.stdout)).toMatchObject({ requireArchive: true, waitingForArchive: 2 });
    const text = (await cli(["retention", "status", "--data", env.data])).stdout;
    expect(text).toMatch(
      /archive before deletion: required; 2 epoch\(s\) past retention wait for a verified archive/,
    );
    expect(text).toMatch(/note: archives.json \(kept by earlier releases\) is no longer read/);
    expect((await cli(["verify", "--data", env.data])).stdout).toContain("OK: no tampering found");
  });

  it("records an offline read of a data directory as an operator action signed by the reader, with a notice", async () => {
    const read = await cli([
      "read",
      "--data",
      env.data,
      "--patient",
      "P1",
      "--as",
      bundle("regulator"),
      "--json",
    ]);
    expect(read.stderr).toBe("");
    const store = SqliteStore.open(env.data, { readonly: true });
    try {
      const size = await store.getSize();
      const [action, notice] = await store.getEntries(size - 2, size);
      const decoded = decodeOperatorActionEntry(action!.data);
      expect(decoded).toMatchObject({
        action: "offline-read",
        operator: "custos://stmary/auditor/regulator",
      });
      const regulator = env.identity("auditor/regulator");
      expect(
        ed25519Verify(regulator.signingPublicKey(), decoded.signed!.message, decoded.signed!.signature),
      ).toBe(true);
      expect(notice!.data[1]).toBe(ENTRY_KINDS.queryRecord);
    } finally {
      await store.close();
    }
    expect((await cli(["verify", "--data", env.data])).stdout).toContain("OK: no tampering found");
  });
});
