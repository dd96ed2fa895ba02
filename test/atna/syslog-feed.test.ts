// The ATNA feed end to end: a real `custos serve --syslog`, real senders over mutual TLS (OpenSSL's
// s_client writing frames, and Debian's rsyslogd forwarding with its GnuTLS driver), the records read
// back verified and decrypted through the SDK, bad frames counted and logged without their content.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECURITY_EVENTS_PATIENT } from "../../src/atna/audit-message.js";
import { CustosClient } from "../../src/client/custos-client.js";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { createTestDeployment, freePort, PASS, type TestDeployment } from "../helpers/deployment.js";
import { eventually } from "../helpers/processes.js";
import { dicomPatientRead, loginFailure, octetFrame, rfc3881Export, syslogMessage } from "./fixtures.js";

let env: TestDeployment;
let syslogPort: number;
const url = () => `https://127.0.0.1:${env.apiPort}`;
const client = (who: string) => new CustosClient({ url: url(), identity: env.identity(who) });

async function metric(name: string, labels: string): Promise<number> {
  const text = await new MtlsClient(url(), env.identity("auditor/A1")).call<string>("GET", "/metrics");
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

/**
 * Runs `openssl s_client` as the given enrolled party (or with no certificate), writing `input`, and
 * waits for it to end (asynchronously: the node's output pipe must keep being read meanwhile).
 */
async function sClient(input: Buffer, who?: string): Promise<{ status: number | null; out: string }> {
  const pem = (id: string, file: string) => join(env.pemDir(id), file);
  const args = ["s_client", "-connect", `127.0.0.1:${syslogPort}`, "-CAfile", pem("emr", "ca.pem")];
  args.push("-quiet", "-no_ign_eof");
  if (who) args.push("-cert", pem(who, "cert.pem"), "-key", pem(who, "key.pem"), "-pass", `pass:${PASS}`);
  const child = spawn("openssl", args, { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  child.stderr.on("data", (chunk) => (out += chunk));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill(), 30_000);
  const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  return { status, out };
}

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
      // The deployment's security-events trail, enrolled like a patient (its bundle kept by the
      // privacy office) so that audit companies can be granted it (docs/atna.md).
      ["patient", SECURITY_EVENTS_PATIENT],
    ],
    grants: [{ auditor: "A1", patients: ["P1", "P2", SECURITY_EVENTS_PATIENT] }],
  });
  syslogPort = await freePort();
  await env.start(["--syslog", `127.0.0.1:${syslogPort}`, "--log"]);
  expect(env.output).toContain(`ATNA syslog (mutual TLS): 127.0.0.1:${syslogPort}`);
}, 120_000);

afterAll(async () => env?.cleanup());

