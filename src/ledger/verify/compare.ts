// `custos verify --against-mirror`: a node's store compared, entry by entry, with a mirror's verified
// copy up to the mirror's signed (and cosigned) checkpoint. Names every entry whose bytes differ,
// content altered or missing here that the mirror holds, acknowledged entries the mirror holds that
// are gone here, and local checkpoints that fork from the mirror's. The reference is trusted only once
// the tree rebuilt from what it streamed equals its checkpoint's root; both sides are read in batches,
// so memory stays O(log n) plus one batch and the findings.

import { openCheckpoint, parseCheckpoint } from "../../core/checkpoint/index.js";
import { contentHashOf, decodeEntry, ENTRY_KINDS, entryKindName } from "../../core/entry/index.js";
import { bytesEqual, CustosError, sha256 } from "../../core/index.js";
import { CompactRange, leafHash } from "../../core/merkle/index.js";
import { openNote, parseVerifierKey } from "../../core/note/index.js";
import type { LedgerStore, StoredEntry } from "../storage.js";
import { type Finding, type FindingCode, rangeText } from "./findings.js";
import type { ReferenceLog } from "./reference-log.js";

export interface CompareOptions {
  readonly origin: string;
  /** The log's key: the reference's checkpoint and the local checkpoints must carry its signature. */
  readonly verifierKey: string;
  readonly witnesses?: { readonly keys: readonly string[]; readonly quorum: number };
  /** Why the local store is absent, when it is (`local` undefined). */
  readonly lostReason?: string;
  readonly chunkSize?: number;
  readonly onProgress?: (compared: number, total: number) => void;
}

export interface ReferenceCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  /** The signed note with its cosignatures, exactly as the reference holds it. */
  readonly note: string;
  /** Required witnesses whose cosignatures verified. */
  readonly cosigners: readonly string[];
}

export interface ComparisonReport {
  readonly ok: boolean;
  readonly reference: string;
  readonly checkpoint: ReferenceCheckpoint;
  /** Entries present in the local store (0 when it is lost). */
  readonly localEntries: number;
  readonly entriesCompared: number;
  /** Local entries past the reference's checkpoint: not yet copied there, which is no damage. */
  readonly notYetCopied?: { readonly firstIndex: number; readonly lastIndex: number; readonly count: number };
  readonly findings: readonly Finding[];
}

/** Opens the reference's checkpoint: the log's signature, the origin and the witness quorum. */
export function openReferenceCheckpoint(
  name: string,
  note: string,
  options: Pick<CompareOptions, "origin" | "verifierKey" | "witnesses">,
): ReferenceCheckpoint {
  const witnessKeys = options.witnesses?.keys ?? [];
  let opened: ReturnType<typeof openCheckpoint>;
  try {
    opened = openCheckpoint(note, options.verifierKey, { cosignerKeys: witnessKeys });
  } catch (error) {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `the checkpoint of ${name} does not verify with the log's key: ${(error as Error).message}`,
    );
  }
  if (opened.checkpoint.origin !== options.origin) {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `${name} holds log "${opened.checkpoint.origin}", not "${options.origin}"`,
    );
  }
  const names = new Set(witnessKeys.map((k) => parseVerifierKey(k).name));
  const cosigners = opened.cosigners.filter((n) => names.has(n));
  const quorum = options.witnesses?.quorum ?? 0;
  if (cosigners.length < quorum) {
    throw new CustosError(
      "BAD_CHECKPOINT",
      `the checkpoint of ${name} is cosigned by ${cosigners.length} of the required witnesses, fewer than the quorum of ${quorum}`,
    );
  }
  return { size: opened.checkpoint.size, rootHash: opened.checkpoint.rootHash, note, cosigners };
}

