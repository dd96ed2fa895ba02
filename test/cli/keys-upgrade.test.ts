// `custos keys upgrade` on a data directory written by the party-key model (the release before the
// single identity model; test/fixtures/legacy-party-keys/README.md says how it was made).

import { cpSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.js";
import { runCli } from "./run-cli.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/legacy-party-keys/", import.meta.url));
const env = {
  CUSTOS_MASTER_KEY: Buffer.alloc(32, 7).toString("base64"),
  CUSTOS_BUNDLE_PASSPHRASE: "upgrade bundle passphrase",
};
let root: { dir: string; cleanup: () => void };
let data: string;

function ok(args: string[], input?: string): string {
  const result = runCli(args, { env, ...(input !== undefined ? { input } : {}) });
  expect(result.stderr, args.join(" ")).toBe("");
  expect(result.status, args.join(" ")).toBe(0);
  return result.stdout;
}

beforeAll(() => {
  root = tempDir("custos-keys-upgrade-");
  data = join(root.dir, "node");
  cpSync(join(FIXTURE, "node"), data, { recursive: true });
});
afterAll(() => root.cleanup());

describe("upgrading a party-key data directory to the identity registry", () => {
  it("refuses to use the old directory, naming the upgrade command", () => {
    const refused = runCli(["ingest", "-", "--data", data, "--source", "ehr"], {
      env,
      input: JSON.stringify({ time: "2026-11-24T08:00:00Z", patientId: "P1", userId: "u", action: "query" }),
    });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(
      /^error: .*retired party-key directory.*custos ca init --data .*custos keys upgrade --data /,
    );
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("enrolls every party anew, re-signs the grants and re-wraps the history to the new keys", () => {
    ok(["ca", "init", "--data", data, "--deployment", "legacy"]);
    const passFile = join(root.dir, "legacy-pass");
    writeFileSync(passFile, "legacy party passphrase\n", { mode: 0o600 });
    const out = join(root.dir, "bundles");
    const upgrade = [
      "keys",
      "upgrade",
      "--data",
      data,
      "--custodian-key",
      join(FIXTURE, "keys", "C.key"),
      "--custodian-key-passphrase-file",
      passFile,
      "--out",
      out,
    ];
    expect(ok(upgrade)).toMatch(
      /^upgraded: 5 identities enrolled .*, 1 grant\(s\) signed, \d+ epoch key\(s\) re-wrapped for 2 patient\(s\)/,
    );
    for (const name of ["admin-admin", "custodian-custodian", "patient-P1", "patient-P2", "auditor-A1"])
      expect(existsSync(join(out, `${name}.custos-id`)), name).toBe(true);
    const read = (patient: string, bundle: string) =>
      JSON.parse(
        ok([
          "read",
          "--data",
          data,
          "--patient",
          patient,
          "--as",
          join(out, `${bundle}.custos-id`),
          "--json",
          // The custodian reads only for a documented lawful request (docs/identity.md).
          ...(bundle.startsWith("custodian") ? ["--lawful-request", "upgrade-check-2026"] : []),
        ]),
      ).records.map((r: { userId: string }) => r.userId);
    expect(read("P1", "patient-P1")).toEqual(["dr.c", "dr.a"]);
    expect(read("P2", "patient-P2")).toEqual(["dr.b"]);
    expect(read("P1", "auditor-A1")).toEqual(["dr.c", "dr.a"]);
    // A1 was never granted P2, and still is not.
    expect(read("P2", "auditor-A1")).toEqual([]);
    expect(read("P2", "custodian-custodian")).toEqual(["dr.b"]);

    // The directory is upgraded: new records seal to the new keys; a second upgrade finds nothing to do.
    ok(
      ["ingest", "-", "--data", data, "--source", "ehr-main"],
      JSON.stringify({ time: "2026-11-24T08:00:00Z", patientId: "P1", userId: "dr.d", action: "print" }),
    );
    expect(read("P1", "patient-P1")).toEqual(["dr.d", "dr.c", "dr.a"]);
    const again = runCli(upgrade, { env });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^error: this data directory has no party-key directory to upgrade/);
    // The patient sees the upgrade's re-wrap in their history's notices; the log verifies.
    expect(ok(["verify", "--data", data])).toContain("OK: no tampering found");
  }, 300_000);
});