describe("custos serve --syslog", () => {
  it("stores frames from openssl s_client: both framings, both spellings, security events; drops bad frames whole", async () => {
    const input = Buffer.concat([
      octetFrame(syslogMessage(dicomPatientRead("P1", "dr-lee"))),
      Buffer.from(`${syslogMessage(rfc3881Export("P2", "clerk-9"))}\n`), // non-transparent (LF) framing
      octetFrame(syslogMessage(loginFailure("dr-who"))),
      octetFrame(syslogMessage("<AuditMessage><EventIdentification>secret-content-P1")), // not well-formed
      octetFrame("<85>1 not-a-time h a p m - secret-content-P2"), // bad RFC 5424 header
      octetFrame(syslogMessage(dicomPatientRead("P1", "dr-lee"))), // a resend: one event, not two
    ]);
    const run = await sClient(input, "emr");
    expect(run.status, `${run.out}\n${env.output}`).toBe(0);
    await eventually("the frames are stored", async () => {
      expect(await metric("custos_syslog_frames_total", 'result="stored"')).toBe(3);
      expect(await metric("custos_syslog_frames_total", 'result="security-event"')).toBe(1);
    });
    expect(await metric("custos_syslog_frames_total", 'result="bad-message"')).toBe(1);
    expect(await metric("custos_syslog_frames_total", 'result="bad-syslog"')).toBe(1);

    // Stored records are read once a signed checkpoint covers them (the node signs one within its
    // checkpoint interval), so the first read may come a moment early.
    const p1 = await eventually("a checkpoint covers the stored frames", async () => {
      const trail = await client("patient/P1").trail();
      expect(trail.records).toHaveLength(1);
      return trail;
    });
    expect(p1.records.map((r) => r.record)).toEqual([
      expect.objectContaining({
        patientId: "P1",
        userId: "dr-lee",
        action: "query",
        time: "2026-11-02T09:15:00.000Z",
      }),
    ]);
    const p2 = await client("patient/P2").trail();
    expect(p2.records[0]!.record).toMatchObject({ userId: "clerk-9", action: "copy", emergency: true });
    const security = await client("auditor/A1").auditTrails({ patientIds: [SECURITY_EVENTS_PATIENT] });
    const events = security.patients.flatMap((p) => p.result?.records ?? []);
    expect(events.map((e) => e.record)).toEqual([
      expect.objectContaining({
        patientId: SECURITY_EVENTS_PATIENT,
        userId: "dr-who",
        outcome: "minor-failure",
      }),
    ]);
    // Refusals are logged by reason and code only.
    expect(env.output).toContain("syslog frame refused");
    expect(env.output).not.toContain("secret-content");
    expect(env.output).not.toContain("dr-lee");
  }, 120_000);

  it("refuses a sender without a client certificate or with another role, and closes a stream that is not syslog", async () => {
    const before = await metric("custos_syslog_connections_total", 'result="refused"');
    await sClient(octetFrame(syslogMessage(dicomPatientRead("P1", "intruder"))));
    await sClient(octetFrame(syslogMessage(dicomPatientRead("P1", "intruder"))), "P1");
    await eventually("both connections are refused", async () =>
      expect(await metric("custos_syslog_connections_total", 'result="refused"')).toBe(before + 2),
    );
    await sClient(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "emr");
    await eventually("the HTTP stream is closed", async () =>
      expect(await metric("custos_syslog_connections_total", 'result="bad-framing"')).toBe(1),
    );
    const p1 = await client("patient/P1").trail();
    expect(p1.records.some((r) => r.record.userId === "intruder")).toBe(false);
  }, 120_000);

  it("takes audit messages forwarded by rsyslogd over TLS (gtls, x509/certvalid, octet-counted)", async () => {
    const dir = join(env.root, "rsyslog");
    mkdirSync(join(dir, "work"), { recursive: true });
    const pem = env.pemDir("emr");
    // rsyslog's GnuTLS driver reads an unencrypted key.
    const plain = spawnSync("openssl", [
      "pkey",
      "-in",
      join(pem, "key.pem"),
      "-passin",
      `pass:${PASS}`,
      "-out",
      join(dir, "key.pem"),
    ]);
    expect(plain.status, plain.stderr.toString()).toBe(0);
    const inPort = await freePort();
    writeFileSync(
      join(dir, "rsyslog.conf"),
      `global(workDirectory="${dir}/work" parser.escapeControlCharactersOnReceive="off"
  defaultNetstreamDriverCAFile="${pem}/ca.pem" defaultNetstreamDriverCertFile="${pem}/cert.pem"
  defaultNetstreamDriverKeyFile="${dir}/key.pem")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="${inPort}")
action(type="omfwd" target="127.0.0.1" port="${syslogPort}" protocol="tcp" StreamDriver="gtls"
  StreamDriverMode="1" StreamDriverAuthMode="x509/certvalid" TCP_Framing="octet-counted"
  template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1")
`,
    );
    const check = spawnSync("/usr/sbin/rsyslogd", ["-N1", "-f", join(dir, "rsyslog.conf")], {
      encoding: "utf8",
    });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    const rsyslog: ChildProcess = spawn(
      "/usr/sbin/rsyslogd",
      ["-n", "-f", join(dir, "rsyslog.conf"), "-i", join(dir, "rsyslogd.pid")],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let rsyslogOut = "";
    rsyslog.stdout!.on("data", (c) => (rsyslogOut += c));
    rsyslog.stderr!.on("data", (c) => (rsyslogOut += c));
    try {
      const before = await metric("custos_syslog_frames_total", 'result="stored"');
      // An application hands rsyslog the ATNA message on its local TCP input (octet-counted).
      await eventually(
        "rsyslogd takes the message",
        () =>
          new Promise<void>((resolve, reject) => {
            const socket = connect(inPort, "127.0.0.1", () => {
              socket.end(octetFrame(syslogMessage(dicomPatientRead("P2", "dr-rsyslog"))), () => resolve());
            });
            socket.on("error", reject);
          }),
      );
      await eventually(
        "the forwarded message is stored",
        async () => {
          expect(await metric("custos_syslog_frames_total", 'result="stored"'), rsyslogOut).toBe(before + 1);
        },
        60_000,
      );
      await eventually("a checkpoint covers the forwarded record", async () => {
        const p2 = await client("patient/P2").trail();
        expect(p2.records.map((r) => r.record.userId)).toContain("dr-rsyslog");
      });
    } finally {
      rsyslog.kill("SIGTERM");
      await new Promise((resolve) => rsyslog.once("exit", resolve));
    }
  }, 120_000);
});
