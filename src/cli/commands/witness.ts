// `custos witness init|add-log|serve|show|evidence`: run a C2SP tlog-witness (docs/witness.md). The
// cosigner key is created sealed in the witness's keystore and never printed; only its verifier key is.

import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { MtlsClient } from "../../client/index.js";
import { CustosError, toBase64 } from "../../core/index.js";
import { Identity, readBundle } from "../../identity/index.js";
import {
  checkRestoredWitness,
  initWitnessDir,
  loadCosignerKey,
  RESTORED_FILE,
  readRestoredMarker,
  startWitnessServer,
  WitnessStore,
} from "../../witness/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { MASTER, masterKeyFrom, parseListen } from "../options.js";
import { bundlePassphrase } from "./identity.js";

/** The witness's own directory: never the node's (CUSTOS_DATA), so the two cannot be confused. */
const WITNESS_DATA = [
  "--data <dir>",
  "the witness's data directory (or CUSTOS_WITNESS_DATA)",
  process.env.CUSTOS_WITNESS_DATA,
] as const;
const DEFAULT_LISTEN = "127.0.0.1:7380";

function requireWitnessData(data: string | undefined): string {
  if (!data) throw new UsageError("--data DIR is required (or set CUSTOS_WITNESS_DATA)");
  return data;
}

function withStore<T>(data: string | undefined, run: (store: WitnessStore) => T): T {
  const store = WitnessStore.open(requireWitnessData(data));
  try {
    return run(store);
  } finally {
    store.close();
  }
}

function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new CustosError(
      "NOT_FOUND",
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
}

function sizeOut(size: bigint): number | string {
  return size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(size) : size.toString();
}

/**
 * A witness restored from a backup checks itself against its logs before it cosigns again (it forgot
 * what it cosigned after the backup): refused without --check-log unless --unchecked says so.
 */
async function checkAfterRestore(
  io: Io,
  dir: string,
  store: WitnessStore,
  cosignerKey: string,
  identity: Identity,
  options: { checkLog?: string[]; unchecked?: boolean },
): Promise<void> {
  const marker = readRestoredMarker(dir);
  if (marker === undefined) {
    if (options.checkLog?.length)
      throw new UsageError(
        "--check-log applies only to a witness restored from a backup and not yet checked",
      );
    return;
  }
  const when = new Date(marker.backupCreatedAt).toISOString();
  if (!options.checkLog?.length) {
    if (!options.unchecked)
      throw new CustosError(
        "CONFIG",
        `this witness was restored from a backup of ${when} and forgot what it cosigned since: give --check-log URL (a node or serving mirror of each log it watches) so it checks itself before cosigning, or --unchecked to serve without that check`,
      );
    io.err(
      `warning: serving unchecked (--unchecked): this witness was restored from a backup of ${when}; what it cosigned since is forgotten, and a fork of that part would not be caught by it`,
    );
    rmSync(join(dir, RESTORED_FILE), { force: true });
    return;
  }
  if (options.unchecked) throw new UsageError("give either --check-log or --unchecked, not both");
  const sources = options.checkLog.map((url) => {
    try {
      return { url, client: new MtlsClient(url, identity) };
    } catch {
      throw new UsageError(`--check-log must be an https:// URL, got "${url}"`);
    }
  });
  let checks: Awaited<ReturnType<typeof checkRestoredWitness>>;
  try {
    checks = await checkRestoredWitness(
      dir,
      store,
      cosignerKey,
      sources.map(({ url, client }) => ({ url, call: (method, path) => client.call(method, path) })),
    );
  } finally {
    for (const { client } of sources) client.close();
  }
  for (const c of checks) {
    const behind = c.servedSize - c.heldSize;
    io.out(
      `checked ${c.origin} against ${c.source}: the backup held ${c.heldSize}, the log serves ${c.servedSize}${
        behind === 0n
          ? " (nothing missed)"
          : c.ownCosignature
            ? `; ${behind} entries this witness had cosigned since the backup (its own cosignature is on the served checkpoint), consistent`
            : `; ${behind} entries behind, consistent`
      }; now cosigned at ${c.servedSize}`,
    );
  }
}

