// The deployment's identities: `custos ca init|crl`, `custos enroll`, `custos revoke`, `custos grant`,
// `custos identity pem` (files for curl and other TLS clients); `custos serve` is registered beside them
// (serve.ts).

import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { writeFileAtomic } from "../../crypto/index.js";
import {
  checkRole,
  Deployment,
  DeploymentCa,
  Identity,
  type IdentityBundle,
  parseIdentityUri,
  ROLES,
  type Role,
  readBundle,
  writeBundle,
} from "../../identity/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, masterKeyFrom, parseCount, parseTime, requireData } from "../options.js";
import { adminClient, enrollRemote, registerRemoteAdminCommands } from "./admin-remote.js";
import { enrollBulk } from "./enroll-bulk.js";
import { bundlePassphrase, PASSPHRASE_FILE } from "./passphrase.js";
import { registerServeCommand } from "./serve.js";

interface DeploymentOptions {
  data?: string;
  db?: string;
  masterKeyFile?: string;
}

export { bundlePassphrase } from "./passphrase.js";

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
    .option(
      "--crl-url <url...>",
      "where parties fetch the CRL, named in every certificate issued (e.g. http://audit.stmary.example:8080/crl, served by custos serve --crl-listen)",
    )
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .action(async (options: DeploymentOptions & { deployment: string; crlUrl?: string[] }) => {
      const dir = requireData(options.data);
      const deployment = await Deployment.initCa(dir, masterKeyFrom(options), options.deployment, {
        ...deploymentOptions(options),
        crlUrls: options.crlUrl ?? [],
      });
      const urls = deployment.crlUrls;
      await deployment.close();
      io.out(`created the CA of deployment "${options.deployment}"`);
      io.out(`  certificate: ${join(dir, "ca", "ca.pem")}  (give it to every party)`);
      io.out(`  CRL:         ${join(dir, "ca", "crl.pem")}  (re-issue weekly: custos ca crl)`);
      if (urls.length > 0) io.out(`  certificates name the CRL at ${urls.join(", ")}`);
    });
  ca.command("crl-url")
    .description(
      "show or set where certificates issued from now on say the CRL is (already issued ones keep theirs)",
    )
    .argument("[urls...]", "http:// or https:// URLs (serve the CRL there: custos serve --crl-listen)")
    .option("--none", "certificates issued from now on name no CRL location")
    .option(...DATA)
    .option(...MASTER)
    .action(async (urls: string[], options: DeploymentOptions & { none?: boolean }) => {
      const dir = requireData(options.data);
      if (options.none && urls.length > 0) throw new UsageError("give URLs or --none, not both");
      const { Keystore } = await import("../../crypto/keystore/index.js");
      const keystore = await Keystore.open(join(dir, "keystore.json"), masterKeyFrom(options));
      const ca = DeploymentCa.open(dir, keystore);
      if (urls.length === 0 && !options.none) {
        io.out(ca.crlUrls.length > 0 ? ca.crlUrls.join("\n") : "certificates name no CRL location");
        return;
      }
      const set = ca.setCrlUrls(urls);
      io.out(
        set.length > 0
          ? `certificates issued from now on name the CRL at ${set.join(", ")}`
          : "certificates issued from now on name no CRL location",
      );
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
        .option(
          "--force",
          "with --bulk: identities enrolled with other public keys than the file's get the file's keys",
        )
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
          force?: boolean;
        },
      ) => {
        if (options.bulk && !replace) return enrollBulk(io, { ...options, bulk: options.bulk });
        if (options.force) throw new UsageError("--force goes with --bulk");
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
      "as an admin, grant an audit company read access to patients (or end it with --end, or set its period with --change --from T [--to T])",
    )
    .requiredOption("--as <bundle>", "the admin's identity bundle")
    .requiredOption("--auditor <id>", "the audit company's ID")
    .requiredOption("--patient <id...>", "the patients")
    .option("--from <time>", "start of the grant (default now)")
    .option("--to <time>", "end of the grant (default open-ended)")
    .option("--end", "end the audit company's access to these patients at --from (default now)")
    .option(
      "--change",
      "set the period of grants these patients have: exactly --from to --to (open-ended without --to), one log entry",
    )
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
          change?: boolean;
          server?: string;
          passphraseFile?: string;
        },
      ) => {
        const from = parseTime(options.from, "--from");
        const to = parseTime(options.to, "--to");
        if (options.change) {
          if (options.end) throw new UsageError("--change and --end do not go together");
          if (from === undefined) throw new UsageError("--change needs --from (and --to, unless open-ended)");
          const change = {
            auditor: options.auditor,
            patients: options.patient,
            from,
            ...(to !== undefined ? { to } : {}),
          };
          const index = options.server
            ? await adminClient(options).changeGrantPeriod(change)
            : await withDeployment(options, (d) =>
                d.changeGrant(
                  Identity.unlock(readBundle(options.as), bundlePassphrase(options.passphraseFile)),
                  change,
                ),
              );
          io.out(
            `set ${options.auditor}'s access to ${options.patient.length} patient(s) to ${new Date(from).toISOString()} - ${to === undefined ? "open-ended" : new Date(to).toISOString()} (log entry ${index})`,
          );
          return;
        }
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
  registerServeCommand(program, io);
}
