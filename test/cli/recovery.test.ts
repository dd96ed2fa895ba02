// Recovery on identity bundles with a real node (issue 19, must-show b and c): a patient who lost
// their key reads their whole history with the replacement, and an audit company granted later reads
// the history from before its grant; both through the node's API over mutual TLS, and the patient
// sees each re-wrap in their query history.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { eventually } from "../helpers/processes.js";
import { runCli } from "./run-cli.js";

let d: TestDeployment;
let env: NodeJS.ProcessEnv;
const bundle = (id: string) => join(d.root, `${id}.custos-id`);

function ok(args: string[], input?: string): string {
  const result = runCli(args, { env, ...(input !== undefined ? { input } : {}) });
  expect(result.stderr, args.join(" ")).toBe("");
  expect(result.status, args.join(" ")).toBe(0);
  return result.stdout;
}

const server = () => `https://127.0.0.1:${d.apiPort}`;
function query(who: string, patient?: string): string[] {
  const out = ok([
    "query",
    "--server",
    server(),
    "--as",
    who,
    ...(patient ? ["--patient", patient] : []),
    "--json",
  ]);
  return (JSON.parse(out) as { records: { userId: string }[] }).records.map((r) => r.userId);
}

function ingest(users: string[], day: number): void {
  const ndjson = users
    .map((userId, i) =>
      JSON.stringify({ time: `2026-11-${day}T08:0${i}:00Z`, patientId: "P1", userId, action: "query" }),
    )
    .join("\n");
  ok(["ingest", "-", "--server", server(), "--as", bundle("emr")], ndjson);
}

beforeAll(async () => {
  d = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["admin", "adm"],
      ["custodian", "keeper"],
      ["patient", "P1"],
      ["auditor", "A1"],
      ["auditor", "A2"],
    ],
    grants: [{ auditor: "A1", patients: ["P1"] }],
  });
  env = { CUSTOS_MASTER_KEY: d.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS };
  await d.start();
  ingest(["dr.a", "dr.b", "dr.c"], 20);
  await d.stop();
}, 240_000);
afterAll(() => d.cleanup());

describe("recovery on identity bundles", () => {
  it("gives a later audit company the history from before its grant, and a replaced patient key all of it", async () => {
    const data = ["--data", d.data];
    // (b) P1 loses their key: revoked, enrolled anew (a new encryption certificate for the same
    // identity), and the custodian re-wraps the whole history to the new key.
    ok(["revoke", ...data, "patient/P1"]);
    const replacement = join(d.root, "P1-replacement.custos-id");
    ok(["enroll", ...data, "--role", "patient", "--id", "P1", "--out", replacement]);
    const before = JSON.parse(ok(["keys", "status", ...data, "--patient", "P1", "--json"]));
    expect(
      before.patients[0].readers.find(
        (r: { role: string; current: boolean }) => r.role === "patient" && r.current,
      ),
    ).toMatchObject({ epochs: 0 });
    expect(ok(["keys", "rewrap", ...data, "--as", bundle("keeper"), "--patient", "P1"])).toMatch(
      /^re-wrapped [1-9]\d* epoch key\(s\) for 1 of 1 patient\(s\)/,
    );
    // (c) A2 is granted P1 after three records; the custodian re-wraps P1's history for it.
    // (In this order the patient's new key reads both notices; notices sealed to a lost key stay
    // sealed to it.)
    ok(["grant", ...data, "--as", bundle("adm"), "--auditor", "A2", "--patient", "P1"]);
    expect(ok(["keys", "rewrap", ...data, "--as", bundle("keeper"), "--auditor", "A2"])).toMatch(
      /^re-wrapped [1-9]\d* epoch key\(s\) for 1 of 1 patient\(s\)/,
    );
    const after = JSON.parse(ok(["keys", "status", ...data, "--patient", "P1", "--json"]));
    for (const reader of after.patients[0].readers.filter((r: { current: boolean }) => r.current))
      expect(reader.missing, reader.reader).toBe(0);

    await d.start();
    ingest(["dr.d"], 21);
    // The new record is read once a signed checkpoint covers it (within the node's interval).
    await eventually("a checkpoint covers dr.d", () =>
      expect(query(bundle("A2"), "P1")).toEqual(["dr.d", "dr.c", "dr.b", "dr.a"]),
    );
    expect(query(replacement)).toEqual(["dr.d", "dr.c", "dr.b", "dr.a"]);
    // The lost key no longer gets in.
    const old = runCli(["query", "--server", server(), "--as", bundle("P1"), "--json"], { env });
    expect(old.status).not.toBe(0);
    // The patient sees both re-wraps, by the custodian, in their query history.
    const history = JSON.parse(
      ok(["query-history", "--server", server(), "--as", replacement, "--json"]),
    ) as { requester: string; operation: string }[];
    const rewraps = history.filter((n) => n.operation.startsWith("re-wrap history"));
    expect(rewraps.map((n) => n.requester)).toEqual([
      "custos://stmary/custodian/keeper",
      "custos://stmary/custodian/keeper",
    ]);
    expect(rewraps.map((n) => n.operation).sort()).toEqual([
      "re-wrap history for custos://stmary/auditor/A2",
      "re-wrap history for the patient's current key",
    ]);
    await d.stop();
  }, 300_000);

  it("lets the custodian read a trail only for a documented lawful request, which the patient sees", async () => {
    const data = ["--data", d.data];
    const refused = runCli(["read", ...data, "--patient", "P1", "--as", bundle("keeper")], { env });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(
      /^error: the custodian reads a trail only for a documented lawful request/,
    );
    const read = JSON.parse(
      ok([
        "read",
        ...data,
        "--patient",
        "P1",
        "--as",
        bundle("keeper"),
        "--lawful-request",
        "court order 2026-17",
        "--json",
      ]),
    );
    expect(read.records).toHaveLength(4);
    await d.start();
    const history = JSON.parse(
      ok(["query-history", "--server", server(), "--as", join(d.root, "P1-replacement.custos-id"), "--json"]),
    ) as { operation: string }[];
    expect(history.map((n) => n.operation)).toContain("read-trail for a lawful request: court order 2026-17");
    await d.stop();
  }, 300_000);
});
