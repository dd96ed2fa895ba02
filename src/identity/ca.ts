// The deployment's own certificate authority: a self-signed Ed25519 root whose private key lives in
// the node's keystore (sealed under the master key), the certificates it issues and its CRL.
//
//   DIR/ca/ca.pem       the root certificate (public; every party pins it)
//   DIR/ca/crl.pem      the current CRL (public; every node checks it)
//   DIR/ca/state.json   the CRL number and the revoked serials (public: the CRL lists them anyway)
//
// What an identity is (role, keys, certificate fingerprints) is published in the log by the registry
// (registry.ts); the CA itself keeps no list of who it certified.

import { createPrivateKey, createPublicKey, type KeyObject, randomFillSync, sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CustosError, randomBytes } from "../core/index.js";
import { writeFileAtomic } from "../crypto/index.js";
import type { Keystore } from "../crypto/keystore/index.js";
import { type IdentityBundle, makeBundle } from "./bundle.js";
import { checkDeployment, checkId, identityUri, type Role } from "./roles.js";
import { TrustAnchor } from "./trust.js";
import {
  certificatePem,
  createCrl,
  createRootCertificate,
  crlPem,
  issueCertificate,
  parseCertificate,
  type x509,
} from "./x509.js";

export const CA_KEY_SECRET = "ca-signing-key";
const DAY = 86_400_000;
export const DEFAULT_IDENTITY_DAYS = 365;
const CA_YEARS = 10;
/** A CRL is re-issued at least this often; nodes refuse an expired one. */
export const CRL_VALIDITY_DAYS = 7;

interface CaState {
  version: 1;
  deployment: string;
  crlNumber: number;
  revoked: { serial: string; at: number }[];
  /** The CRL distribution points certificates issued from now on name (none when absent). */
  crlUrls?: string[];
}

/**
 * Checks CRL distribution point URLs: absolute http(s) URLs without credentials or fragments. A
 * plain http URL is the usual choice (RFC 5280 4.2.1.13): the CRL is signed, and fetching it over
 * TLS would need a revocation check of its own.
 */
export function checkCrlUrls(urls: readonly string[]): string[] {
  return urls.map((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new CustosError(
        "BAD_ARGUMENT",
        `a CRL distribution point must be an http:// or https:// URL, got "${value}"`,
      );
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password || url.hash) {
      throw new CustosError(
        "BAD_ARGUMENT",
        `a CRL distribution point must be an http:// or https:// URL without credentials or fragment, got "${value}"`,
      );
    }
    return url.href;
  });
}

export interface IssueRequest {
  readonly role: Role;
  readonly id: string;
  readonly passphrase: string;
  readonly days?: number;
  /** DNS names / IPs for a TLS server certificate (nodes and witnesses). */
  readonly hosts?: readonly string[];
  readonly kdfIterations?: number;
  /** The log's origin and verifier key, written into the bundle. */
  readonly log?: { readonly origin: string; readonly verifierKey: string };
}

/** Public keys to certify for an identity (KeyObjects, public or private). */
export interface CertifyRequest {
  readonly role: Role;
  readonly id: string;
  readonly signingKey: KeyObject;
  readonly encryptionKey: KeyObject;
  readonly days?: number;
  readonly hosts?: readonly string[];
}

/** The names every node's and witness's TLS certificate carries, so it can be reached on loopback. */
export const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"] as const;

/** A server certificate's names: the loopback names plus the ones asked for (`--host`), once each. */
export function serverHosts(hosts: readonly string[] | undefined): string[] {
  return [...new Set([...LOOPBACK_HOSTS, ...(hosts ?? [])])];
}

export interface CertifiedIdentity {
  readonly uri: string;
  readonly signingCertificate: string;
  readonly encryptionCertificate: string;
  readonly serials: readonly string[];
  readonly signingPublicKey: Uint8Array;
  readonly encryptionPublicKey: Uint8Array;
  readonly certificateHashes: readonly Uint8Array[];
  readonly notAfter: number;
}

