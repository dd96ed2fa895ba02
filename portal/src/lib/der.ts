// A tiny strict DER reader (ITU-T X.690 8 and 10), enough to walk the fixed PKCS#8 structures an
// identity bundle holds. Definite lengths in minimal form only; every length is checked against the
// bytes that remain, so hostile input fails with a thrown Error and never reads out of bounds.

export const TAG = {
  integer: 0x02,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  sequence: 0x30,
} as const;

export interface DerElement {
  readonly tag: number;
  /** The contents octets (a view into the input, not a copy). */
  readonly value: Uint8Array;
}

/** Reads one element at `offset`; returns it and the offset just past it. */
function readElement(bytes: Uint8Array, offset: number): { element: DerElement; end: number } {
  if (offset + 2 > bytes.length) throw new Error("truncated DER element");
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error("DER high tag numbers are not used here");
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    // X.690 10.1: definite form, fewest octets; 4 octets cover anything a bundle holds.
    if (count === 0 || count > 4) throw new Error("unsupported DER length");
    if (start + count > bytes.length) throw new Error("truncated DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    if (bytes[start] === 0 || length < 0x80) throw new Error("non-minimal DER length");
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new Error("DER length runs past the input");
  return { element: { tag, value: bytes.subarray(start, end) }, end };
}

/** Parses exactly one element filling all of `bytes`. */
export function readDer(bytes: Uint8Array, tag: number): DerElement {
  const { element, end } = readElement(bytes, 0);
  if (end !== bytes.length) throw new Error("trailing bytes after the DER element");
  if (element.tag !== tag) throw new Error(`expected DER tag ${tag}, found ${element.tag}`);
  return element;
}

/** The children of a constructed element, each checked against the expected tags (in order). */
export function readChildren(parent: DerElement, tags: readonly number[]): DerElement[] {
  const children: DerElement[] = [];
  let offset = 0;
  while (offset < parent.value.length) {
    const { element, end } = readElement(parent.value, offset);
    children.push(element);
    offset = end;
  }
  if (children.length !== tags.length) throw new Error("unexpected number of DER fields");
  children.forEach((child, i) => {
    if (child.tag !== tags[i]) throw new Error(`expected DER tag ${tags[i]}, found ${child.tag}`);
  });
  return children;
}

/** A non-negative INTEGER that fits a safe JavaScript number. */
export function readSmallInteger(element: DerElement): number {
  const v = element.value;
  if (element.tag !== TAG.integer || v.length === 0 || v.length > 6) throw new Error("bad DER integer");
  if (v[0]! & 0x80) throw new Error("negative DER integer");
  if (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) throw new Error("non-minimal DER integer");
  let n = 0;
  for (const byte of v) n = n * 256 + byte;
  return n;
}

/** An OBJECT IDENTIFIER in dotted form (X.690 8.19). */
export function readOid(element: DerElement): string {
  const v = element.value;
  if (element.tag !== TAG.oid || v.length === 0 || v.length > 32) throw new Error("bad DER OID");
  const arcs: number[] = [];
  let arc = 0;
  for (let i = 0; i < v.length; i++) {
    const byte = v[i]!;
    if (arc === 0 && byte === 0x80) throw new Error("non-minimal DER OID arc");
    arc = arc * 128 + (byte & 0x7f);
    if (arc > Number.MAX_SAFE_INTEGER / 128) throw new Error("DER OID arc too large");
    if (!(byte & 0x80)) {
      arcs.push(arc);
      arc = 0;
    } else if (i === v.length - 1) throw new Error("truncated DER OID");
  }
  const first = arcs.shift()!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs].join(".");
}