export async function compareWithReference(
  local: LedgerStore | undefined,
  reference: ReferenceLog,
  options: CompareOptions,
): Promise<ComparisonReport> {
  if (reference.recordedVerifierKey !== undefined && reference.recordedVerifierKey !== options.verifierKey) {
    throw new CustosError("CONFIG", `${reference.name} is a copy of another log (its log key differs)`);
  }
  const checkpoint = openReferenceCheckpoint(reference.name, await reference.latestNote(), options);
  const refSize = checkpoint.size;
  const chunkSize = options.chunkSize ?? 4096;
  const ref = reference.name;
  const localCheckpoints =
    local === undefined ? new Map<number, LocalCheckpoint[]>() : await signedCheckpoints(local, options);
  const forks = new ForkCollector(ref, checkpoint.note, refSize);

  const runs = {
    modified: new RunCollector(
      "ENTRY_MODIFIED",
      (range, kinds, one) =>
        `${range} (${kinds}) ${one ? "differs" : "differ"} from the verified copy in ${ref}: altered in this store`,
    ),
    gaps: new RunCollector(
      "ENTRIES_MISSING",
      (range, kinds, one) =>
        `${range} (${kinds}) ${one ? "is" : "are"} missing from this store; ${ref} holds ${one ? "it" : "them"}`,
    ),
    contentModified: new RunCollector(
      "CONTENT_MODIFIED",
      (range, kinds) =>
        `the encrypted content of ${range} (${kinds}) was altered in this store: it no longer matches the hash the entry commits to; ${ref} holds the original`,
    ),
    contentMissing: new RunCollector(
      "CONTENT_MISSING",
      (range, kinds) =>
        `the encrypted content of ${range} (${kinds}) is missing from this store; ${ref} holds it`,
    ),
  };
  const tail = { first: -1, kinds: new Set<string>() };

  const cursor =
    local === undefined
      ? undefined
      : new EntryCursor(local.scanEntries(0, Number.MAX_SAFE_INTEGER, chunkSize));
  const refTree = CompactRange.empty();
  // The local tree from the local entries, while they run without a gap from 0: a local checkpoint
  // past the reference's size is a fork only if the local entries prove it (see below).
  let localTree: CompactRange | undefined = cursor === undefined ? undefined : CompactRange.empty();
  let localRootAtRefSize: Uint8Array | undefined;
  let localPresent = 0;
  let compared = 0;

  for (const cp of localCheckpoints.get(0) ?? []) forks.check(cp, refTree.root(), "reference");
  if (refSize === 0) localRootAtRefSize = localTree?.root();
  for await (const batch of reference.entries(0, refSize)) {
    const contentChecks: ContentCheck[] = [];
    for (const refEntry of batch) {
      const index = refTree.size;
      if (index >= refSize) break;
      const kind = entryKindName(refEntry[1] ?? 0) ?? "unknown";
      const stored = await cursor?.at(index);
      if (stored === undefined) {
        localTree = undefined;
        if (cursor === undefined || cursor.exhausted) {
          if (tail.first < 0) tail.first = index;
          tail.kinds.add(kind);
        } else {
          runs.gaps.add(index, kind);
        }
      } else {
        localPresent++;
        if (!bytesEqual(stored.data, refEntry)) runs.modified.add(index, kind);
        localTree?.append(leafHash(stored.data));
      }
      if (stored !== undefined && refEntry[1] !== ENTRY_KINDS.data) {
        const hash = contentHashIn(refEntry);
        if (hash !== undefined) contentChecks.push({ index, kind, hash });
      }
      refTree.append(leafHash(refEntry));
      compared++;
      for (const cp of localCheckpoints.get(refTree.size) ?? []) forks.check(cp, refTree.root(), "reference");
      if (refTree.size === refSize) localRootAtRefSize = localTree?.root();
    }
    if (local !== undefined) await checkContents(local, reference, contentChecks, runs);
    options.onProgress?.(compared, refSize);
  }
  if (compared !== refSize || !bytesEqual(refTree.root(), checkpoint.rootHash)) {
    throw new CustosError(
      "TAMPERED_ENTRY",
      `${ref} cannot serve as a reference: ${compared < refSize ? `it holds ${compared} of the ${refSize} entries its checkpoint covers` : `its entries do not rebuild the root of its own signed checkpoint at size ${refSize}`} (check it with custos verify)`,
    );
  }

  // Local entries past the reference's checkpoint: counted, and proving or not the later local checkpoints.
  let notYetCopied: ComparisonReport["notYetCopied"];
  if (cursor !== undefined) {
    let first = -1;
    let last = -1;
    let count = 0;
    for (let entry = await cursor.next(); entry !== undefined; entry = await cursor.next()) {
      if (entry.index < refSize) continue;
      if (first < 0) first = entry.index;
      if (localTree !== undefined && entry.index !== localTree.size) localTree = undefined;
      localTree?.append(leafHash(entry.data));
      for (const cp of localTree === undefined ? [] : (localCheckpoints.get(localTree.size) ?? [])) {
        // The local entries reproduce this local checkpoint; if they differ from the reference's
        // within its size, the log's key signed both histories.
        if (bytesEqual(localTree!.root(), cp.rootHash) && localRootAtRefSize !== undefined)
          forks.check(cp, localRootAtRefSize, "local", checkpoint.rootHash);
      }
      last = entry.index;
      count++;
      localPresent++;
    }
    if (count > 0) notYetCopied = { firstIndex: first, lastIndex: last, count };
  }

  const findings: Finding[] = [];
  if (local === undefined) {
    findings.push({
      code: "STORE_LOST",
      message: `${options.lostReason ?? "this node's store is gone"}: ${ref} holds the ${refSize} entr${refSize === 1 ? "y" : "ies"} (${refSize === 0 ? "none" : rangeText(0, refSize - 1)}) up to its signed checkpoint`,
      ...(refSize > 0 ? { firstIndex: 0, lastIndex: refSize - 1 } : {}),
      checkpointSize: refSize,
    });
  } else {
    findings.push(...runs.modified.finish(), ...runs.gaps.finish());
    if (tail.first >= 0) {
      const count = refSize - tail.first;
      findings.push({
        code: "ENTRIES_MISSING",
        message: `${count} acknowledged entr${count === 1 ? "y" : "ies"} (${rangeText(tail.first, refSize - 1)}: ${kindsText([...tail.kinds], count === 1)}) held by ${ref} up to its signed checkpoint ${count === 1 ? "is" : "are"} gone from this store: the log here ends at ${tail.first}`,
        firstIndex: tail.first,
        lastIndex: refSize - 1,
        entryKinds: [...tail.kinds].sort(),
        checkpointSize: refSize,
      });
    }
    findings.push(...runs.contentModified.finish(), ...runs.contentMissing.finish(), ...forks.finish());
  }
  findings.sort(
    (a, b) => (a.firstIndex ?? Number.MAX_SAFE_INTEGER) - (b.firstIndex ?? Number.MAX_SAFE_INTEGER),
  );
  return {
    ok: findings.length === 0,
    reference: ref,
    checkpoint,
    localEntries: localPresent,
    entriesCompared: compared,
    ...(notYetCopied ? { notYetCopied } : {}),
    findings,
  };
}