export interface IssuedIdentity extends CertifiedIdentity {
  readonly bundle: IdentityBundle;
}

export interface CaFiles {
  readonly state: CaState;
  readonly crl: string;
  readonly stateText: string;
}

export function caDir(dataDir: string): string {
  return join(dataDir, "ca");
}

function randomSerial(): bigint {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f;
  bytes[0]! |= 0x01; // never zero-led, so every serial has 16 bytes of entropy-bearing length
  return BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}

export function rawPublic(key: KeyObject): Uint8Array {
  const spki = (key.type === "public" ? key : createPublicKey(key)).export({ type: "spki", format: "der" });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

// RFC 8410: the PKCS#8 encoding of a raw Ed25519 or X25519 private key is this 16-byte prefix, whose
// 12th byte is the curve's OID arc (112 Ed25519, 110 X25519), then the 32 raw bytes.
const PKCS8_RAW_PREFIX = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0, 0x04, 0x22, 0x04, 0x20,
];

/**
 * A fresh key pair from 32 random bytes (any 32 bytes are an Ed25519 or X25519 private key: RFC 8032
 * section 5.1.5, RFC 7748 section 5), drawn straight into a PKCS#8 DER buffer in unpooled memory that
 * is zero-filled once OpenSSL holds the key: the private key never passes through a string or JWK.
 * Node derives the public half. Not generateKeyPairSync: on Node 20 the garbage collector can free
 * that call's key-generation job while an export of the same key holds the key's lock, and the
 * process deadlocks (src/core/runtime/node.ts).
 */
export function freshKeyPair(crv: "Ed25519" | "X25519"): { privateKey: KeyObject; publicKey: KeyObject } {
  const der = Buffer.allocUnsafeSlow(48);
  try {
    der.set(PKCS8_RAW_PREFIX);
    der[11] = crv === "Ed25519" ? 0x70 : 0x6e;
    randomFillSync(der, 16, 32);
    const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    return { privateKey, publicKey: createPublicKey(privateKey) };
  } finally {
    der.fill(0);
  }
}

export class DeploymentCa {
  readonly dir: string;
  readonly deployment: string;
  readonly certificate: x509.X509Certificate;
  readonly #key: KeyObject;
  #state: CaState;
  readonly #now: () => number;

  private constructor(
    dir: string,
    certificate: x509.X509Certificate,
    key: KeyObject,
    state: CaState,
    now: () => number,
  ) {
    this.dir = dir;
    this.deployment = state.deployment;
    this.certificate = certificate;
    this.#key = key;
    this.#state = state;
    this.#now = now;
  }

  static exists(dataDir: string): boolean {
    return existsSync(join(caDir(dataDir), "ca.pem"));
  }

