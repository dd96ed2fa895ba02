// X.509 through @peculiar/x509 on Node's WebCrypto: the deployment CA's root certificate, the
// certificates it issues (Ed25519 signing, X25519 encryption, node TLS) and its CRL. Keys move in and
// out as node:crypto KeyObjects; nothing here keeps a private key.

import "reflect-metadata";
import { createPublicKey, type KeyObject, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CRLNumber } from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import { CustosError } from "../core/index.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ED25519 = { name: "Ed25519" } as const;
const X25519 = { name: "X25519" } as const;
const OID_CRL_NUMBER = "2.5.29.20";

export const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
export const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

export type CertificateKind = "signing" | "encryption" | "tls";

async function toCryptoPrivate(key: KeyObject): Promise<CryptoKey> {
  return webcrypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), ED25519, false, [
    "sign",
  ]) as Promise<CryptoKey>;
}

async function toCryptoPublic(key: KeyObject): Promise<CryptoKey> {
  const type = key.asymmetricKeyType;
  const algorithm = type === "x25519" ? X25519 : ED25519;
  const usages: KeyUsage[] = type === "x25519" ? [] : ["verify"];
  return webcrypto.subtle.importKey(
    "spki",
    key.export({ type: "spki", format: "der" }),
    algorithm,
    true,
    usages,
  ) as Promise<CryptoKey>;
}

function serialHex(serial: bigint): string {
  let hex = serial.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  // Positive INTEGER: a leading high bit would read as negative.
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return hex;
}

function distinguishedName(parts: { cn: string; ou?: string; o: string }): string {
  const escapeValue = (v: string) => v.replace(/([,+"\\<>;=])/g, "\\$1");
  return [
    `CN=${escapeValue(parts.cn)}`,
    ...(parts.ou ? [`OU=${escapeValue(parts.ou)}`] : []),
    `O=${escapeValue(parts.o)}`,
  ].join(", ");
}

export interface RootCaRequest {
  readonly deployment: string;
  readonly signingKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export async function createRootCertificate(request: RootCaRequest): Promise<x509.X509Certificate> {
  const publicKey = await toCryptoPublic(request.publicKey);
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex(1n),
    name: distinguishedName({ cn: `Custos deployment CA ${request.deployment}`, o: request.deployment }),
    notBefore: request.notBefore,
    notAfter: request.notAfter,
    keys: { publicKey, privateKey: await toCryptoPrivate(request.signingKey) },
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `custos://${request.deployment}` }]),
    ],
  });
}

export interface LeafRequest {
  readonly ca: x509.X509Certificate;
  readonly caKey: KeyObject;
  readonly serial: bigint;
  readonly kind: CertificateKind;
  readonly deployment: string;
  readonly role: string;
  readonly id: string;
  readonly uri: string;
  readonly subjectKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DNS names and IP addresses, for TLS certificates. */
  readonly hosts?: readonly string[];
  /** Where the CA's CRL can be fetched (RFC 5280 4.2.1.13), so any party can check revocation. */
  readonly crlUrls?: readonly string[];
}

export async function issueCertificate(request: LeafRequest): Promise<x509.X509Certificate> {
  const keyType = request.subjectKey.asymmetricKeyType;
  if (request.kind === "encryption" ? keyType !== "x25519" : keyType !== "ed25519") {
    throw new CustosError(
      "BAD_KEY",
      `a ${request.kind} certificate needs an ${request.kind === "encryption" ? "X25519" : "Ed25519"} key`,
    );
  }
  const subject = request.subjectKey;
  const publicKey = await toCryptoPublic(subject.type === "public" ? subject : createPublicKey(subject));
  const names: x509.JsonGeneralName[] = [{ type: "url", value: request.uri }];
  for (const host of request.hosts ?? []) {
    names.push(isIP(host) ? { type: "ip", value: host } : { type: "dns", value: host });
  }
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.SubjectAlternativeNameExtension(names),
    await x509.AuthorityKeyIdentifierExtension.create(request.ca),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
  if (request.kind === "encryption") {
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyAgreement, true));
  } else {
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
    // A signing certificate authenticates its holder as a TLS client; a node's also as a server.
    const usages = request.kind === "tls" ? [EKU_SERVER_AUTH, EKU_CLIENT_AUTH] : [EKU_CLIENT_AUTH];
    extensions.push(new x509.ExtendedKeyUsageExtension(usages, false));
  }
  if (request.crlUrls && request.crlUrls.length > 0) {
    extensions.push(new x509.CRLDistributionPointsExtension([...request.crlUrls]));
  }
  return x509.X509CertificateGenerator.create({
    serialNumber: serialHex(request.serial),
    subject: distinguishedName({ cn: request.id, ou: request.role, o: request.deployment }),
    issuer: request.ca.subject,
    notBefore: request.notBefore,
    notAfter: request.notAfter,
    publicKey,
    signingKey: await toCryptoPrivate(request.caKey),
    signingAlgorithm: ED25519,
    extensions,
  });
}

export interface CrlRequest {
  readonly ca: x509.X509Certificate;
  readonly caKey: KeyObject;
  readonly number: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revoked: readonly { serial: bigint; at: Date }[];
}

export async function createCrl(request: CrlRequest): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create({
    issuer: request.ca.subject,
    thisUpdate: request.thisUpdate,
    nextUpdate: request.nextUpdate,
    entries: request.revoked.map((r) => ({
      serialNumber: serialHex(r.serial),
      revocationDate: r.at,
      reason: x509.X509CrlReason.unspecified,
    })),
    signingAlgorithm: ED25519,
    signingKey: await toCryptoPrivate(request.caKey),
    extensions: [
      await x509.AuthorityKeyIdentifierExtension.create(request.ca),
      new x509.Extension(OID_CRL_NUMBER, false, AsnConvert.serialize(new CRLNumber(request.number))),
    ],
  });
}

export function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString("pem")}\n`;
}

/** OpenSSL reads CRLs under the `X509 CRL` PEM label only. */
export function crlPem(crl: x509.X509Crl): string {
  const b64 = crl
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN X509 CRL-----\n${b64}\n-----END X509 CRL-----\n`;
}

export function parseCertificate(pem: string, what = "certificate"): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch {
    throw new CustosError("BAD_CERTIFICATE", `the ${what} is not a readable X.509 certificate`);
  }
}

export function parseCrl(pem: string): x509.X509Crl {
  try {
    return new x509.X509Crl(pem.replace(/X509 CRL/g, "CRL"));
  } catch {
    throw new CustosError("BAD_CERTIFICATE", "the CRL is not a readable X.509 CRL");
  }
}

export { x509 };
