// The hospital's staff directory (issue 24; docs/portal.md "Staff directory"): who each user ID is
// (name, role, department), so that records which carry only a user ID read with a name. An admin
// uploads it; the node seals it at once to the readers enrolled then (every patient, audit company and
// privacy office: AES-256-GCM under a fresh key, the key wrapped with HPKE for each reader, bound to
// the entry's header), appends the entry and keeps the sealed content beside the tree. The store never
// holds it in clear; a reader opens the newest directory sealed to them.

import {
  decodeStaffDirectoryEntry,
  encodeStaffDirectoryEntry,
  STAFF_DIRECTORY_LOOKUP_KEY,
  staffDirectoryAad,
} from "../core/entry/index.js";
import {
  CustosError,
  fromBase64,
  fromUtf8,
  randomBytes,
  randomSecret,
  sha256,
  toBase64,
  toHex,
  utf8,
} from "../core/index.js";
import { aesGcmOpen, aesGcmSeal } from "../crypto/browser.js";
import { openBase, sealBase, x25519PublicKey } from "../crypto/hpke/index.js";
import type { AppendItem } from "../ledger/index.js";
import { type Recipient, recipientFingerprint } from "./recipients.js";

const KEY_INFO = utf8("custos staff directory key v1");

/** Most people one directory lists. */
export const MAX_STAFF = 100_000;
/** Longest ID, name, role or department, in characters. */
export const MAX_STAFF_TEXT = 200;

/** One person of the directory. */
export interface StaffMember {
  /** The user ID records carry (`userId`), e.g. `dr.okafor`. */
  readonly id: string;
  readonly name: string;
  readonly role?: string;
  readonly department?: string;
}

/** What a directory holds, once opened. */
export interface StaffDirectory {
  readonly index: number;
  /** When it was uploaded (ms since 1970, from its entry). */
  readonly time: number;
  /** The admin who uploaded it (identity URI). */
  readonly uploadedBy: string;
  readonly people: readonly StaffMember[];
}

interface SealedDirectory {
  v: 1;
  /** AES-256-GCM nonce and ciphertext (tag appended) of the directory's JSON. */
  nonce: string;
  ct: string;
  /** The directory key, wrapped for each reader (fingerprint in clear, as notices do). */
  r: { fp: string; enc: string; ct: string }[];
}

interface DirectoryBody {
  uploadedBy: string;
  people: StaffMember[];
}

function text(value: unknown, what: string, line: number, required: boolean): string | undefined {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
    if (required) throw new CustosError("BAD_ARGUMENT", `person ${line}: the ${what} is missing`);
    return undefined;
  }
  if (typeof value !== "string")
    throw new CustosError("BAD_ARGUMENT", `person ${line}: the ${what} is not text`);
  const trimmed = value.trim();
  if (trimmed.length > MAX_STAFF_TEXT || /\p{Cc}/u.test(trimmed))
    throw new CustosError(
      "BAD_ARGUMENT",
      `person ${line}: the ${what} must be at most ${MAX_STAFF_TEXT} characters of text on one line`,
    );
  return trimmed;
}

/**
 * Checks a directory's people (IDs unique, names present, text on one line) and returns them cleaned
 * (trimmed, empty optional fields left out), sorted by ID. Numbered from 1 in messages.
 */
