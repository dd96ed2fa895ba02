// Admin commands through a running node (`--server URL --as ADMIN_BUNDLE`): enroll, grant, revoke and
// replace-key over the node's admin API, and the holder's side of enrollment with its own keys
// (`custos identity request`, then `custos identity complete`). docs/identity.md#live-administration

import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import type { Command } from "commander";
import { AdminClient, type Enrolled, type Enrollment } from "../../client/index.js";
import { CustosError } from "../../core/index.js";
import { writeFileAtomic } from "../../crypto/index.js";
import {
  checkRole,
  completeBundle,
  createEnrollmentRequest,
  type EnrollmentCertificates,
  type EnrollmentKeys,
  type EnrollmentRequest,
  Identity,
  type Role,
  readBundle,
} from "../../identity/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { bundlePassphrase, saveBundle } from "./identity.js";

export interface RemoteAdminOptions {
  server?: string;
  as?: string;
  passphraseFile?: string;
}

export function adminClient(options: RemoteAdminOptions): AdminClient {
  if (!options.server) throw new UsageError("--server URL is required");
  if (!options.as) throw new UsageError("--as ADMIN_BUNDLE is required with --server");
  const admin = Identity.unlock(readBundle(options.as), bundlePassphrase(options.passphraseFile));
  return new AdminClient(options.server, admin);
}

function readJson<T>(file: string, what: string): T {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new CustosError("NOT_FOUND", `cannot read the ${what} ${file}`);
  }
  if (text.length > 64 * 1024) throw new CustosError("BAD_ARGUMENT", `the ${what} ${file} is too large`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CustosError("BAD_ARGUMENT", `the ${what} ${file} is not JSON`);
  }
}

/**
 * Reserves a new file before the node is asked (so a path that cannot be written fails before anything
 * is enrolled), fills it with the reply, and removes it if the node refuses.
 */
async function intoNewFile(path: string, produce: () => Promise<string>): Promise<void> {
  try {
    closeSync(openSync(path, "wx", 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CustosError(
      code === "EEXIST" ? "STORE_EXISTS" : "CONFIG",
      code === "EEXIST"
        ? `refusing to overwrite ${path}: it already exists`
        : `cannot write ${path}: ${code}`,
    );
  }
  try {
    writeFileAtomic(path, await produce(), { mode: 0o600 });
  } catch (error) {
    rmSync(path, { force: true });
    throw error;
  }
}

export interface RemoteEnrollOptions extends RemoteAdminOptions {
  role?: string;
  id?: string;
  request?: string;
  out: string;
  days: string;
  host?: string[];
}

function enrollment(options: RemoteEnrollOptions, days: number): Enrollment {
  const extra = { days, ...(options.host ? { hosts: options.host } : {}) };
  if (options.request) {
    if (options.role || options.id) throw new UsageError("--request already names the role and ID");
    return { request: readJson<EnrollmentRequest>(options.request, "enrollment request"), ...extra };
  }
  if (!options.role || !options.id) throw new UsageError("give --role and --id, or --request FILE");
  return {
    role: checkRole(options.role),
    id: options.id,
    passphrase: bundlePassphrase(options.passphraseFile),
    ...extra,
  };
}

/** `custos enroll|replace-key --server`: the bundle, or the certificates for a request, into --out. */
export async function enrollRemote(
  io: Io,
  options: RemoteEnrollOptions,
  days: number,
  replace = false,
): Promise<void> {
  const client = adminClient(options);
  const body = enrollment(options, days);
  let said = "";
  await intoNewFile(options.out, async () => {
    let reply: Enrolled;
    if (replace) {
      const replaced = await client.replaceKey(body);
      said = `replaced the keys of ${replaced.uri} (revocation ${replaced.revoked}, enrollment ${replaced.index})`;
      reply = replaced;
    } else {
      reply = await client.enroll(body);
      said = `enrolled ${reply.uri} (log entry ${reply.index})`;
    }
    if (reply.bundle) return `${JSON.stringify(reply.bundle, null, 2)}\n`;
    return `${JSON.stringify(reply.certificates, null, 2)}\n`;
  });
  io.out(said);
  io.out(
    options.request
      ? `  certificates: ${options.out}  (give them to the holder: custos identity complete)`
      : `  bundle: ${options.out}  (keys encrypted under the passphrase; keep it private)`,
  );
}

export function registerRemoteAdminCommands(program: Command, identity: Command, io: Io): void {
  identity
    .command("request")
    .description("make your own keys and an enrollment request (public keys, signed) for an admin to submit")
    .requiredOption("--role <role>", "the identity's role")
    .requiredOption("--id <id>", "the identity's ID")
    .requiredOption("--deployment <name>", "the deployment's name (the host part of identity URIs)")
    .requiredOption("--out <file>", "the request to give the admin (public)")
    .requiredOption("--keys <file>", "where your private keys go, encrypted under your passphrase")
    .option("--passphrase-file <file>", "the passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .action(
      (options: {
        role: string;
        id: string;
        deployment: string;
        out: string;
        keys: string;
        passphraseFile?: string;
      }) => {
        const { request, keys } = createEnrollmentRequest(
          { deployment: options.deployment, role: checkRole(options.role) as Role, id: options.id },
          bundlePassphrase(options.passphraseFile),
        );
        const undo = saveJson(options.keys, keys);
        try {
          saveJson(options.out, request);
        } catch (error) {
          undo();
          throw error;
        }
        io.out(`request for custos://${options.deployment}/${options.role}/${options.id}: ${options.out}`);
        io.out(
          `  private keys: ${options.keys}  (keep them; custos identity complete joins the certificates)`,
        );
      },
    );
  identity
    .command("complete")
    .description("join your keys and the certificates the admin returned into an identity bundle")
    .requiredOption("--keys <file>", "your keys file (from custos identity request)")
    .requiredOption("--certificates <file>", "the certificates the admin returned")
    .requiredOption("--out <file>", "the bundle to write (never overwritten)")
    .option("--passphrase-file <file>", "the passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .action((options: { keys: string; certificates: string; out: string; passphraseFile?: string }) => {
      const bundle = completeBundle(
        readJson<EnrollmentKeys>(options.keys, "keys file"),
        readJson<EnrollmentCertificates>(options.certificates, "certificates"),
        bundlePassphrase(options.passphraseFile),
      );
      saveBundle(options.out, bundle);
      io.out(`wrote the bundle of ${bundle.uri} to ${options.out}`);
    });
  void program;
}

function saveJson(path: string, value: unknown): () => void {
  try {
    writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, { exclusive: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof CustosError) throw error;
    throw new CustosError("CONFIG", `cannot write ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
  return () => rmSync(path, { force: true });
}