  static async init(
    dataDir: string,
    keystore: Keystore,
    deployment: string,
    now: () => number = Date.now,
    crlUrls: readonly string[] = [],
  ): Promise<DeploymentCa> {
    checkDeployment(deployment);
    const urls = checkCrlUrls(crlUrls);
    const dir = caDir(dataDir);
    if (existsSync(join(dir, "ca.pem")) || keystore.has(CA_KEY_SECRET)) {
      throw new CustosError("STORE_EXISTS", `a deployment CA already exists in ${dir}`);
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = freshKeyPair("Ed25519");
    const start = now();
    const certificate = await createRootCertificate({
      deployment,
      signingKey: privateKey,
      publicKey,
      notBefore: new Date(start - 60_000),
      notAfter: new Date(start + CA_YEARS * 365 * DAY),
    });
    await keystore.set(CA_KEY_SECRET, new Uint8Array(privateKey.export({ type: "pkcs8", format: "der" })));
    const state: CaState = {
      version: 1,
      deployment,
      crlNumber: 0,
      revoked: [],
      ...(urls.length > 0 ? { crlUrls: urls } : {}),
    };
    writeFileAtomic(join(dir, "ca.pem"), certificatePem(certificate), { exclusive: true, mode: 0o644 });
    const ca = new DeploymentCa(dir, certificate, privateKey, state, now);
    await ca.writeCrl();
    return ca;
  }

  static open(dataDir: string, keystore: Keystore, now: () => number = Date.now): DeploymentCa {
    const dir = caDir(dataDir);
    if (!existsSync(join(dir, "ca.pem"))) {
      throw new CustosError("NOT_FOUND", `no deployment CA in ${dataDir}; run \`custos ca init\` first`);
    }
    if (!keystore.has(CA_KEY_SECRET)) {
      throw new CustosError("KEY_MISSING", "the CA's private key is not in this keystore");
    }
    const certificate = parseCertificate(readFileSync(join(dir, "ca.pem"), "utf8"), "CA certificate");
    const key = createPrivateKey({
      key: Buffer.from(keystore.get(CA_KEY_SECRET)),
      format: "der",
      type: "pkcs8",
    });
    const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as CaState;
    if (state.version !== 1) throw new CustosError("CONFIG", "unknown CA state version");
    return new DeploymentCa(dir, certificate, key, state, now);
  }

  get caPem(): string {
    return certificatePem(this.certificate);
  }

  get publicKey(): Uint8Array {
    return rawPublic(this.#key);
  }

  /** The CRL distribution points that certificates issued from now on name. */
  get crlUrls(): readonly string[] {
    return this.#state.crlUrls ?? [];
  }

  /**
   * Sets the CRL distribution points for certificates issued from now on (certificates already
   * issued keep theirs: re-issue them with replace-key to change it). An empty list names none.
   */
  setCrlUrls(urls: readonly string[]): readonly string[] {
    const checked = checkCrlUrls(urls);
    const { crlUrls: _old, ...rest } = this.#state;
    this.#state = checked.length > 0 ? { ...rest, crlUrls: checked } : rest;
    this.#writeState();
    return checked;
  }

  #writeState(): void {
    writeFileAtomic(join(this.dir, "state.json"), `${JSON.stringify(this.#state, null, 2)}\n`, {
      mode: 0o644,
    });
  }

  /** Signs a registry entry. */
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.#key));
  }

  trustAnchor(): Promise<TrustAnchor> {
    return TrustAnchor.load(this.caPem, readFileSync(join(this.dir, "crl.pem"), "utf8"));
  }

  async issue(request: IssueRequest): Promise<IssuedIdentity> {
    checkId(request.id);
    const signing = freshKeyPair("Ed25519");
    const encryption = freshKeyPair("X25519");
    const certified = await this.certify({
      role: request.role,
      id: request.id,
      signingKey: signing.publicKey,
      encryptionKey: encryption.publicKey,
      ...(request.days !== undefined ? { days: request.days } : {}),
      ...(request.hosts ? { hosts: request.hosts } : {}),
    });
    const bundle = makeBundle({
      deployment: this.deployment,
      uri: certified.uri,
      role: request.role,
      id: request.id,
      signingKey: signing.privateKey,
      encryptionKey: encryption.privateKey,
      signingCertificate: certified.signingCertificate,
      encryptionCertificate: certified.encryptionCertificate,
      caCertificate: this.caPem,
      passphrase: request.passphrase,
      ...(request.kdfIterations ? { kdfIterations: request.kdfIterations } : {}),
      ...(request.log ? { log: request.log } : {}),
    });
    return { ...certified, bundle };
  }

