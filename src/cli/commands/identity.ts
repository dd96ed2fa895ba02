// The deployment's identities: `custos ca init|crl`, `custos enroll`, `custos revoke`, `custos grant`,
// `custos identity pem` (files for curl and other TLS clients) and `custos serve`.

import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { CustosError } from "../../core/errors.js";
import { parseVerifierKey } from "../../core/note/index.js";
import { writeFileAtomic } from "../../crypto/atomic-write.js";
import { Identity, type IdentityBundle, readBundle, writeBundle } from "../../identity/bundle.js";
import { DeploymentCa } from "../../identity/ca.js";
import { Deployment } from "../../identity/deployment.js";
import {
  operatorPortalCertificate,
  PORTAL_CERT_FILE,
  type PortalTls,
} from "../../identity/portal-certificate.js";
import { checkRole, parseIdentityUri, ROLES, type Role } from "../../identity/roles.js";
import { openStore } from "../../ledger/data-dir.js";
import { PostgresStore } from "../../ledger/postgres/index.js";
import { type Listen, startServer } from "../../service/server.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, masterKeyFrom, parseCount, parseListen, requireData } from "../options.js";
import { adminClient, enrollRemote, registerRemoteAdminCommands } from "./admin-remote.js";
import { enrollBulk } from "./enroll-bulk.js";
import { serveRoles } from "./serve-roles.js";

interface DeploymentOptions {
  data?: string;
  db?: string;
  masterKeyFile?: string;
}

const PASSPHRASE_FILE = [
  "--passphrase-file <file>",
  "read the bundle passphrase from this file (default: CUSTOS_BUNDLE_PASSPHRASE)",
] as const;

/** The passphrase that protects an identity bundle: from a file or CUSTOS_BUNDLE_PASSPHRASE. */
export function bundlePassphrase(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new CustosError("KEY_MISSING", `cannot read the passphrase file ${file}`);
    }
    const passphrase = text.replace(/\r?\n$/, "");
    if (passphrase.length === 0) throw new CustosError("KEY_MISSING", `the passphrase file ${file} is empty`);
    return passphrase;
  }
  const passphrase = env.CUSTOS_BUNDLE_PASSPHRASE;
  if (!passphrase) {
    throw new CustosError(
      "KEY_MISSING",
      "no bundle passphrase: set CUSTOS_BUNDLE_PASSPHRASE or pass --passphrase-file FILE",
    );
  }
  return passphrase;
}

function deploymentOptions(options: DeploymentOptions) {
  return options.db ? { db: options.db } : {};
}

/**
 * Opens the deployment to administer it offline. A log a running node holds (its sequencer lock:
 * SQLite's lock file, PostgreSQL's advisory lock) is refused: writing beside the node would diverge
 * from what it serves, so admin actions then go through the node.
 */
async function withDeployment<T>(options: DeploymentOptions, run: (d: Deployment) => Promise<T>): Promise<T> {
  const deployment = await Deployment.open(
    requireData(options.data),
    masterKeyFrom(options),
    deploymentOptions(options),
  ).catch((error: unknown) => {
    if (error instanceof CustosError && error.code === "STORE_BUSY") throw nodeHoldsLog();
    throw error;
  });
  try {
    return await run(deployment);
  } finally {
    await deployment.close();
  }
}

/** The refusal of an offline admin command while a node serves the log. */
export function nodeHoldsLog(): CustosError {
  return new CustosError(
    "STORE_BUSY",
    "a running node holds this log: run admin commands through it with --server URL --as ADMIN_BUNDLE",
  );
}

/** A duration like 10s or 500ms (seconds without a unit), in ms. */
function parseDuration(value: string, name: string): number {
  const match = /^(0|[1-9][0-9]{0,6})(ms|s)?$/.exec(value);
  if (!match) throw new UsageError(`${name} must be a duration like 10s or 500ms, got "${value}"`);
  return Number(match[1]) * (match[2] === "ms" ? 1 : 1000);
}

function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${name} must be an ISO 8601 date or time, got "${value}"`);
  return t;
}

/**
 * Writes a new bundle file (never over an existing one) and returns how to remove it again; a path
 * that cannot be written is a one-line error.
 */
export function saveBundle(path: string, bundle: IdentityBundle): () => void {
  try {
    writeBundle(path, bundle);
  } catch (error) {
    if (error instanceof CustosError) throw error;
    throw new CustosError(
      "CONFIG",
      `cannot write the bundle to ${path}: ${(error as NodeJS.ErrnoException).code ?? "write failed"}`,
    );
  }
  return () => rmSync(path, { force: true });
}

/** `ROLE/ID`, a full `custos://` URI, or an ID with --role. */
function parseWho(who: string, role: string | undefined): { role: Role; id: string } {
  if (who.startsWith("custos://")) {
    const name = parseIdentityUri(who);
    return { role: name.role, id: name.id };
  }
  const slash = who.indexOf("/");
  if (slash > 0) return { role: checkRole(who.slice(0, slash)), id: who.slice(slash + 1) };
  if (!role) throw new UsageError("name the identity as ROLE/ID, as a custos:// URI, or with --role");
  return { role: checkRole(role), id: who };
}

