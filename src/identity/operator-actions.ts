// Operator actions as log entries (docs/formats.md, "Operator actions"): master-key rotation,
// migrate-store, restore and an offline read of a data directory each append an `operatorAction`
// entry naming who acted: the identity whose bundle the command was given (the entry then carries
// that identity's signature), or else the local account it ran under. A patient is named by their tag,
// never by their identity URI (it carries their ID, and operator actions are stored in clear). An
// offline read of a patient's trail also leaves the patient a notice, so it shows in their query
// history like a read over the API.

import { existsSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import {
  encodeOperatorActionEntry,
  OPERATOR_ACTIONS_LOOKUP_KEY,
  type OperatorAction,
  patientOperatorName,
} from "../core/entry/index.js";
import { CustosError } from "../core/index.js";
import type { MasterKeyProvider } from "../crypto/keystore/index.js";
import type { AppendItem } from "../ledger/index.js";
import { KEYSTORE_FILE_NAME, openLogWritable } from "../ledger/index.js";
import { sealNotice } from "../records/index.js";
import type { Identity } from "./bundle.js";
import type { Deployment } from "./deployment.js";
import { noticeReaders } from "./recovery.js";
import { patientSubject } from "./registry.js";

const HOUR_MS = 3_600_000;

export interface Operator {
  readonly name: string;
  readonly sign?: (message: Uint8Array) => Uint8Array;
}

/**
 * The identity given (it signs the entry), or the local account the command runs under. A patient is
 * named by their tag (`patientTag`, from the deployment's blind-index key): a command that cannot
 * compute it refuses a patient's bundle rather than write the patient's ID into the log.
 */
export function operatorOf(identity: Identity | undefined, patientTag?: Uint8Array): Operator {
  if (identity !== undefined) {
    const sign = (message: Uint8Array) => identity.sign(message);
    if (identity.role !== "patient") return { name: identity.uri, sign };
    if (patientTag === undefined)
      throw new CustosError(
        "BAD_ARGUMENT",
        "a patient's bundle cannot name the operator of this command: give an admin's or custodian's bundle with --as, or none",
      );
    return { name: patientOperatorName(identity.bundle.deployment, patientTag), sign };
  }
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry for this uid (a container): the uid says enough
    user = `uid-${process.getuid?.() ?? "unknown"}`;
  }
  return { name: `local-account:${user}@${hostname()}` };
}

export function operatorActionItem(action: Omit<OperatorAction, "operator">, operator: Operator): AppendItem {
  return {
    entry: encodeOperatorActionEntry({ ...action, operator: operator.name }, operator.sign),
    lookupKeys: [OPERATOR_ACTIONS_LOOKUP_KEY],
  };
}

/**
 * What an offline read of a patient's trail appends before anything is opened: the operator action
 * and, unless the custodian's lawful-request notice already tells the patient, a notice to the patient.
 */
export function offlineReadItems(
  deployment: Deployment,
  patientId: string,
  reader: Identity,
  lawfulNotice: AppendItem | undefined,
): AppendItem[] {
  const at = deployment.now();
  const tag = deployment.vault.patientTag(patientId);
  // In clear beside the patient's tag, the time says when their trail was read: to the hour, as the
  // notice's header does (docs/encryption.md); the exact time is in the sealed notice.
  const action = operatorActionItem(
    {
      time: at - (at % HOUR_MS),
      action: "offline-read",
      detail: `read-trail as ${reader.role}`,
      patientTag: tag,
    },
    operatorOf(reader, reader.role === "patient" ? deployment.vault.patientTag(reader.id) : undefined),
  );
  const notice =
    lawfulNotice ??
    sealNotice(
      { kind: "query", time: at, patientTag: tag },
      {
        time: new Date(at).toISOString(),
        requester: reader.uri,
        role: reader.role,
        operation: "read-trail offline, from the node's data directory",
      },
      noticeReaders(deployment, patientSubject(tag), at),
    );
  return [action, notice];
}

/**
 * Appends one operator action to the log in a data directory (its keystore gives the log's key), for
 * commands that rebuilt or moved the store. Returns the entry's index, or undefined when the directory
 * holds no keystore (a restore into a new directory: nothing can sign for the log there yet).
 */
export async function recordOperatorAction(
  dir: string,
  location: { readonly db?: string },
  masterKey: () => MasterKeyProvider,
  action: Omit<OperatorAction, "operator">,
  operator: Operator,
): Promise<number | undefined> {
  if (!existsSync(join(dir, KEYSTORE_FILE_NAME))) return undefined;
  const ledger = await openLogWritable(dir, masterKey(), location.db ? { db: location.db } : {});
  try {
    const { index } = await ledger.appendOne(operatorActionItem(action, operator));
    await ledger.checkpoint();
    return index;
  } finally {
    await ledger.close();
  }
}
