// The entry kinds a Custos log holds. The numeric codes are part of the on-disk format: never renumber,
// only append. Kinds whose codec a later layer defines are reserved here so codes never collide.

export const ENTRY_KINDS = {
  data: 0x01,
  accessRecord: 0x02,
  keyEnvelope: 0x03,
  grant: 0x04,
  grantRevocation: 0x05,
  queryRecord: 0x06,
  erasure: 0x07,
  alert: 0x08,
  identity: 0x09,
  refusal: 0x0a,
  epochStart: 0x0b,
  /** An admin sets the period of grants in force (one entry, in place of an end and a new grant). */
  grantChange: 0x0c,
  // 0x20 onward: lifecycle kinds (issue 22), numbered apart so kinds added beside them never collide.
  legalHold: 0x20,
  operatorAction: 0x21,
  // The hospital's staff directory (issue 24), sealed to the readers: names for user IDs.
  staffDirectory: 0x22,
} as const;

export type EntryKindName = keyof typeof ENTRY_KINDS;
export type EntryKind = (typeof ENTRY_KINDS)[EntryKindName];

const NAMES = new Map<number, EntryKindName>(
  Object.entries(ENTRY_KINDS).map(([name, code]) => [code, name as EntryKindName]),
);

export function entryKindName(kind: number): EntryKindName | undefined {
  return NAMES.get(kind);
}

/**
 * Field tag that, in any kind, commits to content stored beside the tree: the 32-byte SHA-256 of that
 * content. Content may later be destroyed under a signed erasure entry while every proof still verifies.
 */
export const CONTENT_HASH_TAG = 0xf0;