export function registerIdentityCommands(program: Command, io: Io): void {
  const ca = program.command("ca").description("the deployment's certificate authority");
  ca.command("init")
    .description(
      "create the deployment CA (Ed25519 root; key sealed in the keystore) and record it in the log",
    )
    .requiredOption("--deployment <name>", "the deployment's name: the host part of every identity URI")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .action(async (options: DeploymentOptions & { deployment: string }) => {
      const dir = requireData(options.data);
      const deployment = await Deployment.initCa(
        dir,
        masterKeyFrom(options),
        options.deployment,
        deploymentOptions(options),
      );
      await deployment.close();
      io.out(`created the CA of deployment "${options.deployment}"`);
      io.out(`  certificate: ${join(dir, "ca", "ca.pem")}  (give it to every party)`);
      io.out(`  CRL:         ${join(dir, "ca", "crl.pem")}  (re-issue weekly: custos ca crl)`);
    });
  ca.command("crl")
    .description("re-issue the CRL (it is valid for 7 days)")
    .option(...DATA)
    .option(...MASTER)
    .action(async (options: DeploymentOptions) => {
      const dir = requireData(options.data);
      const { Keystore } = await import("../../crypto/keystore/index.js");
      const keystore = await Keystore.open(join(dir, "keystore.json"), masterKeyFrom(options));
      await DeploymentCa.open(dir, keystore).writeCrl();
      io.out(`re-issued ${join(dir, "ca", "crl.pem")}`);
    });

  const withServer = (command: Command) =>
    command
      .option("--server <url>", "administer through this running node (https://host:port) with --as")
      .option(
        "--as <bundle>",
        "the admin's identity bundle (with --server; with --bulk it signs the file's grants)",
      );
  const enroll = (name: string, description: string, replace: boolean) =>
    withServer(
      program
        .command(name)
        .description(description)
        .option("--role <role>", `one of ${ROLES.join(", ")}`)
        .option("--id <id>", "the identity's ID (e.g. a patient's MRN, a company's short name)")
        .option(
          "--request <file>",
          "with --server: a holder's enrollment request (custos identity request); --out gets its certificates",
        )
        .option(
          "--out <file>",
          "where to write the bundle or certificates (never overwritten; with --bulk, a directory)",
        )
        .option(
          "--bulk <file>",
          "enroll patients, audit companies and grants from a CSV file (docs/identity.md)",
        )
        .option("--dry-run", "with --bulk: check the file and show what would be done, write nothing")
        .option("--days <n>", "validity in days", "365")
        .option(
          "--host <name...>",
          "DNS names or IPs for a node's or witness's TLS certificate (beside 127.0.0.1, ::1, localhost)",
        )
        .option(...PASSPHRASE_FILE)
        .option(...DATA)
        .option(...DB)
        .option(...MASTER),
    ).action(
      async (
        options: DeploymentOptions & {
          role?: string;
          id?: string;
          request?: string;
          out?: string;
          days: string;
          host?: string[];
          passphraseFile?: string;
          server?: string;
          as?: string;
          bulk?: string;
        },
      ) => {
        if (options.bulk && !replace) return enrollBulk(io, { ...options, bulk: options.bulk });
        const out = options.out;
        if (!out) throw new UsageError(`${name} needs --out FILE`);
        const days = parseCount(options.days, "--days");
        if (options.server || replace) return enrollRemote(io, { ...options, out }, days, replace);
        if (options.request) throw new UsageError("--request needs --server URL --as ADMIN_BUNDLE");
        if (!options.role || !options.id)
          throw new UsageError("enroll needs --role, --id and --out (or --bulk FILE.csv)");
        const role = checkRole(options.role);
        const id = options.id;
        const passphrase = bundlePassphrase(options.passphraseFile);
        const issued = await withDeployment(options, (d) =>
          d.enroll(
            { role, id, passphrase, days, ...(options.host ? { hosts: options.host } : {}) },
            // The bundle is written first; if the log then refuses the entry, it is removed again.
            (identity) => saveBundle(out, identity.bundle),
          ),
        );
        io.out(`enrolled ${issued.uri} (log entry ${issued.index})`);
        io.out(`  bundle: ${out}  (keys encrypted under the passphrase; keep it private)`);
        io.out(`  valid until ${new Date(issued.notAfter).toISOString()}`);
      },
    );
  enroll(
    "enroll",
    "issue an identity (signing and encryption keys and certificates) into a bundle file, and publish it in the log",
    false,
  );
  enroll(
    "replace-key",
    "through a running node (--server): revoke an identity's lost key and enroll new keys for it",
    true,
  );

  withServer(
    program
      .command("revoke")
      .description("revoke an identity: its certificates go on the CRL and the revocation into the log")
      .argument("<identity>", "ROLE/ID or custos://deployment/ROLE/ID")
      .option("--role <role>", "the role, when <identity> is a bare ID")
      .option(...PASSPHRASE_FILE)
      .option(...DATA)
      .option(...DB)
      .option(...MASTER),
  ).action(
    async (
      who: string,
      options: DeploymentOptions & { role?: string; server?: string; as?: string; passphraseFile?: string },
    ) => {
      const { role, id } = parseWho(who, options.role);
      const result = options.server
        ? await adminClient(options).revoke(role, id)
        : await withDeployment(options, (d) => d.revoke(role, id));
      io.out(
        `revoked ${role}/${id}: ${result.serials.length} certificates on the CRL (log entry ${result.index})`,
      );
    },
  );

  program
    .command("grant")
    .description(
      "as an admin, grant an audit company read access to patients (or end it with --end); a new period with --from/--to",
    )
    .requiredOption("--as <bundle>", "the admin's identity bundle")
    .requiredOption("--auditor <id>", "the audit company's ID")
    .requiredOption("--patient <id...>", "the patients")
    .option("--from <time>", "start of the grant (default now)")
    .option("--to <time>", "end of the grant (default open-ended)")
    .option("--end", "end the audit company's access to these patients at --from (default now)")
    .option("--server <url>", "grant through this running node (https://host:port)")
    .option(...PASSPHRASE_FILE)
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .action(
      async (
        options: DeploymentOptions & {
          as: string;
          auditor: string;
          patient: string[];
          from?: string;
          to?: string;
          end?: boolean;
          server?: string;
          passphraseFile?: string;
        },
      ) => {
        const from = parseTime(options.from, "--from");
        const to = parseTime(options.to, "--to");
        let index: number;
        if (options.server) {
          index = await adminClient(options).grant({
            auditor: options.auditor,
            patients: options.patient,
            ...(from !== undefined ? { from } : {}),
            ...(to !== undefined ? { to } : {}),
            ...(options.end ? { end: true } : {}),
          });
        } else {
          const admin = Identity.unlock(readBundle(options.as), bundlePassphrase(options.passphraseFile));
          index = await withDeployment(options, (d) =>
            options.end
              ? d.endGrant(admin, {
                  auditor: options.auditor,
                  patients: options.patient,
                  ...(from ? { at: from } : {}),
                })
              : d.grant(admin, {
                  auditor: options.auditor,
                  patients: options.patient,
                  ...(from ? { from } : {}),
                  ...(to ? { to } : {}),
                }),
          );
        }
        io.out(
          `${options.end ? "ended" : "granted"} ${options.auditor}'s access to ${options.patient.length} patient(s) (log entry ${index})`,
        );
      },
    );

  const identity = program.command("identity").description("work with identity bundles");
  registerRemoteAdminCommands(program, identity, io);
  identity
    .command("pem")
    .description(
      "write a bundle's certificate, encrypted key and CA as PEM files (for curl --cert/--key/--cacert)",
    )
    .requiredOption("--bundle <file>", "the identity bundle")
    .requiredOption("--out <dir>", "directory to write cert.pem, key.pem (still encrypted) and ca.pem")
    .action((options: { bundle: string; out: string }) => {
      const bundle = readBundle(options.bundle);
      mkdirSync(options.out, { recursive: true, mode: 0o700 });
      writeFileAtomic(join(options.out, "cert.pem"), bundle.signingCertificate, { mode: 0o644 });
      writeFileAtomic(join(options.out, "key.pem"), bundle.signingKey, { mode: 0o600 });
      writeFileAtomic(join(options.out, "ca.pem"), bundle.caCertificate, { mode: 0o644 });
      io.out(`wrote cert.pem, key.pem (encrypted; curl --pass) and ca.pem to ${options.out}`);
    });

  program
    .command("serve")
    .description(
      "run the node: the API on mutual TLS, and the browser portal port with signed-challenge login",
    )
    .requiredOption("--identity <bundle>", "the node's identity bundle (role node)")
    .option("--listen <host:port>", "the mutual-TLS API address", "127.0.0.1:8443")
    .option("--portal <host:port>", "the browser portal address (TLS, login by signed challenge)")
    .option("--tls12", "also accept TLS 1.2 (default: TLS 1.3 only)")
    .option("--syslog <host:port>", "also take IHE ATNA audit messages: syslog over mutual TLS (RFC 5425)")
    .option("--log", "structured request logs on stdout (no personal data)")
    .option("--verify-every <seconds>", "re-verify what was appended this often (0: never)", "60")
    .option("--rate <n>", "requests per second allowed per identity", "200")
    .option(
      "--witness <url=key...>",
      "a witness to cosign each checkpoint: its URL and cosigner verifier key",
    )
    .option("--quorum <n>", "witness cosignatures the portal's page demands (default: every --witness)")
    .option(
      "--portal-origin <url...>",
      "the https://host[:port] origins users reach the portal at, e.g. behind a proxy (default: the portal certificate's names at the portal port); logins come only from these",
    )
    .option(
      "--gossip-every <duration>",
      "check the witnesses' checkpoints and evidence against this log this often (e.g. 10s, 500ms; 0: never)",
      "10s",
    )
    .option(
      "--checkpoint-every <duration>",
      "sign a checkpoint at most this often while records arrive (e.g. 1s, 500ms)",
      "1s",
    )
    .option(
      "--portal-cert <file>",
      "the portal's certificate chain, PEM (with --portal-key; default: a self-signed ECDSA P-256 one)",
    )
    .option("--portal-key <file>", "the portal certificate's private key, unencrypted PEM")
    .option("--portal-site <dir>", "the portal's built site (index.html, assets/); default: dist/portal")
    .option(...PASSPHRASE_FILE)
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .action(
      async (
        options: DeploymentOptions & {
          identity: string;
          listen: string;
          portal?: string;
          syslog?: string;
          tls12?: boolean;
          log?: boolean;
          verifyEvery: string;
          rate: string;
          witness?: string[];
          quorum?: string;
          portalOrigin?: string[];
          gossipEvery: string;
          checkpointEvery: string;
          portalCert?: string;
          portalKey?: string;
          portalSite?: string;
          passphraseFile?: string;
        },
      ) => {
        const verifyEveryMs = parseCount(options.verifyEvery, "--verify-every") * 1000;
        const ratePerSecond = parseCount(options.rate, "--rate");
        const gossipEveryMs = parseDuration(options.gossipEvery, "--gossip-every");
        const checkpointIntervalMs = parseDuration(options.checkpointEvery, "--checkpoint-every");
        if (checkpointIntervalMs < 1) throw new UsageError("--checkpoint-every must be more than 0");
        if (gossipEveryMs > 0 && gossipEveryMs < 100)
          throw new UsageError("--gossip-every must be at least 100ms (or 0)");
        const witnesses = (options.witness ?? []).map((spec) => {
          const at = spec.indexOf("=");
          const url = at > 0 ? spec.slice(0, at) : "";
          if (!/^https:\/\//.test(url))
            throw new UsageError(`--witness must be https://host:port=VERIFIERKEY, got "${spec}"`);
          const verifierKey = spec.slice(at + 1);
          try {
            parseVerifierKey(verifierKey);
          } catch {
            throw new UsageError(`--witness ${url}: the verifier key is not a note verifier key`);
          }
          return { url, verifierKey };
        });
        if (ratePerSecond < 1) throw new UsageError("--rate must be at least 1");
        const portalOrigins = options.portalOrigin?.map((value) => {
          let url: URL;
          try {
            url = new URL(value);
          } catch {
            throw new UsageError(`--portal-origin must be an https://host[:port] origin, got "${value}"`);
          }
          if (url.protocol !== "https:" || url.origin !== value.replace(/\/$/, ""))
            throw new UsageError(`--portal-origin must be an https://host[:port] origin, got "${value}"`);
          return url.origin;
        });
        const witnessQuorum =
          options.quorum === undefined ? witnesses.length : parseCount(options.quorum, "--quorum");
        if (witnessQuorum > witnesses.length) {
          throw new UsageError(
            `--quorum ${witnessQuorum} is more than the ${witnesses.length} witness(es) given with --witness`,
          );
        }
        const portalTls = readPortalTls(options);
        const identity = Identity.unlock(
          readBundle(options.identity),
          bundlePassphrase(options.passphraseFile),
        );
        const api = parseListen(options.listen, "--listen");
        const portal = options.portal ? parseListen(options.portal, "--portal") : undefined;
        const syslog = options.syslog ? parseListen(options.syslog, "--syslog") : undefined;
        const dir = requireData(options.data);
        const masterKey = masterKeyFrom(options);
        const open = (readOnly: boolean) =>
          Deployment.open(dir, masterKey, {
            ...deploymentOptions(options),
            checkpointIntervalMs,
            ...(readOnly ? { readOnly: true } : {}),
          });
        let standby = false;
        let readOnlyServer = false;
        let deployment: Deployment;
        try {
          deployment = await open(false);
        } catch (error) {
          // PostgreSQL: another node holds the sequencer lock, so serve reads (and trail queries, through
          // the outbox) and stand by to take over; or the server is a hot standby, so serve reads only.
          if (!(error instanceof CustosError && options.db)) throw error;
          if (error.code === "CONFIG") readOnlyServer = await onReadOnlyServer(dir, options.db);
          if (error.code !== "STORE_BUSY" && !readOnlyServer) throw error;
          deployment = await open(true);
          standby = true;
        }
        const start = async (
          d: Deployment,
          where: { api: Listen; portal?: Listen | undefined; syslog?: Listen | undefined },
        ) => {
          try {
            return await startServer({
              deployment: d,
              identity,
              api: where.api,
              ...(where.portal ? { portal: where.portal } : {}),
              ...(where.syslog ? { syslog: where.syslog } : {}),
              ...(options.tls12 ? { allowTls12: true } : {}),
              ...(options.log ? { log: true } : {}),
              verifyEveryMs,
              ratePerSecond,
              witnesses,
              witnessQuorum,
              gossipEveryMs,
              ...(portalTls ? { portalTls } : {}),
              ...(options.portalSite ? { portalSite: options.portalSite } : {}),
              ...(portalOrigins ? { portalOrigins } : {}),
            });
          } catch (error) {
            await d.close();
            if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
              throw new CustosError(
                "CONFIG",
                "the address is already in use; choose another with --listen/--portal/--syslog",
              );
            }
            throw error;
          }
        };
        const server = await start(deployment, { api, portal, syslog });
        io.out(`custos node ${identity.uri} serving`);
        io.out(`  API (mutual TLS): https://${server.api.host}:${server.api.port}`);
        if (server.portalCertificate) {
          const { fingerprint, source } = server.portalCertificate;
          io.out(
            `  portal certificate SHA-256 SPKI (base64): ${fingerprint} (${source === "operator" ? "--portal-cert" : `self-signed, ${join(dir, PORTAL_CERT_FILE)}`})`,
          );
        }
        if (server.syslog) io.out(`  ATNA syslog (mutual TLS): ${server.syslog.host}:${server.syslog.port}`);
        if (server.portal) io.out(`  portal (login):   https://${server.portal.host}:${server.portal.port}`);
        if (readOnlyServer)
          io.out(
            "  standby: the database accepts only reads (a hot standby); serving checkpoints, proofs and tiles, not trail queries",
          );
        else if (standby)
          io.out("  standby: another node sequences this log; serving reads, ready to take over");
        let stopping = false;
        const stopped = new Promise<void>((resolve) => {
          const stop = () => {
            stopping = true;
            resolve();
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
        await serveRoles(
          { dir, db: options.db, open, start, io, stopped, isStopping: () => stopping },
          { deployment, server, standby, readOnlyServer },
        );
        io.out("stopped");
      },
    );
}

/** Whether the PostgreSQL server at `db` accepts only reads (a hot standby): such a node never sequences. */
async function onReadOnlyServer(dir: string, db: string): Promise<boolean> {
  const store = await openStore(dir, { db }).catch(() => undefined);
  if (store === undefined) return false;
  const readOnly = store instanceof PostgresStore && store.serverReadOnly;
  await store.close();
  return readOnly;
}

/** --portal-cert and --portal-key, read and checked; undefined when neither is given. */
function readPortalTls(options: {
  portal?: string;
  portalCert?: string;
  portalKey?: string;
}): PortalTls | undefined {
  if (options.portalCert === undefined && options.portalKey === undefined) return undefined;
  if (options.portalCert === undefined || options.portalKey === undefined)
    throw new UsageError("--portal-cert and --portal-key go together");
  if (!options.portal) throw new UsageError("--portal-cert and --portal-key need --portal HOST:PORT");
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch {
      throw new CustosError("CONFIG", `cannot read the portal ${what} ${file}`);
    }
  };
  return operatorPortalCertificate(read(options.portalCert, "certificate"), read(options.portalKey, "key"));
}
