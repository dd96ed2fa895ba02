// The key audit (issue 19.5) through a running node and offline: enrollments, grants, key envelopes
// and legal holds listed in log order, filtered by party and time, paged; bad filters refused in one
// line. Real `custos` processes over mutual TLS.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminClient } from "../../src/client/admin-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { Identity, readBundle } from "../../src/identity/bundle.js";
import { runCli } from "../cli/run-cli.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;
let server: string;
let admin: string;

function cli(args: string[]) {
  return runCli(args, { env: { CUSTOS_MASTER_KEY: env.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS } });
}

interface Event {
  index: number;
  kind: string;
  time: string;
  timeFrom: string;
  parties: string[];
  detail: string;
}

function audit(...args: string[]): Event[] {
  const result = cli(["keys", "audit", "--server", server, "--as", admin, "--json", ...args]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  return result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Event);
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["admin", "root"],
      ["patient", "P1"],
      ["patient", "P2"],
      ["auditor", "A1"],
      ["auditor", "A2"],
      ["ehr-source", "emr"],
      ["custodian", "privacy"],
    ],
    grants: [{ auditor: "A1", patients: ["P1"] }],
  });
  await env.start();
  server = `https://127.0.0.1:${env.apiPort}`;
  admin = join(env.root, "root.custos-id");
  const records = join(env.root, "records.ndjson");
  writeFileSync(
    records,
    [
      '{"time":"2026-11-23T08:00:00Z","patientId":"P1","userId":"dr.house","action":"query"}',
      '{"time":"2026-11-23T08:05:00Z","patientId":"P2","userId":"dr.house","action":"query"}',
      "",
    ].join("\n"),
  );
  expect(cli(["ingest", records, "--server", server, "--as", join(env.root, "emr.custos-id")]).status).toBe(
    0,
  );
  const held = cli([
    "hold",
    "place",
    "--server",
    server,
    "--as",
    admin,
    "--patient",
    "P2",
    "--reference",
    "case 7",
  ]);
  expect(held.stderr).toBe("");
}, 180_000);

afterAll(async () => {
  await env?.cleanup();
});

describe("the key audit", () => {
  it("lists every act on keys and access in log order, and what concerns one party", async () => {
    const all = audit();
    const indexes = all.map((e) => e.index);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    const kinds = new Set(all.map((e) => e.kind));
    for (const kind of ["ca", "enrollment", "grant", "key-envelope", "legal-hold"])
      expect(kinds).toContain(kind);
    expect(all.filter((e) => e.kind === "enrollment").map((e) => e.parties[0])).toEqual(
      expect.arrayContaining(["auditor/A1", "auditor/A2", "admin/root", "custodian/privacy"]),
    );
    // No patient ID ever appears: patients are named by tag.
    expect(JSON.stringify(all)).not.toMatch(/P1|P2/);

    // P1's records are readable by P1, A1 (granted) and the custodian: one envelope each; P2's by P2
    // and the custodian. The auditor's view holds its own envelope and grant, never P2's.
    const a1 = audit("--party", "auditor/A1");
    expect(a1.map((e) => e.kind).sort()).toEqual(["enrollment", "grant", "key-envelope"]);
    expect(a1.find((e) => e.kind === "key-envelope")!.parties[0]).toBe("auditor/A1");
    expect(a1.find((e) => e.kind === "key-envelope")!.timeFrom).toBe("checkpoint");
    expect(audit("--party", "auditor/A2").map((e) => e.kind)).toEqual(["enrollment"]);
    const p1 = audit("--party", "patient/P1");
    expect(
      p1
        .filter((e) => e.kind === "key-envelope")
        .map((e) => e.parties[0])
        .sort(),
    ).toEqual(["auditor/A1", "custodian/privacy", expect.stringMatching(/^patient\/tag:[0-9a-f]{64}$/)]);
    expect(p1.map((e) => e.kind)).toContain("grant");
    expect(p1.map((e) => e.kind)).not.toContain("legal-hold");
    const p2 = audit("--party", "patient/P2");
    expect(p2.map((e) => e.kind)).toContain("legal-hold");
    expect(p2.map((e) => e.kind)).not.toContain("grant");
    expect(p2.filter((e) => e.kind === "key-envelope")).toHaveLength(2);
  }, 120_000);

  it("filters by time and kind, pages with after/next, and refuses bad filters in one line", async () => {
    const all = audit();
    expect(audit("--from", "2999-01-01")).toEqual([]);
    const enrollments = audit("--kind", "enrollment");
    expect(enrollments.length).toBeGreaterThanOrEqual(7);
    expect(enrollments.every((e) => e.kind === "enrollment")).toBe(true);
    const client = new AdminClient(server, Identity.unlock(readBundle(admin), PASS));
    const paged: number[] = [];
    let after: number | undefined;
    do {
      const page = await client.keyAudit({ limit: 3, ...(after !== undefined ? { after } : {}) });
      expect(page.events.length).toBeLessThanOrEqual(3);
      paged.push(...page.events.map((e) => e.index));
      after = page.next;
    } while (after !== undefined);
    expect(paged).toEqual(all.map((e) => e.index));

    for (const [args, message] of [
      [["--party", "nobody"], 'error: --party is ROLE/ID, e.g. auditor/A1, got "nobody"\n'],
      [["--from", "yesterday"], 'error: --from must be an ISO 8601 date or time, got "yesterday"\n'],
      [["--kind", "gossip"], /^error: --kind must be one of /],
    ] as const) {
      const result = cli(["keys", "audit", "--server", server, "--as", admin, ...args]);
      expect(result.status).toBe(2);
      if (typeof message === "string") expect(result.stderr).toBe(message);
      else expect(result.stderr).toMatch(message);
    }
    const unknownRole = cli(["keys", "audit", "--server", server, "--as", admin, "--party", "king/K1"]);
    expect(unknownRole.status).toBe(2);
    expect(unknownRole.stderr).toMatch(/^error: .*ROLE\/ID with ROLE one of /);
    // Only admins and the privacy office may read it: the node refuses an audit company.
    const auditor = new MtlsClient(server, Identity.unlock(readBundle(join(env.root, "A1.custos-id")), PASS));
    await expect(auditor.call("GET", "/v1/admin/key-audit")).rejects.toMatchObject({
      code: "NOT_AUTHORIZED",
    });
    const office = new MtlsClient(
      server,
      Identity.unlock(readBundle(join(env.root, "privacy.custos-id")), PASS),
    );
    const officePage = await office.call<{ events: { index: number }[] }>("GET", "/v1/admin/key-audit");
    expect(officePage.events.map((e) => e.index)).toEqual(
      all.map((e) => e.index).slice(0, officePage.events.length),
    );
    // Offline, from the data directory of the stopped node, the same listing.
    await env.stop();
    const offline = cli(["keys", "audit", "--data", env.data, "--json"]);
    expect(offline.stderr).toBe("");
    expect(offline.status).toBe(0);
    const lines = offline.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Event);
    // The refusal just made is no key event; everything else is as the node listed it.
    expect(lines.map((e) => e.index)).toEqual(all.map((e) => e.index));
  }, 120_000);
});
