// Revocation others can find (issue 23 part 8): certificates name a CRL distribution point, the node
// serves the CRL there over plain HTTP, and OpenSSL, given nothing but the CA certificate and the
// certificate to check, downloads the CRL and sees a revocation made through the running node.

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, freePort } from "../helpers/deployment.js";
import { type CustosProcess, processGroup } from "../helpers/processes.js";
import { tempDir } from "../helpers/temp.js";

const root = tempDir("custos-crl-dp-");
const data = join(root.dir, "node");
const env: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  CUSTOS_MASTER_KEY: Buffer.alloc(32, 3).toString("base64"),
  CUSTOS_BUNDLE_PASSPHRASE: "crl distribution passphrase",
};
const group = processGroup();
let crlPort: number;
let node: CustosProcess;

function cli(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: "utf8", cwd: root.dir });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function openssl(args: string[]): { status: number; output: string } {
  const r = spawnSync("openssl", args, { encoding: "utf8", cwd: root.dir });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** The holder's signing certificate, as the PEM files `custos identity pem` writes. */
function certificateOf(bundle: string, out: string): string {
  expect(cli("identity", "pem", "--bundle", bundle, "--out", out).status).toBe(0);
  return join(out, "cert.pem");
}

beforeAll(async () => {
  crlPort = await freePort();
  expect(cli("log", "init", "--data", data, "--origin", "crl.example/custos").status).toBe(0);
  const made = cli(
    "ca",
    "init",
    "--data",
    data,
    "--deployment",
    "stmary",
    "--crl-url",
    `http://127.0.0.1:${crlPort}/crl`,
  );
  expect(made.stderr).toBe("");
  expect(made.stdout).toContain(`certificates name the CRL at http://127.0.0.1:${crlPort}/crl`);
  for (const [role, id] of [
    ["node", "n1"],
    ["admin", "root"],
    ["patient", "P001"],
    ["patient", "P002"],
  ]) {
    const enrolled = cli("enroll", "--data", data, "--role", role!, "--id", id!, "--out", `${id}.custos-id`);
    expect(enrolled.status, enrolled.stderr).toBe(0);
  }
  const apiPort = await freePort();
  node = group.start(
    "node",
    [
      "serve",
      "--data",
      data,
      "--identity",
      join(root.dir, "n1.custos-id"),
      "--listen",
      `127.0.0.1:${apiPort}`,
      "--crl-listen",
      `127.0.0.1:${crlPort}`,
    ],
    env,
  );
  await node.waitFor("serving");
  await node.waitFor(`CRL (plain HTTP):  http://127.0.0.1:${crlPort}/crl`);
  env.CUSTOS_SERVER = `https://127.0.0.1:${apiPort}`;
}, 120_000);

afterAll(async () => {
  await group.killAll();
  root.cleanup();
});

describe("the CRL distribution point", () => {
  it("is named in issued certificates; OpenSSL downloads the CRL and sees a revocation made through the node", async () => {
    const cert = certificateOf(join(root.dir, "P001.custos-id"), join(root.dir, "p1"));
    const text = openssl(["x509", "-in", cert, "-noout", "-ext", "crlDistributionPoints"]);
    expect(text.output).toContain(`URI:http://127.0.0.1:${crlPort}/crl`);
    const ca = join(data, "ca", "ca.pem");
    // Nothing but the CA certificate and the certificate: the CRL comes from the distribution point.
    const check = () => openssl(["verify", "-crl_check", "-crl_download", "-CAfile", ca, cert]);
    const before = check();
    expect(before.output).toContain(": OK");
    expect(before.status).toBe(0);

    const revoked = cli("revoke", "--server", env.CUSTOS_SERVER!, "--as", "root.custos-id", "patient/P001");
    expect(revoked.status, revoked.stderr).toBe(0);
    const after = check();
    expect(after.status).not.toBe(0);
    expect(after.output).toContain("certificate revoked");
    // Another patient's certificate still checks out against the same downloaded CRL.
    const other = certificateOf(join(root.dir, "P002.custos-id"), join(root.dir, "p2"));
    expect(openssl(["verify", "-crl_check", "-crl_download", "-CAfile", ca, other]).status).toBe(0);
  }, 60_000);

  it("serves the CRL in DER and PEM, the same the node holds, and nothing else", async () => {
    const base = `http://127.0.0.1:${crlPort}`;
    const der = await fetch(`${base}/crl`);
    expect(der.status).toBe(200);
    expect(der.headers.get("content-type")).toBe("application/pkix-crl");
    const pem = await (await fetch(`${base}/crl.pem`)).text();
    expect(pem).toBe(readFileSync(join(data, "ca", "crl.pem"), "utf8"));
    const body = Buffer.from(await der.arrayBuffer());
    expect(body.toString("base64")).toBe(pem.replace(/-----[A-Z0-9 ]+-----|\s/g, ""));
    writeFileSync(join(root.dir, "served.crl"), body);
    expect(openssl(["crl", "-inform", "DER", "-in", "served.crl", "-noout", "-issuer"]).output).toContain(
      "stmary",
    );
    expect((await fetch(`${base}/keystore.json`)).status).toBe(404);
    expect((await fetch(`${base}/crl`, { method: "POST", body: "x" })).status).toBe(405);
  });

  it("changes the location for certificates issued from now on; bad URLs are refused", () => {
    const bad = cli("ca", "crl-url", "--data", data, "ftp://example.org/crl");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^error: a CRL distribution point must be an http:\/\/ or https:\/\/ URL/);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(cli("ca", "crl-url", "--data", data).stdout.trim()).toBe(`http://127.0.0.1:${crlPort}/crl`);
    const set = cli("ca", "crl-url", "--data", data, "http://pki.stmary.example/custos.crl");
    expect(set.stdout).toContain(
      "certificates issued from now on name the CRL at http://pki.stmary.example/custos.crl",
    );
    const enrolled = cli(
      "enroll",
      "--server",
      env.CUSTOS_SERVER!,
      "--as",
      "root.custos-id",
      "--role",
      "patient",
      "--id",
      "P003",
      "--out",
      "P003.custos-id",
    );
    expect(enrolled.status, enrolled.stderr).toBe(0);
    const cert = certificateOf(join(root.dir, "P003.custos-id"), join(root.dir, "p3"));
    expect(openssl(["x509", "-in", cert, "-noout", "-ext", "crlDistributionPoints"]).output).toContain(
      "URI:http://pki.stmary.example/custos.crl",
    );
    expect(cli("ca", "crl-url", "--data", data, "--none").stdout).toContain("name no CRL location");
  });
});