  /**
   * Certifies public keys for an identity: the signing certificate (TLS too, for nodes and witnesses)
   * and the encryption certificate. The keys are the CA's own fresh ones (`issue`) or a holder's, sent
   * in an enrollment request whose proof of possession the caller has checked.
   */
  async certify(request: CertifyRequest): Promise<CertifiedIdentity> {
    checkId(request.id);
    if (
      request.signingKey.asymmetricKeyType !== "ed25519" ||
      request.encryptionKey.asymmetricKeyType !== "x25519"
    )
      throw new CustosError("BAD_KEY", "an identity has an Ed25519 signing key and an X25519 encryption key");
    const days = request.days ?? DEFAULT_IDENTITY_DAYS;
    if (!Number.isInteger(days) || days < 1 || days > 3650) {
      throw new CustosError("BAD_ARGUMENT", "validity must be 1 to 3650 days");
    }
    const uri = identityUri({ deployment: this.deployment, role: request.role, id: request.id });
    const start = this.#now();
    const notBefore = new Date(start - 60_000);
    const notAfter = new Date(start + days * DAY);
    const serverRole = request.role === "node" || request.role === "witness";
    const common = {
      ca: this.certificate,
      caKey: this.#key,
      deployment: this.deployment,
      role: request.role,
      id: request.id,
      uri,
      notBefore,
      notAfter,
      crlUrls: this.crlUrls,
    };
    const signingCert = await issueCertificate({
      ...common,
      serial: randomSerial(),
      kind: serverRole ? "tls" : "signing",
      subjectKey: request.signingKey,
      ...(serverRole ? { hosts: serverHosts(request.hosts) } : {}),
    });
    const encryptionCert = await issueCertificate({
      ...common,
      serial: randomSerial(),
      kind: "encryption",
      subjectKey: request.encryptionKey,
    });
    const hash = async (cert: x509.X509Certificate) => new Uint8Array(await cert.getThumbprint("SHA-256"));
    return {
      uri,
      signingCertificate: certificatePem(signingCert),
      encryptionCertificate: certificatePem(encryptionCert),
      serials: [signingCert.serialNumber, encryptionCert.serialNumber],
      signingPublicKey: rawPublic(request.signingKey),
      encryptionPublicKey: rawPublic(request.encryptionKey),
      certificateHashes: [await hash(signingCert), await hash(encryptionCert)],
      notAfter: notAfter.getTime(),
    };
  }

  /** The CRL files as they are now, to put back if what follows a revocation fails. */
  snapshot(): CaFiles {
    return {
      state: this.#state,
      crl: readFileSync(join(this.dir, "crl.pem"), "utf8"),
      stateText: readFileSync(join(this.dir, "state.json"), "utf8"),
    };
  }

  /** Puts the CRL files back as a snapshot had them. */
  restore(files: CaFiles): void {
    writeFileAtomic(join(this.dir, "crl.pem"), files.crl, { mode: 0o644 });
    writeFileAtomic(join(this.dir, "state.json"), files.stateText, { mode: 0o644 });
    this.#state = files.state;
  }

  /** Adds serials to the CRL and re-issues it. Returns the serials newly revoked. */
  async revoke(serials: readonly string[]): Promise<string[]> {
    const known = new Set(this.#state.revoked.map((r) => r.serial));
    const fresh = serials.filter((s) => /^[0-9a-f]{2,64}$/i.test(s) && !known.has(s.toLowerCase()));
    if (fresh.length === 0) return [];
    const at = this.#now();
    for (const serial of fresh) this.#state.revoked.push({ serial: serial.toLowerCase(), at });
    await this.writeCrl();
    return fresh;
  }

  /** Re-issues the CRL (run at least every CRL_VALIDITY_DAYS: `custos ca crl`). */
  async writeCrl(): Promise<string> {
    const now = this.#now();
    this.#state = { ...this.#state, crlNumber: this.#state.crlNumber + 1 };
    const crl = await createCrl({
      ca: this.certificate,
      caKey: this.#key,
      number: this.#state.crlNumber,
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + CRL_VALIDITY_DAYS * DAY),
      revoked: this.#state.revoked.map((r) => ({ serial: BigInt(`0x${r.serial}`), at: new Date(r.at) })),
    });
    const pem = crlPem(crl);
    writeFileAtomic(join(this.dir, "crl.pem"), pem, { mode: 0o644 });
    this.#writeState();
    return pem;
  }
}
