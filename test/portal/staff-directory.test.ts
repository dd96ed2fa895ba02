// The hospital's staff directory and the privacy office's refused requests, end to end: a real
// `custos serve`, the directory uploaded with the real CLI (`custos portal staff-directory`) over
// mutual TLS, records written before it that carry only a user ID read with names through the
// portal's own session code and in Debian's Chromium (playwright-core), the directory found in clear
// nowhere in the node's data directory, and the privacy office reading every refused request.

import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signIn } from "../../portal/src/lib/session.js";
import { whoOf } from "../../portal/src/lib/vocabulary.js";
import { AdminClient } from "../../src/client/admin-client.js";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { fromUtf8, utf8 } from "../../src/core/bytes.js";
import { generateX25519KeyPair } from "../../src/crypto/hpke/index.js";
import { openStaffDirectory, sealStaffDirectory } from "../../src/records/index.js";
import { runCli } from "../cli/run-cli.js";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";
import { MemoryStorage, portalCertificate, trustingFetch } from "./helpers.js";
import { CHROMIUM, chromiumArgs } from "./portal-demo.js";

let env: TestDeployment;
let baseUrl: string;
let fetch: ReturnType<typeof trustingFetch>;
const bundleFile = (id: string) => join(env.root, `${id}.custos-id`);
const bundleText = (who: string) => JSON.stringify(env.bundles.get(who)!);
const cli = (args: string[]) =>
  runCli(args, {
    env: { CUSTOS_BUNDLE_PASSPHRASE: PASS, CUSTOS_SERVER: `https://127.0.0.1:${env.apiPort}` },
  });

const T0 = Date.parse("2026-03-02T10:00:00Z");
/** Written before any directory: two carry only a user ID, one names its user itself. */
const RECORDS = [
  { time: new Date(T0).toISOString(), patientId: "P1", userId: "dr.okafor", action: "query" },
  {
    time: new Date(T0 + 60_000).toISOString(),
    patientId: "P1",
    userId: "nurse.lee",
    action: "change",
    userName: "Lee (as the record says)",
  },
  { time: new Date(T0 + 120_000).toISOString(), patientId: "P1", userId: "temp.42", action: "print" },
  { time: new Date(T0 + 180_000).toISOString(), patientId: "P2", userId: "billing.novak", action: "query" },
  // A security event that names no patient (as the ATNA feed files a failed login).
  {
    time: new Date(T0 + 200_000).toISOString(),
    patientId: "custos.security-events",
    userId: "dr.okafor",
    action: "query",
    outcome: "serious-failure",
    detail: "login failed: wrong password",
  },
];
/** Semicolon-separated, columns in another order, as a spreadsheet in many locales saves it. */
const STAFF_CSV = [
  "Department;User ID;Name;Role",
  "Cardiology;dr.okafor;Dr Amara Okafor;Attending physician",
  "Nursing;nurse.lee;Lee Min-jun;Registered nurse",
  'Finance;billing.novak;"Novak, Petra";Billing clerk',
  "",
].join("\n");

async function codeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "OK";
  } catch (error) {
    return (error as { code: string }).code;
  }
}

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["admin", "adm"],
      ["custodian", "privacy"],
      ["patient", "P1"],
      ["patient", "P2"],
      // The deployment's security events trail is enrolled like a patient (docs/atna.md).
      ["patient", "custos.security-events"],
      ["auditor", "A1"],
    ],
    grants: [{ auditor: "A1", patients: ["P1"] }],
    masterKeyFill: 24,
  });
  await env.start();
  baseUrl = `https://127.0.0.1:${env.portalPort}`;
  fetch = trustingFetch(portalCertificate(env.data), baseUrl);
  const emr = new CustosClient({
    url: `https://127.0.0.1:${env.apiPort}`,
    identity: env.identity("ehr-source/emr"),
  });
  const submitted = await emr.submit(RECORDS);
  await emr.waitForCheckpoint(submitted.at(-1)!.index + 1);
}, 120_000);

afterAll(() => env?.cleanup());