export function registerWitnessCommands(program: Command, io: Io): void {
  const witness = program
    .command("witness")
    .description("a C2SP tlog-witness: cosigns checkpoints of the logs it watches, only ever forward");

  witness
    .command("init")
    .description("create a witness: its cosigner key (sealed in the keystore) and an empty store")
    .requiredOption("--name <name>", "the witness's key name, a schema-less URL (e.g. witness.example/w1)")
    .option(...WITNESS_DATA)
    .option(...MASTER)
    .action(async (options: { data?: string; name: string; masterKeyFile?: string }) => {
      const dir = requireWitnessData(options.data);
      const result = await initWitnessDir(dir, { name: options.name, masterKey: masterKeyFrom(options) });
      io.out(`created witness ${result.name} in ${dir}`);
      io.out(`  store:    ${result.storePath}`);
      io.out(`  keystore: ${result.keystorePath}  (the cosigner key, sealed under the master key)`);
      io.out("verifier key (give it to the logs and clients that count this witness):");
      io.out(result.verifierKey);
    });

  witness
    .command("add-log")
    .description("watch a log: trust a verifier key for its origin (run again to add a second key)")
    .requiredOption("--origin <origin>", "the log's origin line, exactly as in its checkpoints")
    .requiredOption("--key <verifierKey>", "the log's verifier key, name+keyid+base64 (Ed25519, type 0x01)")
    .option(...WITNESS_DATA)
    .action((options: { data?: string; origin: string; key: string }) => {
      const added = withStore(options.data, (store) => store.addLogKey(options.origin, options.key));
      io.out(
        added
          ? `watching ${options.origin} with key ${options.key}`
          : `${options.origin} already trusts key ${options.key}`,
      );
    });

  witness
    .command("serve")
    .description("serve the witness protocol over HTTPS (POST /add-checkpoint, GET /checkpoints/<origin>)")
    .requiredOption(
      "--identity <bundle>",
      "the witness's identity bundle (role witness): its TLS key and certificate",
    )
    .option("--listen <host:port>", "the address to listen on", DEFAULT_LISTEN)
    .option("--mtls", "require a client certificate from the deployment CA (default: any client)")
    .option("--crl <file>", "with --mtls: refuse client certificates on this CRL (PEM)")
    .option("--tls12", "also accept TLS 1.2 (default: TLS 1.3 only)")
    .option("--log", "structured request logs on stdout (no keys)")
    .option(
      "--check-log <url...>",
      "after a restore: a node or serving mirror of each watched log, checked before cosigning again",
    )
    .option("--unchecked", "after a restore: serve without checking against the logs (not recommended)")
    .option(
      "--passphrase-file <file>",
      "read the bundle passphrase from this file (default: CUSTOS_BUNDLE_PASSPHRASE)",
    )
    .option(...WITNESS_DATA)
    .option(...MASTER)
    .action(
      async (options: {
        data?: string;
        identity: string;
        listen: string;
        mtls?: boolean;
        crl?: string;
        tls12?: boolean;
        log?: boolean;
        checkLog?: string[];
        unchecked?: boolean;
        passphraseFile?: string;
        masterKeyFile?: string;
      }) => {
        const dir = requireWitnessData(options.data);
        const listen = parseListen(options.listen);
        if (options.crl && !options.mtls) throw new UsageError("--crl applies only with --mtls");
        const identity = Identity.unlock(
          readBundle(options.identity),
          bundlePassphrase(options.passphraseFile),
        );
        if (identity.role !== "witness") {
          throw new CustosError(
            "CONFIG",
            `custos witness serve needs a witness identity (role witness), not ${identity.role}`,
          );
        }
        const crl = options.crl ? readTextFile(options.crl, "the CRL") : undefined;
        const store = WitnessStore.open(dir);
        let server: Awaited<ReturnType<typeof startWitnessServer>>;
        try {
          const cosignerKey = await loadCosignerKey(dir, masterKeyFrom(options), store.meta);
          await checkAfterRestore(io, dir, store, cosignerKey, identity, options);
          server = await startWitnessServer({
            store,
            cosignerKey,
            tls: {
              key: identity.signingKey.export({ type: "pkcs8", format: "pem" }).toString(),
              cert: identity.bundle.signingCertificate,
            },
            ...(options.mtls
              ? { requireClientCert: { ca: identity.bundle.caCertificate, ...(crl ? { crl } : {}) } }
              : {}),
            host: listen.host,
            port: listen.port,
            ...(options.tls12 ? { allowTls12: true } : {}),
            ...(options.log ? { log: true } : {}),
          });
        } catch (error) {
          store.close();
          if ((error as NodeJS.ErrnoException).code === "EADDRINUSE")
            throw new CustosError(
              "CONFIG",
              `${options.listen} is already in use; choose another with --listen`,
            );
          throw error;
        }
        const shown = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
        io.out(`custos witness ${server.name} serving on https://${shown}:${server.port}`);
        io.out(`  verifier key: ${server.verifierKey}`);
        io.out(
          `  watching ${store.logs().length} log(s); client certificates ${options.mtls ? "required" : "not required"}`,
        );
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
        });
        await server.close();
        store.close();
        io.out("stopped");
      },
    );

  witness
    .command("show")
    .description("the witness's key, the logs it watches, their latest cosigned sizes and the evidence held")
    .option("--json", "print JSON")
    .option(...WITNESS_DATA)
    .action((options: { data?: string; json?: boolean }) => {
      const report = withStore(options.data, (store) => ({
        ...store.meta,
        logs: store.logs().map((log) => {
          const held = store.latest(log.origin);
          return {
            origin: log.origin,
            verifierKeys: log.verifierKeys,
            size: held ? sizeOut(held.size) : null,
            rootHash: held ? toBase64(held.rootHash) : null,
            cosignedAt: held ? new Date(held.cosignedAt * 1000).toISOString() : null,
            evidence: store.evidenceCount(log.origin),
          };
        }),
        evidence: store.evidenceCount(),
      }));
      if (options.json) {
        io.out(JSON.stringify(report, null, 2));
        return;
      }
      io.out(`witness ${report.name}`);
      io.out(`  verifier key: ${report.verifierKey}`);
      io.out(`  logs: ${report.logs.length}; evidence records: ${report.evidence}`);
      for (const log of report.logs) {
        io.out(`  ${log.origin}`);
        io.out(
          log.size === null
            ? "    nothing cosigned yet"
            : `    size ${log.size}, root ${log.rootHash}, cosigned ${log.cosignedAt}`,
        );
        for (const key of log.verifierKeys) io.out(`    key ${key}`);
        if (log.evidence > 0) io.out(`    EVIDENCE: ${log.evidence} record(s); see custos witness evidence`);
      }
    });

  witness
    .command("evidence")
    .description("print the refused submissions kept as evidence of log misbehaviour, with both notes")
    .option("--origin <origin>", "only this log")
    .option("--json", "print JSON")
    .option(...WITNESS_DATA)
    .action((options: { data?: string; origin?: string; json?: boolean }) => {
      const records = withStore(options.data, (store) => store.evidence(options.origin));
      if (options.json) {
        io.out(
          JSON.stringify(
            records.map((r) => ({
              ...r,
              receivedAt: new Date(r.receivedAt).toISOString(),
              heldSize: sizeOut(r.heldSize),
              heldRoot: toBase64(r.heldRoot),
              submittedSize: sizeOut(r.submittedSize),
              submittedRoot: toBase64(r.submittedRoot),
            })),
            null,
            2,
          ),
        );
        return;
      }
      if (records.length === 0) {
        io.out("no evidence recorded");
        return;
      }
      for (const r of records) {
        io.out(`#${r.id} ${r.origin}: ${r.kind} at ${new Date(r.receivedAt).toISOString()}`);
        io.out(
          `  held size ${r.heldSize} root ${toBase64(r.heldRoot)}; submitted size ${r.submittedSize} root ${toBase64(r.submittedRoot)}`,
        );
        io.out("  held note:");
        io.outRaw(
          r.heldNote === null ? "    (none: the empty tree)\n" : r.heldNote.replace(/^(?=.)/gm, "    "),
        );
        io.out("  submitted note:");
        io.outRaw(r.submittedNote.replace(/^(?=.)/gm, "    "));
        if (r.proof.length > 0) io.out(`  proof: ${r.proof.join(" ")}`);
      }
    });
}