interface LocalCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
}

/** The local checkpoints that carry the log's signature, by size (the local verify reports the rest). */
async function signedCheckpoints(
  store: LedgerStore,
  options: Pick<CompareOptions, "origin" | "verifierKey">,
): Promise<Map<number, LocalCheckpoint[]>> {
  const bySize = new Map<number, LocalCheckpoint[]>();
  for (const stored of await store.listCheckpoints()) {
    let parsed: ReturnType<typeof parseCheckpoint>;
    try {
      parsed = parseCheckpoint(openNote(stored.note, [options.verifierKey]).text);
    } catch {
      continue;
    }
    if (parsed.origin !== options.origin) continue;
    const list = bySize.get(parsed.size) ?? [];
    if (!list.some((cp) => bytesEqual(cp.rootHash, parsed.rootHash)))
      list.push({ size: parsed.size, rootHash: parsed.rootHash, note: stored.note });
    bySize.set(parsed.size, list);
  }
  return bySize;
}

function contentHashIn(entry: Uint8Array): Uint8Array | undefined {
  try {
    return contentHashOf(decodeEntry(entry));
  } catch (error) {
    // The reference's bytes are proven by its root; an entry no codec reads commits to no content.
    if (error instanceof CustosError) return undefined;
    throw error;
  }
}

