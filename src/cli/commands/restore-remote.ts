// `custos restore --backup FILE --from URL`: the log comes from a serving mirror (or another node of
// the log) over mutual TLS. It is copied and verified into a scratch directory beside the target
// first, then restored from there exactly as from a mirror's directory; the scratch copy is removed
// whatever happens, so a failed restore leaves nothing half-made behind.

import { mkdtempSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { BackupContents } from "../../backup/index.js";
import { MtlsClient } from "../../client/index.js";
import { CustosError, fromUtf8 } from "../../core/index.js";
import { Identity, parseBundle, readBundle } from "../../identity/index.js";
import { SqliteStore } from "../../ledger/index.js";
import { copyLog } from "../../mirror/index.js";
import { bundlePassphrase } from "./identity.js";

/** The identity to fetch with: `--as BUNDLE`, else the node's own bundle the backup carries. */
function fetchIdentity(contents: BackupContents, as: string | undefined, passphraseFile?: string): Identity {
  if (as) return Identity.unlock(readBundle(as), bundlePassphrase(passphraseFile));
  if (!contents.identity) {
    throw new CustosError(
      "CONFIG",
      "the backup carries no identity bundle to fetch the log with: give --as BUNDLE (a node identity of the deployment)",
    );
  }
  return Identity.unlock(parseBundle(fromUtf8(contents.identity.data)), bundlePassphrase(passphraseFile));
}

/**
 * Copies the log from `url` into a scratch directory beside `dir` and runs `restore` with it;
 * resolves with what `restore` returns. Prints how much was copied.
 */
export async function withRemoteCopy<T>(
  options: {
    readonly url: string;
    readonly dir: string;
    readonly contents: BackupContents;
    readonly as?: string;
    readonly passphraseFile?: string;
    /** The witnesses' cosigner keys, to name those that cosigned the copied checkpoint. */
    readonly witnessKeys: readonly string[];
    readonly out: (line: string) => void;
  },
  restore: (copyDir: string) => Promise<T>,
): Promise<T> {
  const log = options.contents.log;
  if (!log) throw new CustosError("BAD_ENCODING", "the node's backup names no log");
  const identity = fetchIdentity(options.contents, options.as, options.passphraseFile);
  const scratch = mkdtempSync(resolve(dirname(resolve(options.dir)), ".custos-restore-"));
  try {
    const store = SqliteStore.open(scratch, { create: true });
    try {
      const copied = await copyLog({
        source: new MtlsClient(options.url, identity),
        store,
        origin: log.origin,
        verifierKey: log.verifierKey,
        // Only named here: the witnesses themselves are asked below what the copy lacks.
        witnesses: { keys: options.witnessKeys, quorum: 0 },
      });
      options.out(
        `copied ${copied.target} entries from ${options.url}, verified against its signed checkpoint${copied.cosigners.length > 0 ? ` cosigned by ${copied.cosigners.join(", ")}` : ""}`,
      );
    } finally {
      await store.close();
    }
    return await restore(scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
