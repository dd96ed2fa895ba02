// `custos serve`: its options, parsed and checked here; the node itself runs in src/node (runNode).

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { Identity, operatorPortalCertificate, type PortalTls, readBundle } from "../../identity/index.js";
import { runNode } from "../../node/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import {
  DATA,
  DB,
  MASTER,
  masterKeyFrom,
  parseCount,
  parseListen,
  parseWitnesses,
  requireData,
} from "../options.js";
import { bundlePassphrase, PASSPHRASE_FILE } from "./passphrase.js";

interface DeploymentOptions {
  data?: string;
  db?: string;
  masterKeyFile?: string;
}

/** A duration like 10s or 500ms (seconds without a unit), in ms. */
function parseDuration(value: string, name: string): number {
  const match = /^(0|[1-9][0-9]{0,6})(ms|s)?$/.exec(value);
  if (!match) throw new UsageError(`${name} must be a duration like 10s or 500ms, got "${value}"`);
  return Number(match[1]) * (match[2] === "ms" ? 1 : 1000);
}

export function registerServeCommand(program: Command, io: Io): void {
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
    .option(
      "--crl-listen <host:port>",
      "also serve the CA's CRL over plain HTTP at /crl, where certificates say it is (custos ca crl-url)",
    )
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
      "--prep-workers <n>",
      "worker threads that parse, validate and prepare submitted records (default: one per core; 0: none, on the event loop)",
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
          crlListen?: string;
          tls12?: boolean;
          log?: boolean;
          verifyEvery: string;
          rate: string;
          witness?: string[];
          quorum?: string;
          portalOrigin?: string[];
          gossipEvery: string;
          checkpointEvery: string;
          prepWorkers?: string;
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
        const prepWorkers =
          options.prepWorkers === undefined ? undefined : parseCount(options.prepWorkers, "--prep-workers");
        if (prepWorkers !== undefined && prepWorkers > 64)
          throw new UsageError("--prep-workers must be at most 64");
        if (checkpointIntervalMs < 1) throw new UsageError("--checkpoint-every must be more than 0");
        if (gossipEveryMs > 0 && gossipEveryMs < 100)
          throw new UsageError("--gossip-every must be at least 100ms (or 0)");
        const witnesses = parseWitnesses(options.witness ?? []);
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
        const crl = options.crlListen ? parseListen(options.crlListen, "--crl-listen") : undefined;
        await runNode({
          dir: requireData(options.data),
          db: options.db,
          masterKey: masterKeyFrom(options),
          identity,
          checkpointIntervalMs,
          ...(prepWorkers === undefined ? {} : { prepWorkers }),
          api,
          portal,
          syslog,
          crl,
          serve: {
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
          },
          output: io,
        });
        io.out("stopped");
      },
    );
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