export function checkStaff(people: readonly unknown[]): StaffMember[] {
  if (people.length === 0) throw new CustosError("BAD_ARGUMENT", "the staff directory lists nobody");
  if (people.length > MAX_STAFF)
    throw new CustosError("BAD_ARGUMENT", `a staff directory lists at most ${MAX_STAFF} people`);
  const seen = new Set<string>();
  const out: StaffMember[] = [];
  people.forEach((raw, i) => {
    const person = (raw ?? {}) as Record<string, unknown>;
    const id = text(person.id, "user ID", i + 1, true)!;
    if (seen.has(id)) throw new CustosError("BAD_ARGUMENT", `person ${i + 1}: user ID ${id} is listed twice`);
    seen.add(id);
    const role = text(person.role, "role", i + 1, false);
    const department = text(person.department, "department", i + 1, false);
    out.push({
      id,
      name: text(person.name, "name", i + 1, true)!,
      ...(role ? { role } : {}),
      ...(department ? { department } : {}),
    });
  });
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Seals a directory to its readers: one entry and its content, filed under the directory key. */
export function sealStaffDirectory(
  time: number,
  uploadedBy: string,
  people: readonly StaffMember[],
  readers: readonly Recipient[],
): AppendItem {
  if (readers.length === 0)
    throw new CustosError("KEY_MISSING", "nobody is enrolled to read a staff directory yet");
  const aad = staffDirectoryAad(time);
  const key = randomSecret(32);
  try {
    const nonce = randomBytes(12);
    const body: DirectoryBody = { uploadedBy, people: [...people] };
    const sealed: SealedDirectory = {
      v: 1,
      nonce: toBase64(nonce),
      ct: toBase64(aesGcmSeal(key, nonce, aad, utf8(JSON.stringify(body)))),
      r: readers.map((reader) => {
        const { enc, ciphertext } = sealBase(reader.encryptionKey, KEY_INFO, aad, key);
        return {
          fp: toHex(recipientFingerprint(reader.encryptionKey)),
          enc: toBase64(enc),
          ct: toBase64(ciphertext),
        };
      }),
    };
    const content = utf8(JSON.stringify(sealed));
    return {
      entry: encodeStaffDirectoryEntry(time, sha256(content)),
      content,
      lookupKeys: [STAFF_DIRECTORY_LOOKUP_KEY],
    };
  } finally {
    key.fill(0);
  }
}

function parseSealed(content: Uint8Array): SealedDirectory | undefined {
  try {
    const sealed = JSON.parse(fromUtf8(content)) as Partial<SealedDirectory> | null;
    if (
      sealed?.v !== 1 ||
      typeof sealed.nonce !== "string" ||
      typeof sealed.ct !== "string" ||
      !Array.isArray(sealed.r)
    )
      return undefined;
    return sealed as SealedDirectory;
  } catch {
    return undefined;
  }
}

/** Whether a directory's content is sealed to a reader (by fingerprint), read without opening it. */
export function staffDirectorySealedTo(content: Uint8Array, fingerprint: Uint8Array): boolean {
  const fp = toHex(fingerprint);
  return parseSealed(content)?.r.some((r) => r?.fp === fp) ?? false;
}

/**
 * Opens a directory with a reader's X25519 private key; undefined when it is not sealed to that key.
 * Content that does not match the entry's hash, or fails to open, is TAMPERED_ENTRY.
 */
export function openStaffDirectory(
  item: { index: number; entry: Uint8Array; content?: Uint8Array | undefined },
  privateKey: Uint8Array,
): StaffDirectory | undefined {
  const { time, contentHash } = decodeStaffDirectoryEntry(item.entry);
  if (item.content === undefined) return undefined;
  const tampered = (what: string) =>
    new CustosError("TAMPERED_ENTRY", `the staff directory in entry ${item.index} ${what}`);
  if (toHex(sha256(item.content)) !== toHex(contentHash)) throw tampered("does not match its hash");
  const sealed = parseSealed(item.content);
  if (!sealed) throw tampered("is malformed");
  const fp = toHex(recipientFingerprint(x25519PublicKey(privateKey)));
  const mine = sealed.r.find((r) => r?.fp === fp);
  if (!mine) return undefined;
  const aad = staffDirectoryAad(time);
  let key: Uint8Array | undefined;
  try {
    key = openBase(fromBase64(mine.enc), privateKey, KEY_INFO, aad, fromBase64(mine.ct));
    const body = JSON.parse(
      fromUtf8(aesGcmOpen(key, fromBase64(sealed.nonce), aad, fromBase64(sealed.ct))),
    ) as Partial<DirectoryBody>;
    if (typeof body.uploadedBy !== "string" || !Array.isArray(body.people)) throw tampered("is malformed");
    return { index: item.index, time, uploadedBy: body.uploadedBy, people: checkStaff(body.people) };
  } catch (error) {
    if (error instanceof CustosError && error.code === "TAMPERED_ENTRY") throw error;
    throw tampered("cannot be opened with this reader's key");
  } finally {
    key?.fill(0);
  }
}
