// `custos keystore ...`: node secrets. Rotating the master key re-wraps the keystore's data key;
// the secrets are untouched, and the log gains one entry recording the rotation and who did it.

import { join } from "node:path";
import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { Keystore, pkcs11FromEnv, resolveMasterKeyProvider } from "../../crypto/keystore/index.js";
import { operatorActionItem, operatorOf } from "../../identity/index.js";
import { KEYSTORE_FILE_NAME, openLogWritable } from "../../ledger/index.js";
import type { Io } from "../io.js";
import { masterKeyFrom, requireData } from "../options.js";
import { unlockBundle } from "./unlock.js";

export function registerKeystoreCommands(program: Command, io: Io): void {
  const keystore = program.command("keystore").description("the node's encrypted secrets");
  keystore
    .command("rotate-master-key")
    .description("re-seal the keystore under a new master key (recorded in the log; stop the node first)")
    .option("--data <dir>", "the node's data directory", process.env.CUSTOS_DATA)
    .option(
      "--master-key-file <file>",
      "the current master key file (or CUSTOS_MASTER_KEY / CUSTOS_MASTER_PASSPHRASE)",
    )
    .option("--new-master-key-file <file>", "the new master key file")
    .option("--new-passphrase-env <name>", "name of an environment variable holding the new passphrase")
    .option(
      "--new-pkcs11-key <label>",
      "the new master key is this AES key on the PKCS#11 token of CUSTOS_PKCS11_MODULE/_TOKEN (docs/keystore.md)",
    )
    .option(
      "--db <url>",
      "the log is in PostgreSQL at this URL (default: SQLite in --data)",
      process.env.CUSTOS_DB_URL,
    )
    .option(
      "--as <bundle>",
      "the operator's identity bundle: the log entry recording the rotation names and is signed by it",
    )
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .action(
      async (options: {
        data?: string;
        db?: string;
        masterKeyFile?: string;
        newMasterKeyFile?: string;
        newPassphraseEnv?: string;
        newPkcs11Key?: string;
        as?: string;
        passphraseFile?: string;
      }) => {
        const data = requireData(options.data);
        const newPassphrase = options.newPassphraseEnv ? process.env[options.newPassphraseEnv] : undefined;
        if (!options.newMasterKeyFile && !newPassphrase && !options.newPkcs11Key) {
          throw new CustosError(
            "CONFIG",
            "give the new master key with --new-master-key-file FILE, --new-passphrase-env NAME or --new-pkcs11-key LABEL",
          );
        }
        const store = await Keystore.open(join(data, KEYSTORE_FILE_NAME), masterKeyFrom(options));
        const token = options.newPkcs11Key ? pkcs11FromEnv(process.env, options.newPkcs11Key) : undefined;
        if (options.newPkcs11Key && !token)
          throw new CustosError(
            "CONFIG",
            "--new-pkcs11-key needs CUSTOS_PKCS11_MODULE and CUSTOS_PKCS11_TOKEN",
          );
        const next =
          token ??
          resolveMasterKeyProvider({
            ...(options.newMasterKeyFile ? { keyFile: options.newMasterKeyFile } : {}),
            ...(newPassphrase ? { passphrase: newPassphrase } : {}),
            env: {},
          });
        const operator = operatorOf(
          options.as ? unlockBundle(options.as, options.passphraseFile) : undefined,
        );
        // The log is opened for writing first (with the current key): a node that holds it must be
        // stopped, so that the rotation is recorded the moment it happens, in the same run.
        const ledger = await openLogWritable(
          data,
          masterKeyFrom(options),
          options.db ? { db: options.db } : {},
        );
        try {
          await store.rotateMasterKey(next);
          const { index } = await ledger.appendOne(
            operatorActionItem(
              { time: Date.now(), action: "master-key-rotation", detail: `to ${next.describe()}` },
              operator,
            ),
          );
          await ledger.checkpoint();
          io.out(
            `the keystore is now sealed under ${next.describe()} (recorded in the log as entry ${index})`,
          );
        } finally {
          await ledger.close();
        }
      },
    );
  keystore
    .command("pkcs11-keygen")
    .description(
      "create the non-extractable AES-256 key on the PKCS#11 token of CUSTOS_PKCS11_MODULE/_TOKEN/_KEY (docs/keystore.md)",
    )
    .option("--key <label>", "the key's label (default CUSTOS_PKCS11_KEY)")
    .action((options: { key?: string }) => {
      const token = pkcs11FromEnv(process.env, options.key);
      if (!token)
        throw new CustosError(
          "CONFIG",
          "set CUSTOS_PKCS11_MODULE, CUSTOS_PKCS11_TOKEN and CUSTOS_PKCS11_KEY",
        );
      token.createTokenKey();
      io.out(`created ${token.describe()} (sensitive, not extractable)`);
    });
  keystore
    .command("list")
    .description("name the secrets the keystore holds (never their values)")
    .option("--data <dir>", "the node's data directory", process.env.CUSTOS_DATA)
    .option(
      "--master-key-file <file>",
      "the master key file (or CUSTOS_MASTER_KEY / CUSTOS_MASTER_PASSPHRASE)",
    )
    .action(async (options: { data?: string; masterKeyFile?: string }) => {
      const store = await Keystore.open(
        join(requireData(options.data), KEYSTORE_FILE_NAME),
        masterKeyFrom(options),
      );
      for (const name of store.names()) io.out(name);
    });
}
