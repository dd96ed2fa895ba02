// Checking a certificate against the deployment CA: issued and signed by it, within its validity,
// not on the CRL, naming a well-formed identity of this deployment with the right key type.
// Every refusal has its own error code, so a user learns exactly what is wrong.

import { CustosError } from "../core/index.js";
import { parseIdentityUri, type Role } from "./roles.js";
import { parseCertificate, parseCrl, x509 } from "./x509.js";

export interface Principal {
  readonly uri: string;
  readonly deployment: string;
  readonly role: Role;
  readonly id: string;
  /** Certificate serial (hex). */
  readonly serial: string;
  readonly notAfter: number;
  /** Raw public key (32 bytes): Ed25519 for a signing certificate, X25519 for an encryption one. */
  readonly publicKey: Uint8Array;
}

function normalSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, "");
}

const SPKI_PREFIX = {
  Ed25519: "302a300506032b6570032100",
  X25519: "302a300506032b656e032100",
} as const;

function rawKey(cert: x509.X509Certificate, algorithm: "Ed25519" | "X25519", what: string): Uint8Array {
  const spki = Buffer.from(cert.publicKey.rawData);
  if (spki.length !== 44 || spki.subarray(0, 12).toString("hex") !== SPKI_PREFIX[algorithm]) {
    throw new CustosError("BAD_KEY", `the ${what} does not carry an ${algorithm} key`);
  }
  return new Uint8Array(spki.subarray(12));
}

function uriOf(cert: x509.X509Certificate, what: string): string {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === "url").map((n) => n.value) ?? [];
  if (uris.length !== 1)
    throw new CustosError("BAD_CERTIFICATE", `the ${what} names no single custos:// identity`);
  return uris[0]!;
}

export class TrustAnchor {
  readonly ca: x509.X509Certificate;
  readonly caPem: string;
  readonly crlPem: string | undefined;
  /** The CRL in DER, as a CRL distribution point serves it (application/pkix-crl). */
  readonly crlDer: Uint8Array | undefined;
  readonly deployment: string;
  readonly #revoked: Set<string>;
  readonly #crlNextUpdate: number | undefined;

  private constructor(
    ca: x509.X509Certificate,
    caPem: string,
    crlPem: string | undefined,
    revoked: Set<string>,
    nextUpdate?: number,
  ) {
    this.ca = ca;
    this.caPem = caPem;
    this.crlPem = crlPem;
    this.crlDer =
      crlPem === undefined
        ? undefined
        : new Uint8Array(Buffer.from(crlPem.replace(/-----[A-Z0-9 ]+-----|\s/g, ""), "base64"));
    this.#revoked = revoked;
    this.#crlNextUpdate = nextUpdate;
    const uri = (() => {
      const san = ca.getExtension(x509.SubjectAlternativeNameExtension);
      return san?.names.items.find((n) => n.type === "url")?.value ?? "";
    })();
    const match = /^custos:\/\/([a-z0-9-]+)$/.exec(uri);
    if (!match) throw new CustosError("BAD_CERTIFICATE", "the CA certificate names no Custos deployment");
    this.deployment = match[1]!;
  }

  /** The CA certificate, and the CRL if there is one (its issuer and signature are checked). */
  static async load(caPem: string, crlPem?: string): Promise<TrustAnchor> {
    const ca = parseCertificate(caPem, "CA certificate");
    if (crlPem === undefined) return new TrustAnchor(ca, caPem, undefined, new Set());
    const crl = parseCrl(crlPem);
    let signed = false;
    try {
      signed = crl.issuer === ca.subject && (await crl.verify({ publicKey: ca.publicKey }));
    } catch {
      signed = false;
    }
    if (!signed) throw new CustosError("UNKNOWN_CA", "the CRL is not signed by this deployment's CA");
    const revoked = new Set(crl.entries.map((e) => normalSerial(e.serialNumber)));
    return new TrustAnchor(ca, caPem, crlPem, revoked, crl.nextUpdate?.getTime());
  }

  /** When the CRL stops being valid (ms), if there is one. */
  get crlNextUpdate(): number | undefined {
    return this.#crlNextUpdate;
  }

  get caPublicKey(): Uint8Array {
    return rawKey(this.ca, "Ed25519", "CA certificate");
  }

  isRevoked(serial: string): boolean {
    return this.#revoked.has(normalSerial(serial));
  }

  /**
   * Verifies a certificate and returns who it names. `kind` says which key the certificate must
   * carry: "signing" (Ed25519, also used as the TLS certificate) or "encryption" (X25519).
   */
  async verify(
    pem: string | x509.X509Certificate,
    kind: "signing" | "encryption",
    now = Date.now(),
  ): Promise<Principal> {
    const what = kind === "signing" ? "signing certificate" : "encryption certificate";
    const cert = typeof pem === "string" ? parseCertificate(pem, what) : pem;
    if (cert.issuer !== this.ca.subject) {
      throw new CustosError("UNKNOWN_CA", `the ${what} was not issued by this deployment's CA`);
    }
    let signatureOk = false;
    try {
      signatureOk = await cert.verify({ publicKey: this.ca.publicKey, signatureOnly: true });
    } catch {
      signatureOk = false;
    }
    if (!signatureOk)
      throw new CustosError("UNKNOWN_CA", `the ${what} is not signed by this deployment's CA`);
    if (now < cert.notBefore.getTime())
      throw new CustosError("CERT_NOT_YET_VALID", `the ${what} is not valid yet`);
    if (now > cert.notAfter.getTime()) throw new CustosError("CERT_EXPIRED", `the ${what} has expired`);
    if (this.#crlNextUpdate !== undefined && now > this.#crlNextUpdate) {
      throw new CustosError(
        "CONFIG",
        "the deployment's CRL is out of date; re-issue it with `custos ca crl`",
      );
    }
    if (this.isRevoked(cert.serialNumber))
      throw new CustosError("CERT_REVOKED", `the ${what} has been revoked`);
    const uri = uriOf(cert, what);
    const name = parseIdentityUri(uri);
    if (name.deployment !== this.deployment) {
      throw new CustosError(
        "WRONG_DEPLOYMENT",
        `the ${what} belongs to deployment "${name.deployment}", not "${this.deployment}"`,
      );
    }
    const publicKey = rawKey(cert, kind === "signing" ? "Ed25519" : "X25519", what);
    return {
      uri,
      deployment: name.deployment,
      role: name.role,
      id: name.id,
      serial: cert.serialNumber.toLowerCase(),
      notAfter: cert.notAfter.getTime(),
      publicKey,
    };
  }
}
