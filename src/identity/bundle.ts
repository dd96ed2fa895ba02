// An identity bundle: one JSON file holding a party's two private keys (PKCS#8, encrypted under the
// holder's passphrase), its two certificates and the deployment CA's certificate, all in PEM. The
// CLI, the SDK and the browser portal load the same file (docs/identity.md).

import { createPublicKey, type KeyObject, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { CustosError } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";
import { decryptPrivateKey, encryptPrivateKey } from "./pkcs8.js";
import { checkRole, parseIdentityUri, type Role } from "./roles.js";

export const BUNDLE_FORMAT = "custos-identity-bundle";
/** A bundle is a few kilobytes; anything much larger is not one. */
const MAX_BUNDLE_BYTES = 64 * 1024;

export interface IdentityBundle {
  readonly format: typeof BUNDLE_FORMAT;
  readonly version: 1;
  readonly deployment: string;
  readonly uri: string;
  readonly role: Role;
  readonly id: string;
  /** Ed25519, encrypted PKCS#8 PEM. */
  readonly signingKey: string;
  /** X25519, encrypted PKCS#8 PEM. */
  readonly encryptionKey: string;
  readonly signingCertificate: string;
  readonly encryptionCertificate: string;
  readonly caCertificate: string;
  /** The log this identity uses, so clients can check its checkpoints without asking the node. */
  readonly log?: { readonly origin: string; readonly verifierKey: string };
}

export function makeBundle(parts: {
  deployment: string;
  uri: string;
  role: Role;
  id: string;
  signingKey: KeyObject;
  encryptionKey: KeyObject;
  signingCertificate: string;
  encryptionCertificate: string;
  caCertificate: string;
  passphrase: string;
  kdfIterations?: number;
  log?: { origin: string; verifierKey: string };
}): IdentityBundle {
  const options = parts.kdfIterations ? { iterations: parts.kdfIterations } : {};
  return {
    format: BUNDLE_FORMAT,
    version: 1,
    deployment: parts.deployment,
    uri: parts.uri,
    role: parts.role,
    id: parts.id,
    signingKey: encryptPrivateKey(parts.signingKey, parts.passphrase, options),
    encryptionKey: encryptPrivateKey(parts.encryptionKey, parts.passphrase, options),
    signingCertificate: parts.signingCertificate,
    encryptionCertificate: parts.encryptionCertificate,
    caCertificate: parts.caCertificate,
    ...(parts.log ? { log: { origin: parts.log.origin, verifierKey: parts.log.verifierKey } } : {}),
  };
}

export function writeBundle(path: string, bundle: IdentityBundle): void {
  writeFileAtomic(path, `${JSON.stringify(bundle, null, 2)}\n`, { exclusive: true, mode: 0o600 });
}

export function parseBundle(text: string, what = "the identity bundle"): IdentityBundle {
  if (text.length > MAX_BUNDLE_BYTES)
    throw new CustosError("BAD_ARGUMENT", `${what} is too large to be a bundle`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CustosError("BAD_ARGUMENT", `${what} is not JSON`);
  }
  if (json?.format !== BUNDLE_FORMAT || json.version !== 1) {
    throw new CustosError("BAD_ARGUMENT", `${what} is not a Custos identity bundle (version 1)`);
  }
  for (const field of [
    "deployment",
    "uri",
    "role",
    "id",
    "signingKey",
    "encryptionKey",
    "signingCertificate",
    "encryptionCertificate",
    "caCertificate",
  ]) {
    if (typeof json[field] !== "string") throw new CustosError("BAD_ARGUMENT", `${what} has no ${field}`);
  }
  const log = json.log as { origin?: unknown; verifierKey?: unknown } | undefined;
  if (log !== undefined && (typeof log?.origin !== "string" || typeof log.verifierKey !== "string")) {
    throw new CustosError("BAD_ARGUMENT", `${what} has a malformed log section`);
  }
  checkRole(json.role as string);
  const name = parseIdentityUri(json.uri as string);
  if (name.role !== json.role || name.id !== json.id || name.deployment !== json.deployment) {
    throw new CustosError("BAD_ARGUMENT", `${what} names its identity inconsistently`);
  }
  return json as unknown as IdentityBundle;
}

export function readBundle(path: string): IdentityBundle {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CustosError(
      "NOT_FOUND",
      `cannot read the identity bundle ${path}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
  return parseBundle(text, `the identity bundle ${path}`);
}

/** An unlocked identity: private keys in memory (never written back in clear). */
export class Identity {
  readonly bundle: IdentityBundle;
  readonly signingKey: KeyObject;
  readonly encryptionKey: KeyObject;

  private constructor(bundle: IdentityBundle, signingKey: KeyObject, encryptionKey: KeyObject) {
    this.bundle = bundle;
    this.signingKey = signingKey;
    this.encryptionKey = encryptionKey;
  }

  static unlock(bundle: IdentityBundle, passphrase: string): Identity {
    const signingKey = decryptPrivateKey(bundle.signingKey, passphrase, "the bundle's signing key");
    const encryptionKey = decryptPrivateKey(bundle.encryptionKey, passphrase, "the bundle's encryption key");
    if (signingKey.asymmetricKeyType !== "ed25519" || encryptionKey.asymmetricKeyType !== "x25519") {
      throw new CustosError("BAD_KEY", "the bundle's keys are not Ed25519 (signing) and X25519 (encryption)");
    }
    return new Identity(bundle, signingKey, encryptionKey);
  }

  get uri(): string {
    return this.bundle.uri;
  }

  get role(): Role {
    return this.bundle.role;
  }

  get id(): string {
    return this.bundle.id;
  }

  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.signingKey));
  }

  signingPublicKey(): Uint8Array {
    const spki = createPublicKey(this.signingKey).export({ type: "spki", format: "der" });
    return new Uint8Array(spki.subarray(spki.length - 32));
  }

  /** The raw X25519 private key, for HPKE opening. */
  encryptionPrivateKey(): Uint8Array {
    const pkcs8 = this.encryptionKey.export({ type: "pkcs8", format: "der" });
    return new Uint8Array(pkcs8.subarray(pkcs8.length - 32));
  }

  /** PEM material for a TLS client or server (node:tls options). */
  tlsOptions(): { key: KeyObject; cert: string; ca: string } {
    return { key: this.signingKey, cert: this.bundle.signingCertificate, ca: this.bundle.caCertificate };
  }
}
