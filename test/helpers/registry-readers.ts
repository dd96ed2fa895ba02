// Readers for sealing without a data directory (tests and benchmarks that drive RecordSealer alone):
// an identity registry folded from CA-signed enrollment entries and an admin-signed grant, exactly as
// a node folds them from its log, with the parties' X25519 key pairs kept for opening.

import { createPrivateKey, createPublicKey, type KeyObject, sign } from "node:crypto";
import { encodeGrantEntry, encodeIdentityEntry, MAX_PATIENTS_PER_GRANT } from "../../src/core/entry/index.js";
import { randomBytes } from "../../src/core/platform.js";
import { generateX25519KeyPair } from "../../src/crypto/hpke/index.js";
import { patientSubject, Registry, RegistryDirectory } from "../../src/identity/registry.js";
import type { Role } from "../../src/identity/roles.js";

function ed25519(): { key: KeyObject; publicKey: Uint8Array } {
  const seed = randomBytes(32);
  const key = createPrivateKey({
    key: {
      kty: "OKP",
      crv: "Ed25519",
      d: Buffer.from(seed).toString("base64url"),
      x: Buffer.alloc(32).toString("base64url"),
    },
    format: "jwk",
  });
  seed.fill(0);
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  return { key, publicKey: new Uint8Array(spki.subarray(spki.length - 32)) };
}

export interface RegistryReaders {
  readonly directory: RegistryDirectory;
  readonly registry: Registry;
  /** X25519 private keys by "role/id" (the custodian is "custodian/custodian"). */
  readonly privateKeys: Map<string, Uint8Array>;
}

/**
 * Enrolls the custodian, the patients and the audit companies, and grants each audit company every
 * patient from time 0.
 */
export function registryReaders(options: {
  readonly deployment: string;
  /** The node's blind index: patient ID -> tag. */
  readonly patientTag: (patientId: string) => Uint8Array;
  readonly patients: readonly string[];
  readonly auditors?: readonly string[];
  /** Keep the parties' private keys (default true; a million-patient benchmark leaves them out). */
  readonly keepPrivateKeys?: boolean;
}): RegistryReaders {
  const ca = ed25519();
  const registry = new Registry(ca.publicKey);
  const privateKeys = new Map<string, Uint8Array>();
  let index = 0;
  const enroll = (role: Role, subject: string, name: string, signingKey = ed25519().publicKey) => {
    const pair = generateX25519KeyPair();
    if (options.keepPrivateKeys !== false) privateKeys.set(name, pair.privateKey);
    else pair.privateKey.fill(0);
    registry.apply(
      index++,
      encodeIdentityEntry(
        {
          time: 0,
          action: "enroll",
          role,
          subject,
          serials: [],
          signingKey,
          encryptionKey: pair.publicKey,
          notAfter: Date.UTC(2100, 0, 1),
        },
        (m) => new Uint8Array(sign(null, m, ca.key)),
      ),
    );
  };
  enroll("custodian", "custodian", "custodian/custodian");
  const admin = ed25519();
  enroll("admin", "admin", "admin/admin", admin.publicKey);
  const tags = options.patients.map((id) => options.patientTag(id));
  options.patients.forEach((id, i) => {
    enroll("patient", patientSubject(tags[i]!), `patient/${id}`);
  });
  for (const auditor of options.auditors ?? []) {
    enroll("auditor", auditor, `auditor/${auditor}`);
    for (let i = 0; i < tags.length; i += MAX_PATIENTS_PER_GRANT) {
      registry.apply(
        index++,
        encodeGrantEntry(
          {
            time: 0,
            auditor,
            patientTags: tags.slice(i, i + MAX_PATIENTS_PER_GRANT),
            from: 0,
            admin: "admin",
          },
          (m) => new Uint8Array(sign(null, m, admin.key)),
        ),
      );
    }
  }
  if (registry.findings.length > 0) throw new Error(registry.findings[0]!.problem);
  return {
    registry,
    privateKeys,
    directory: new RegistryDirectory(registry, options.deployment, (id) => options.patientTag(id)),
  };
}