interface ContentCheck {
  readonly index: number;
  readonly kind: string;
  readonly hash: Uint8Array;
}

/** Content altered or missing here is damage only where the reference holds it (else: erased). */
async function checkContents(
  local: LedgerStore,
  reference: ReferenceLog,
  checks: readonly ContentCheck[],
  runs: { contentModified: RunCollector; contentMissing: RunCollector },
): Promise<void> {
  const suspect: (ContentCheck & { missing: boolean })[] = [];
  for (const check of checks) {
    const data = await local.getContent(check.hash);
    if (data === undefined) suspect.push({ ...check, missing: true });
    else if (!bytesEqual(sha256(data), check.hash)) suspect.push({ ...check, missing: false });
  }
  if (suspect.length === 0) return;
  const held = await reference.holdsContent(suspect.map((s) => s.hash));
  suspect.forEach((s, i) => {
    if (held[i]) (s.missing ? runs.contentMissing : runs.contentModified).add(s.index, s.kind);
  });
}

/** Reads a store's entries in index order, one batch in memory, answering "what is at index i?". */
class EntryCursor {
  readonly #iterator: AsyncIterator<StoredEntry[]>;
  #batch: StoredEntry[] = [];
  #position = 0;
  #done = false;

  constructor(entries: AsyncIterable<StoredEntry[]>) {
    this.#iterator = entries[Symbol.asyncIterator]();
  }

  /** True once every stored entry has been passed. */
  get exhausted(): boolean {
    return this.#done && this.#position >= this.#batch.length;
  }

  async #peek(): Promise<StoredEntry | undefined> {
    while (this.#position >= this.#batch.length && !this.#done) {
      const next = await this.#iterator.next();
      if (next.done) this.#done = true;
      else {
        this.#batch = next.value;
        this.#position = 0;
      }
    }
    return this.#batch[this.#position];
  }

  /** The entry stored at `index` (indexes asked in increasing order), or undefined if there is none. */
  async at(index: number): Promise<StoredEntry | undefined> {
    for (let entry = await this.#peek(); entry !== undefined; entry = await this.#peek()) {
      if (entry.index > index) return undefined;
      this.#position++;
      if (entry.index === index) return entry;
    }
    return undefined;
  }

  async next(): Promise<StoredEntry | undefined> {
    const entry = await this.#peek();
    if (entry !== undefined) this.#position++;
    return entry;
  }
}

const KIND_WORDS: Readonly<Record<string, readonly [string, string]>> = {
  data: ["data entry", "data entries"],
  accessRecord: ["access record", "access records"],
  keyEnvelope: ["key envelope", "key envelopes"],
  grant: ["grant", "grants"],
  grantRevocation: ["grant revocation", "grant revocations"],
  grantChange: ["grant change", "grant changes"],
  queryRecord: ["query record", "query records"],
  erasure: ["erasure", "erasures"],
  alert: ["tamper alert", "tamper alerts"],
  identity: ["identity entry", "identity entries"],
  refusal: ["refusal notice", "refusal notices"],
  epochStart: ["epoch start", "epoch starts"],
  legalHold: ["legal hold", "legal holds"],
  operatorAction: ["operator action", "operator actions"],
  staffDirectory: ["staff directory", "staff directories"],
  unknown: ["entry of an unknown kind", "entries of unknown kinds"],
};

