// The few DER shapes the identity layer writes itself (PKCS#8 PBES2 parameters): definite-length
// TLVs only. Everything it writes is read back by OpenSSL in the tests; parsing goes through
// node:crypto and @peculiar/x509, never through this file.

const SEQUENCE = 0x30;
const OCTET_STRING = 0x04;
const INTEGER = 0x02;
const OID = 0x06;
const NULL = 0x05;

function tlv(tag: number, content: Uint8Array): Uint8Array {
  let header: number[];
  const n = content.length;
  if (n < 0x80) header = [tag, n];
  else if (n < 0x100) header = [tag, 0x81, n];
  else if (n < 0x10000) header = [tag, 0x82, n >> 8, n & 0xff];
  else header = [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(header.length + n);
  out.set(header, 0);
  out.set(content, header.length);
  return out;
}

export function derSequence(...items: Uint8Array[]): Uint8Array {
  const total = items.reduce((sum, item) => sum + item.length, 0);
  const content = new Uint8Array(total);
  let offset = 0;
  for (const item of items) {
    content.set(item, offset);
    offset += item.length;
  }
  return tlv(SEQUENCE, content);
}

export function derOctetString(value: Uint8Array): Uint8Array {
  return tlv(OCTET_STRING, value);
}

export function derNull(): Uint8Array {
  return tlv(NULL, new Uint8Array(0));
}

/** A non-negative integer below 2^31. */
export function derInteger(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** 31) throw new RangeError("integer out of range");
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(INTEGER, Uint8Array.from(bytes));
}

export function derOid(dotted: string): Uint8Array {
  const parts = dotted.split(".").map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    let v = Math.floor(part / 128);
    while (v > 0) {
      chunk.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    bytes.push(...chunk);
  }
  return tlv(OID, Uint8Array.from(bytes));
}