describe("the staff directory", () => {
  it("is refused with one clear line for a file without the columns, a repeated ID or a non-admin", () => {
    const noName = join(env.root, "no-name.csv");
    writeFileSync(noName, "user id,role\ndr.okafor,Attending\n");
    let run = cli(["portal", "staff-directory", noName, "--as", bundleFile("adm")]);
    expect(run.status).not.toBe(0);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("must name its columns: user ID and name");
    expect(run.stderr).not.toMatch(/\n\s+at /);

    const twice = join(env.root, "twice.csv");
    writeFileSync(twice, "user id,name\ndr.okafor,A\ndr.okafor,B\n");
    run = cli(["portal", "staff-directory", twice, "--as", bundleFile("adm")]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("line 3: user ID dr.okafor is listed twice");

    const good = join(env.root, "staff.csv");
    writeFileSync(good, STAFF_CSV);
    run = cli(["portal", "staff-directory", good, "--as", bundleFile("P1")]);
    expect(run.status).not.toBe(0);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);

    run = cli(["portal", "staff-directory", join(env.root, "missing.csv"), "--as", bundleFile("adm")]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("cannot read the staff directory");
  });

  it("is refused over the API for a caller who is not an admin, and for a bad body, with stable codes", async () => {
    const patient = new MtlsClient(`https://127.0.0.1:${env.apiPort}`, env.identity("patient/P1"));
    expect(
      await codeOf(() =>
        patient.call("POST", "/v1/admin/staff-directory", { people: [{ id: "x", name: "X" }] }),
      ),
    ).toBe("NOT_AUTHORIZED");
    const admin = new MtlsClient(`https://127.0.0.1:${env.apiPort}`, env.identity("admin/adm"));
    expect(await codeOf(() => admin.call("POST", "/v1/admin/staff-directory", { people: [] }))).toBe(
      "BAD_ARGUMENT",
    );
    expect(
      await codeOf(() =>
        admin.call("POST", "/v1/admin/staff-directory", {
          people: [{ id: "a", name: "line\nbreak" }],
        }),
      ),
    ).toBe("BAD_ARGUMENT");
    // Nothing was appended by any of these: no reader has a directory yet.
    const reader = new CustosClient({
      url: `https://127.0.0.1:${env.apiPort}`,
      identity: env.identity("patient/P1"),
    });
    expect((await reader.staffDirectory()).directory).toBeUndefined();
  });

  it("is uploaded with the CLI, sealed to every reader, and stored in clear nowhere", () => {
    const run = cli(["portal", "staff-directory", join(env.root, "staff.csv"), "--as", bundleFile("adm")]);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /uploaded the staff directory: 3 people, log entry \d+, sealed to 3 patients, 1 audit companies and 1 privacy offices/,
    );
    for (const file of filesUnder(env.data)) {
      const bytes = readFileSync(file);
      for (const secret of ["Amara Okafor", "Attending physician", "Cardiology", "Novak, Petra"])
        expect(bytes.includes(Buffer.from(secret)), `${secret} in ${file}`).toBe(false);
    }
  });

  it("names, in the portal's session, the people of records written before it that carry only an ID", async () => {
    const patient = await signIn(bundleText("patient/P1"), PASS, {
      baseUrl,
      fetch,
      storage: new MemoryStorage(),
    });
    const loaded = await patient.myAccesses();
    const byUser = new Map(loaded.rows.map((row) => [row.record.userId, whoOf(row)]));
    expect(byUser.get("dr.okafor")).toMatchObject({
      name: "Dr Amara Okafor",
      role: "Attending physician",
      department: "Cardiology",
      named: true,
      fromDirectory: true,
    });
    // The record's own name comes first; the directory adds what the record leaves out.
    expect(byUser.get("nurse.lee")).toMatchObject({
      name: "Lee (as the record says)",
      role: "Registered nurse",
      fromDirectory: false,
    });
    // Someone the directory does not list stays an ID.
    expect(byUser.get("temp.42")).toMatchObject({ name: "temp.42", named: false, fromDirectory: false });
    expect(patient.staffDirectory()).toMatchObject({ people: 3 });
    // The rows themselves are the records as sealed: the export carries no borrowed name.
    expect(loaded.rows.find((r) => r.record.userId === "dr.okafor")!.record.userName).toBeUndefined();
    patient.signOut();

    const auditor = await signIn(bundleText("auditor/A1"), PASS, {
      baseUrl,
      fetch,
      storage: new MemoryStorage(),
    });
    const audited = await auditor.patientAccesses();
    expect(whoOf(audited.rows.find((r) => r.record.userId === "dr.okafor")!).name).toBe("Dr Amara Okafor");
    auditor.signOut();
  });

  it("reaches only readers enrolled when it was uploaded: a patient enrolled after reads IDs", async () => {
    const admin = new AdminClient(`https://127.0.0.1:${env.apiPort}`, env.identity("admin/adm"));
    const enrolled = await admin.enroll({ role: "patient", id: "P3", passphrase: PASS });
    const emr = new CustosClient({
      url: `https://127.0.0.1:${env.apiPort}`,
      identity: env.identity("ehr-source/emr"),
    });
    const [sent] = await emr.submit([
      { time: new Date(T0 + 240_000).toISOString(), patientId: "P3", userId: "dr.okafor", action: "query" },
    ]);
    await emr.waitForCheckpoint(sent!.index + 1);
    const late = await signIn(JSON.stringify(enrolled.bundle), PASS, {
      baseUrl,
      fetch,
      storage: new MemoryStorage(),
    });
    const rows = (await late.myAccesses()).rows;
    expect(rows.map((row) => whoOf(row).name)).toEqual(["dr.okafor"]);
    expect(late.staffDirectory()).toBeUndefined();
    late.signOut();
    // Uploaded again, it reaches them too.
    const again = cli(["portal", "staff-directory", join(env.root, "staff.csv"), "--as", bundleFile("adm")]);
    expect(again.stdout).toContain("sealed to 4 patients");
    const later = await signIn(JSON.stringify(enrolled.bundle), PASS, {
      baseUrl,
      fetch,
      storage: new MemoryStorage(),
    });
    expect((await later.myAccesses()).rows.map((row) => whoOf(row).name)).toEqual(["Dr Amara Okafor"]);
    later.signOut();
  });

  it("leaves a log `custos verify` finds intact, its filing included", () => {
    const run = runCli(["verify", "--data", env.data], {
      env: { CUSTOS_MASTER_KEY: env.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS },
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).not.toMatch(/unknown kind|missing|extra/i);
  });

  it("fails to open when its content or its binding to the entry was changed", () => {
    const reader = generateX25519KeyPair();
    const item = sealStaffDirectory(
      T0,
      "custos://x/admin/adm",
      [{ id: "u", name: "N" }],
      [{ id: "r", role: "patient", encryptionKey: reader.publicKey }],
    );
    expect(openStaffDirectory({ index: 7, ...item }, reader.privateKey)?.people).toEqual([
      { id: "u", name: "N" },
    ]);
    const changed = utf8(
      fromUtf8(item.content!).replace(/"ct":"(.)/, (_, c: string) => `"ct":"${c === "A" ? "B" : "A"}`),
    );
    expect(() =>
      openStaffDirectory({ index: 7, entry: item.entry, content: changed }, reader.privateKey),
    ).toThrow(/entry 7 does not match its hash/);
    // Another reader's key opens nothing.
    expect(openStaffDirectory({ index: 7, ...item }, generateX25519KeyPair().privateKey)).toBeUndefined();
  });
});

describe("the privacy office's refused requests", () => {
  it("lists every refused request sealed to it, verified, patients by tag only", async () => {
    const api = `https://127.0.0.1:${env.apiPort}`;
    // A patient asking for another patient's trail, an audit company for a patient not granted.
    const p2 = new CustosClient({ url: api, identity: env.identity("patient/P2") });
    expect(await codeOf(() => p2.trail({ patientId: "P1" }))).toBe("NOT_AUTHORIZED");
    const a1 = new CustosClient({ url: api, identity: env.identity("auditor/A1") });
    expect(await codeOf(() => a1.trail({ patientId: "P2" }))).toBe("NOT_AUTHORIZED");
    // Anyone else asking for them is refused (and that refusal is one more for the office).
    const p1 = new MtlsClient(api, env.identity("patient/P1"));
    expect(await codeOf(() => p1.call("POST", "/v1/office/refusals", {}))).toBe("NOT_AUTHORIZED");

    // Replies are proven against a checkpoint: wait for one that covers the refusals.
    const emr = new CustosClient({ url: api, identity: env.identity("ehr-source/emr") });
    const [after] = await emr.submit([
      { time: new Date(T0 + 300_000).toISOString(), patientId: "P2", userId: "dr.okafor", action: "query" },
    ]);
    await emr.waitForCheckpoint(after!.index + 1);

    const office = await signIn(bundleText("custodian/privacy"), PASS, {
      baseUrl,
      fetch,
      storage: new MemoryStorage(),
    });
    const loaded = await office.officeRefusals();
    const rows = loaded.rows.map((row) => ({
      requester: row.requester,
      operation: row.operation,
      reason: row.reason,
      tagged: row.patientTag !== undefined,
    }));
    expect(rows).toEqual(
      expect.arrayContaining([
        {
          requester: "custos://stmary/patient/P2",
          operation: "read-trail",
          reason: "NOT_AUTHORIZED",
          tagged: true,
        },
        {
          requester: "custos://stmary/auditor/A1",
          operation: "read-trail",
          reason: "NOT_AUTHORIZED",
          tagged: true,
        },
        {
          requester: "custos://stmary/patient/P1",
          operation: "read-refusals",
          reason: "NOT_AUTHORIZED",
          tagged: false,
        },
      ]),
    );
    expect(rows.every((row) => row.reason !== undefined)).toBe(true);
    expect(loaded.status.size).toBeGreaterThan(Math.max(...loaded.rows.map((r) => r.index)));
    expect(JSON.stringify(loaded.rows)).not.toMatch(/"patientId"/);
    office.signOut();
    // An audit company is refused this route too.
    const auditor = await signIn(bundleText("auditor/A1"), PASS, {
      baseUrl,
      fetch,
      storage: new MemoryStorage(),
    });
    expect(await codeOf(() => auditor.officeRefusals())).toBe("NOT_AUTHORIZED");
    auditor.signOut();
  });
});

describe("the privacy office's security events", () => {
  it("reads the deployment's security events trail with its own key; nobody else is served it", async () => {
    const office = await signIn(bundleText("custodian/privacy"), PASS, {
      baseUrl,
      fetch,
      storage: new MemoryStorage(),
    });
    const loaded = await office.securityEvents();
    expect(loaded.rows.map((row) => [row.record.patientId, row.record.detail, row.record.outcome])).toEqual([
      ["custos.security-events", "login failed: wrong password", "serious-failure"],
    ]);
    expect(loaded.notReadable).toBe(0);
    office.signOut();
    const api = `https://127.0.0.1:${env.apiPort}`;
    for (const who of ["patient/P1", "auditor/A1", "admin/adm"]) {
      const client = new MtlsClient(api, env.identity(who));
      expect(await codeOf(() => client.call("POST", "/v1/office/security-events", {})), who).toBe(
        "NOT_AUTHORIZED",
      );
    }
    const custodian = new MtlsClient(api, env.identity("custodian/privacy"));
    expect(
      await codeOf(() => custodian.call("POST", "/v1/office/security-events", { patientId: "P1" })),
    ).toBe("BAD_ARGUMENT");
  });
});

describe("in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    const fingerprint = /portal certificate SHA-256 SPKI \(base64\): (\S+)/.exec(env.output)?.[1];
    if (!fingerprint) throw new Error(`custos serve printed no portal fingerprint:\n${env.output}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: chromiumArgs(fingerprint),
    });
  }, 60_000);
  afterAll(() => browser?.close());

  async function signedIn(who: string) {
    const page = await (
      await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" })
    ).newPage();
    await page.goto(`${baseUrl}/`);
    await page.getByLabel("Identity bundle file").setInputFiles(bundleFile(who));
    await page.getByLabel("Passphrase").fill(PASS);
    await page.getByTestId("sign-in-button").click();
    return page;
  }

  it("shows a patient the name, role and department of a record that carried only an ID", async () => {
    const page = await signedIn("P1");
    const table = page.getByTestId("access-table");
    await table.waitFor({ timeout: 60_000 });
    const okafor = table.locator("tr", { hasText: "Dr Amara Okafor" });
    await expect(okafor.count()).resolves.toBe(1);
    const who = okafor.getByTestId("access-who");
    expect(await who.getAttribute("data-name-from")).toBe("staff-directory");
    expect(await who.innerText()).toContain("Attending physician, Cardiology");
    // Its details say where the name came from and keep the ID.
    await okafor.locator("summary", { hasText: "Details" }).click();
    expect(await okafor.innerText()).toMatch(/dr\.okafor[\s\S]*staff directory/);
    // The record's own name is kept; an unlisted user stays an ID.
    expect(await table.locator("tr", { hasText: "Lee (as the record says)" }).count()).toBe(1);
    expect(
      await table.locator('[data-testid="access-who"][data-name-from="id"]', { hasText: "temp.42" }).count(),
    ).toBe(1);
    expect(await page.getByTestId("staff-directory-note").innerText()).toContain("3 people");
    // The loose search finds the person by the directory's name (not in the record).
    await page.getByLabel("Search names and IDs").fill("amara");
    await expect.poll(() => table.getAttribute("data-rows")).toBe("1");
    await page.context().close();
  }, 120_000);

  it("tells a reader in plain words when the node proved their list against an older checkpoint (behind)", async () => {
    // route.fetch (Playwright's own request, not the browser's) cannot pin the certificate as the
    // browser does: it is told to accept the node's self-signed one.
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: "en-GB",
      ignoreHTTPSErrors: true,
    });
    const page = await context.newPage();
    // The node says `behind` when a witness has not cosigned its newest checkpoint; the field is the
    // node's word (not signed), so it is added here to the real node's reply.
    // Every verified reply (trail, query history, directory) says it, as the node does while a
    // witness lags: its checkpoint is node-wide.
    await page.route("**/v1/**", async (route) => {
      if (route.request().method() !== "POST" || route.request().url().includes("/v1/login"))
        return route.continue();
      const response = await route.fetch();
      const body = (await response.json()) as Record<string, unknown>;
      if (typeof body.checkpoint !== "string") return route.fulfill({ response, json: body });
      await route.fulfill({ response, json: { ...body, behind: { entries: 12, seconds: 420 } } });
    });
    await page.goto(`${baseUrl}/`);
    await page.getByLabel("Identity bundle file").setInputFiles(bundleFile("P1"));
    await page.getByLabel("Passphrase").fill(PASS);
    await page.getByTestId("sign-in-button").click();
    const status = page.getByTestId("verification-status");
    await expect.poll(() => status.getAttribute("data-behind"), { timeout: 60_000 }).toBe("12");
    expect(await status.getAttribute("data-state")).toBe("ok");
    const text = await status.innerText();
    expect(text).toContain("complete up to about 7 minutes ago");
    expect(text).toContain("12 newer entries");
    expect(text).toContain("not shown yet");
    await page.getByTestId("access-table").waitFor({ timeout: 60_000 });
    await page.unrouteAll({ behavior: "wait" });
    await context.close();
  }, 120_000);

  it("shows the privacy office every refused request", async () => {
    const page = await signedIn("privacy");
    const table = page.getByTestId("office-refusals-table");
    await table.waitFor({ timeout: 60_000 });
    const text = await table.innerText();
    expect(text).toContain("P2");
    expect(text).toContain("A1");
    expect(text).toMatch(/a patient \(tag [0-9a-f]{8}…\)/);
    const security = page.getByTestId("office-security-table");
    await security.waitFor({ timeout: 60_000 });
    expect(await security.getAttribute("data-rows")).toBe("1");
    // The directory names the user of the security event too.
    expect(await security.innerText()).toContain("Dr Amara Okafor");
    await page.context().close();
  }, 120_000);
});