export function kindsText(kinds: readonly string[], one: boolean): string {
  const words = [...kinds].sort().map((k) => (KIND_WORDS[k] ?? KIND_WORDS.unknown!)[one ? 0 : 1]);
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

/** Most findings a collector lists one by one; the rest are summed up in one last finding. */
const MAX_RUNS_LISTED = 1000;

/** Folds consecutive indexes into one finding per run, so a finding names a range and its kinds. */
class RunCollector {
  readonly #code: FindingCode;
  readonly #describe: (range: string, kinds: string, one: boolean) => string;
  readonly #findings: Finding[] = [];
  #run: { first: number; last: number; kinds: Set<string> } | undefined;
  #omitted = { runs: 0, entries: 0, first: -1, last: -1 };

  constructor(code: FindingCode, describe: (range: string, kinds: string, one: boolean) => string) {
    this.#code = code;
    this.#describe = describe;
  }

  add(index: number, kind: string): void {
    if (this.#run !== undefined && index === this.#run.last + 1) {
      this.#run.last = index;
      this.#run.kinds.add(kind);
      return;
    }
    this.#flush();
    this.#run = { first: index, last: index, kinds: new Set([kind]) };
  }

  #flush(): void {
    const run = this.#run;
    if (run === undefined) return;
    this.#run = undefined;
    if (this.#findings.length >= MAX_RUNS_LISTED) {
      if (this.#omitted.first < 0) this.#omitted.first = run.first;
      this.#omitted.last = run.last;
      this.#omitted.runs++;
      this.#omitted.entries += run.last - run.first + 1;
      return;
    }
    const one = run.first === run.last;
    const kinds = [...run.kinds].sort();
    this.#findings.push({
      code: this.#code,
      message: this.#describe(rangeText(run.first, run.last), kindsText(kinds, one), one),
      firstIndex: run.first,
      lastIndex: run.last,
      entryKinds: kinds,
    });
  }

  finish(): Finding[] {
    this.#flush();
    const omitted = this.#omitted;
    if (omitted.runs > 0) {
      this.#findings.push({
        code: this.#code,
        message: `and ${omitted.runs} more such ranges (${omitted.entries} entries) between ${omitted.first} and ${omitted.last}, not listed one by one`,
        firstIndex: omitted.first,
        lastIndex: omitted.last,
      });
    }
    return this.#findings;
  }
}

/** The first local checkpoint that contradicts the reference, with both notes; the rest counted. */
class ForkCollector {
  readonly #reference: string;
  readonly #referenceNote: string;
  readonly #referenceSize: number;
  #first: { cp: LocalCheckpoint; why: string } | undefined;
  #more = 0;

  constructor(reference: string, referenceNote: string, referenceSize: number) {
    this.#reference = reference;
    this.#referenceNote = referenceNote;
    this.#referenceSize = referenceSize;
  }

  /**
   * `side` "reference": `root` is the reference's root at cp.size. `side` "local": the local entries
   * reproduce cp, `root` is their root at the reference's size, to compare with `referenceRoot`.
   */
  check(
    cp: LocalCheckpoint,
    root: Uint8Array,
    side: "reference" | "local",
    referenceRoot?: Uint8Array,
  ): void {
    const agrees = side === "reference" ? bytesEqual(cp.rootHash, root) : bytesEqual(root, referenceRoot!);
    if (agrees) return;
    if (this.#first !== undefined) {
      this.#more++;
      return;
    }
    const why =
      side === "reference"
        ? `the entries ${this.#reference} verified against its checkpoint give another root at size ${cp.size}`
        : `this store's entries reproduce its checkpoint but differ from the verified copy in ${this.#reference} within the first ${this.#referenceSize}`;
    this.#first = { cp, why };
  }

  finish(): Finding[] {
    if (this.#first === undefined) return [];
    const { cp, why } = this.#first;
    const more =
      this.#more > 0 ? ` (and ${this.#more} later local checkpoint${this.#more === 1 ? "" : "s"})` : "";
    return [
      {
        code: "CHECKPOINT_FORK",
        message: `the log's key signed two histories: this store's checkpoint at size ${cp.size}${more} is inconsistent with the checkpoint of ${this.#reference} at size ${this.#referenceSize}: ${why}`,
        checkpointSize: cp.size,
        notes: { local: cp.note, reference: this.#referenceNote },
      },
    ];
  }
}
