// What releases before the single identity model kept outside the log, read only to upgrade a data
// directory to the registry (`custos keys upgrade`, docs/identity.md): the reader directory sealed in
// the node's keystore (parties' X25519 public keys and grants) and a party's own key file (the
// custodian's, whose private key re-wraps the history for the parties' new identities).

import { CustosError, fromBase64, fromUtf8 } from "../core/index.js";
import { x25519PublicKey } from "../crypto/hpke/index.js";
import { Keystore, PassphraseProvider } from "../crypto/keystore/index.js";

export interface LegacyParty {
  readonly id: string;
  readonly encryptionKey: Uint8Array;
}

export interface LegacyGrant {
  readonly auditor: string;
  readonly patients: readonly string[];
  readonly from: number;
  readonly to?: number;
}

export interface LegacyDirectory {
  readonly custodian?: Uint8Array;
  readonly patients: readonly LegacyParty[];
  readonly auditors: readonly LegacyParty[];
  readonly grants: readonly LegacyGrant[];
}

interface DirectoryJson {
  version?: unknown;
  custodian?: { encryptionKey?: unknown };
  patients?: Record<string, { encryptionKey?: unknown }>;
  auditors?: Record<string, { encryptionKey?: unknown }>;
  grants?: { auditor?: unknown; patients?: unknown; from?: unknown; to?: unknown }[];
}

function key(value: unknown): Uint8Array {
  const bytes = typeof value === "string" ? fromBase64(value) : undefined;
  if (bytes?.length !== 32) throw new CustosError("STORE_CORRUPT", "a legacy directory key is not 32 bytes");
  return bytes;
}

export function parseLegacyDirectory(text: string): LegacyDirectory {
  let json: DirectoryJson;
  try {
    json = JSON.parse(text) as DirectoryJson;
  } catch {
    throw new CustosError("STORE_CORRUPT", "the legacy reader directory is not JSON");
  }
  if (json?.version !== 1) throw new CustosError("STORE_CORRUPT", "unknown legacy reader directory version");
  const parties = (table: DirectoryJson["patients"]) =>
    Object.entries(table ?? {}).map(([id, p]) => ({ id, encryptionKey: key(p.encryptionKey) }));
  return {
    ...(json.custodian ? { custodian: key(json.custodian.encryptionKey) } : {}),
    patients: parties(json.patients),
    auditors: parties(json.auditors),
    grants: (json.grants ?? []).map((g) => {
      if (typeof g.auditor !== "string" || !Array.isArray(g.patients) || typeof g.from !== "number")
        throw new CustosError("STORE_CORRUPT", "a legacy grant is malformed");
      return {
        auditor: g.auditor,
        patients: g.patients.map(String),
        from: g.from,
        ...(typeof g.to === "number" ? { to: g.to } : {}),
      };
    }),
  };
}

export function legacyDirectoryIsEmpty(directory: LegacyDirectory): boolean {
  return (
    directory.custodian === undefined &&
    directory.patients.length === 0 &&
    directory.auditors.length === 0 &&
    directory.grants.length === 0
  );
}

/**
 * Opens a legacy party key file (a keystore under the party's passphrase) and returns its X25519
 * private key and role. The caller zero-fills the key after use.
 */
export async function openLegacyKeyFile(
  path: string,
  passphrase: string,
): Promise<{ role: string; privateKey: Uint8Array; publicKey: Uint8Array }> {
  let keystore: Keystore;
  try {
    keystore = await Keystore.open(path, new PassphraseProvider(passphrase));
  } catch (error) {
    if (error instanceof CustosError && error.code === "KEYSTORE_LOCKED") {
      throw new CustosError("KEYSTORE_LOCKED", `the passphrase does not open the key file ${path}`);
    }
    throw error;
  }
  let role: string;
  try {
    role = String((JSON.parse(fromUtf8(keystore.get("identity"))) as { role?: unknown }).role);
  } catch {
    throw new CustosError("BAD_KEY", `${path} is not a party key file`);
  }
  const privateKey = keystore.get("x25519-private-key");
  return { role, privateKey, publicKey: x25519PublicKey(privateKey) };
}
