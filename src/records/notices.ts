// Sealing and opening notices (refusals, trail queries) for a patient: the content is JSON, sealed
// with HPKE once per reader (the patient and the custodian), bound to its entry header.

import {
  decodeNoticeEntry,
  encodeNoticeEntry,
  type NoticeHeader,
  noticeAad,
  noticeLookupKeys,
} from "../core/entry/index.js";
import { CustosError, fromBase64, fromUtf8, sha256, toBase64, toHex, utf8 } from "../core/index.js";
import { openBase, sealBase, x25519PublicKey } from "../crypto/hpke/index.js";
import type { AppendItem } from "../ledger/index.js";
import { type Recipient, recipientFingerprint } from "./recipients.js";

const NOTICE_INFO = utf8("custos notice v1");
/** A notice's time in clear (its entry header) is the hour; the exact time is in the sealed body. */
const HOUR_MS = 3_600_000;

/** What a notice tells the patient. Never contains the patient's own ID. */
export interface NoticeBody {
  readonly time: string;
  /** Who asked: an identity URI. */
  readonly requester: string;
  readonly role: string;
  /** What was asked, e.g. "read-trail". */
  readonly operation: string;
  /** For refusals: the stable error code. */
  readonly reason?: string;
  /** For queries: how many entries were returned. */
  readonly returned?: number;
}

export interface OpenedNotice {
  readonly index: number;
  readonly kind: NoticeHeader["kind"];
  readonly body: NoticeBody;
  /**
   * The tag of the patient the notice is filed under (hex; from its entry header, which the sealed
   * body is bound to), absent for a notice that concerns no patient. A reader who knows which
   * patient goes by this tag (an audit company, from that patient's trail) can name them.
   */
  readonly patientTag?: string;
}

interface SealedNotice {
  v: 1;
  r: { fp: string; enc: string; ct: string }[];
}

export function sealNotice(
  header: NoticeHeader,
  body: NoticeBody,
  readers: readonly Recipient[],
): AppendItem {
  if (readers.length === 0) throw new CustosError("KEY_MISSING", "a notice needs at least one reader");
  // A stolen store dates reads no finer than access records: to the hour (docs/encryption.md).
  // Entries written before this rule carry the exact millisecond; both open alike.
  const hourly: NoticeHeader = { ...header, time: header.time - (header.time % HOUR_MS) };
  const plaintext = utf8(JSON.stringify(body));
  const aad = noticeAad(hourly);
  const sealed: SealedNotice = {
    v: 1,
    r: readers.map((reader) => {
      const { enc, ciphertext } = sealBase(reader.encryptionKey, NOTICE_INFO, aad, plaintext);
      return {
        fp: toHex(recipientFingerprint(reader.encryptionKey)),
        enc: toBase64(enc),
        ct: toBase64(ciphertext),
      };
    }),
  };
  const content = utf8(JSON.stringify(sealed));
  return {
    entry: encodeNoticeEntry(hourly, sha256(content)),
    content,
    lookupKeys: noticeLookupKeys(hourly.patientTag),
  };
}

/**
 * Whether a notice's sealed content names a reader (by recipient fingerprint). The fingerprints are in
 * clear beside each sealed copy, so a server can pick a reader's notices without reading them.
 * Malformed content names nobody.
 */
export function noticeSealedTo(content: Uint8Array, fingerprint: Uint8Array): boolean {
  const fp = toHex(fingerprint);
  try {
    const sealed = JSON.parse(fromUtf8(content)) as Partial<SealedNotice> | null;
    return Array.isArray(sealed?.r) && sealed.r.some((r) => r?.fp === fp);
  } catch {
    return false;
  }
}

/** Opens a notice with a reader's X25519 private key; undefined when it is not sealed to that key. */
export function openNotice(
  item: { index: number; entry: Uint8Array; content?: Uint8Array | undefined },
  privateKey: Uint8Array,
): OpenedNotice | undefined {
  const { header, contentHash } = decodeNoticeEntry(item.entry);
  if (item.content === undefined) return undefined;
  if (toHex(sha256(item.content)) !== toHex(contentHash)) {
    throw new CustosError("TAMPERED_ENTRY", `the content of entry ${item.index} does not match its hash`);
  }
  const sealed = JSON.parse(fromUtf8(item.content)) as SealedNotice;
  const fp = toHex(recipientFingerprint(x25519PublicKey(privateKey)));
  const mine = sealed.r?.find((r) => r.fp === fp);
  if (!mine) return undefined;
  const plaintext = openBase(
    fromBase64(mine.enc),
    privateKey,
    NOTICE_INFO,
    noticeAad(header),
    fromBase64(mine.ct),
  );
  const body = JSON.parse(fromUtf8(plaintext)) as NoticeBody;
  const patientTag = header.patientTag.some((b) => b !== 0) ? toHex(header.patientTag) : undefined;
  return { index: item.index, kind: header.kind, body, ...(patientTag ? { patientTag } : {}) };
}
