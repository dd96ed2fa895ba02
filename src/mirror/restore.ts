// A node's store rebuilt from a mirror's copy when its own is lost or tampered (`custos restore
// --from-mirror DIR` or `--from URL`): the damaged SQLite file set aside (never deleted), the log
// copied and verified against its signed checkpoint (and the witnesses' cosignatures when asked),
// and no content brought back that an erasure in the log destroyed. Recording the restore in the log
// (an operator action) is the caller's: it needs the master key, which this never sees.

import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { MtlsClient } from "../client/index.js";
import { openCheckpoint } from "../core/checkpoint/index.js";
import { CustosError } from "../core/index.js";
import { parseVerifierKey } from "../core/note/index.js";
import {
  applyAllErasures,
  describeMigration,
  migrateStore,
  openStore,
  SQLITE_FILE_NAME,
  SqliteStore,
} from "../ledger/index.js";
import { copyLog } from "./follower.js";

export interface RestoreWitnesses {
  readonly keys: readonly string[];
  readonly quorum: number;
}

export interface RestoreOptions {
  /** The node's data directory to restore into. */
  readonly dir: string;
  /** The log's PostgreSQL URL, when it is kept there. */
  readonly db?: string | undefined;
  /** Where the copy comes from: a mirror's data directory, or a mirror or node serving the log. */
  readonly source:
    | { readonly mirrorDir: string }
    | {
        readonly client: MtlsClient;
        readonly url: string;
        readonly origin: string;
        readonly verifierKey: string;
      };
  readonly witnesses?: RestoreWitnesses | undefined;
  /** Each line of what was done, for the operator. */
  readonly say: (line: string) => void;
}

/** Restores the store; returns what the operator action records as the restore's source. */
export async function restoreFromMirror(options: RestoreOptions): Promise<string> {
  const { dir, db, source, witnesses, say } = options;
  const setAside = () => {
    if (db) return;
    const damaged = join(dir, SQLITE_FILE_NAME);
    if (!existsSync(damaged)) return;
    const aside = `${damaged}.damaged-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    for (const suffix of ["", "-wal", "-shm"]) {
      if (existsSync(damaged + suffix)) renameSync(damaged + suffix, aside + suffix);
    }
    say(`kept the damaged store aside as ${aside}`);
  };
  const openTarget = () => openStore(dir, { create: true, ...(db ? { db } : {}) });

  if ("client" in source) {
    setAside();
    const target = await openTarget();
    try {
      const result = await copyLog({
        source: source.client,
        store: target,
        origin: source.origin,
        verifierKey: source.verifierKey,
        ...(witnesses ? { witnesses: { keys: [...witnesses.keys], quorum: witnesses.quorum } } : {}),
      });
      say(
        `restored ${result.target} entries from ${source.url}, verified against the signed checkpoint${result.cosigners.length > 0 ? ` cosigned by ${result.cosigners.join(", ")}` : ""}`,
      );
    } finally {
      await target.close();
    }
    return "from a mirror over the network";
  }

  const mirror = SqliteStore.open(source.mirrorDir, { readonly: true });
  try {
    const meta = await mirror.getMeta();
    const latest = await mirror.getLatestCheckpoint();
    if (!meta || !latest) throw new CustosError("STORE_NOT_FOUND", "the mirror holds no checkpointed log");
    const opened = openCheckpoint(latest.note, meta.verifierKey, { cosignerKeys: witnesses?.keys ?? [] });
    const names = new Set((witnesses?.keys ?? []).map((k) => parseVerifierKey(k).name));
    const cosigned = opened.cosigners.filter((n) => names.has(n));
    if (cosigned.length < (witnesses?.quorum ?? 0)) {
      throw new CustosError(
        "BAD_CHECKPOINT",
        `the mirror's latest checkpoint lacks the witness quorum (${cosigned.length} of ${witnesses?.quorum})`,
      );
    }
    setAside();
    const target = await openTarget();
    try {
      const report = await migrateStore(mirror, target);
      // A mirror that never applied an erasure still holds the content: it is not brought back.
      const erased = await applyAllErasures(target);
      say(`restored from the mirror: ${describeMigration(report)}`);
      if (erased > 0) say(`left out ${erased} erased item(s) the mirror still held`);
      say(
        `the latest checkpoint (size ${latest.size}) verifies with the log's key${cosigned.length > 0 ? ` and is cosigned by ${cosigned.join(", ")}` : ""}`,
      );
    } finally {
      await target.close();
    }
    return "from a mirror's directory";
  } finally {
    await mirror.close();
  }
}
