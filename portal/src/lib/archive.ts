// Opening an archive (`custos archive`, docs/formats.md "Archives") in the page, without signing in
// and without sending anything anywhere: the archive is verified with the code `custos verify-archive`
// runs (src/core/archive), against the log key the reader's identity bundle carries and the witness
// keys this portal names for that same log; only an archive that verifies is opened, with the
// bundle's key unlocked in the page, by the code `custos read --archive` runs (src/records/archive).

import {
  type ArchiveBody,
  type ArchiveFinding,
  type ArchiveSummary,
  verifyArchive,
} from "../../../src/core/archive/index.js";
import { toHex } from "../../../src/core/bytes.js";
import { openCheckpoint } from "../../../src/core/checkpoint/index.js";
import { CustosError } from "../../../src/core/errors.js";
import { sha256 } from "../../../src/core/platform.js";
import { openArchive } from "../../../src/records/archive/open-archive.js";
import { RecordOpener } from "../../../src/records/record-opener.js";
import { parseIdentityBundle, unlockBundle } from "./bundle.js";
import { PortalError } from "./errors.js";
import type {
  AccessRow,
  PortalConfig,
  SignedInIdentity,
  VerificationProblem,
  VerificationStatus,
} from "./types.js";

/** The largest archive this page reads into memory; larger ones open with `custos read --archive`. */
export const MAX_ARCHIVE_FILE_BYTES = 256 * 1024 * 1024;

/** What the archive was checked against, and where each key came from. */
export interface ArchiveTrustUsed {
  /** The log's verifier key, from the identity bundle. */
  readonly logKey: string;
  readonly witnessKeys: readonly string[];
  readonly quorum: number;
  /** Why no witness keys were used, in one sentence (undefined when some were). */
  readonly noWitnesses?: string;
}

export interface ArchiveFileFacts {
  readonly name: string;
  /** SHA-256 of the whole file, hex: what the holder of another copy compares. */
  readonly sha256: string;
  readonly bytes: number;
}

/** An archive that verified, opened with the reader's key. */
export interface OpenedArchiveView {
  readonly identity: SignedInIdentity;
  readonly file: ArchiveFileFacts;
  readonly trust: ArchiveTrustUsed;
  readonly summary: ArchiveSummary;
  /** Earlier checkpoints the archive carries, each proven consistent with its own. */
  readonly checkpoints: number;
  /** The archive's checkpoint as the exports record it (cosignatures from the witnessed one). */
  readonly status: VerificationStatus;
  /** The witnessed checkpoint's note (with its cosignature lines), when the archive carries one. */
  readonly witnessedNote?: string;
  /** The records this key opens, newest first. */
  readonly rows: AccessRow[];
  /** Access records in the archive this key does not open (erased ones included). */
  readonly notReadable: number;
  readonly erased: number;
  /** Whether the archive names this identity among its readers. */
  readonly addressedToMe: boolean;
}

/** An archive that failed its checks: nothing in it is shown. */
export class ArchiveRefusedError extends Error {
  readonly problems: readonly VerificationProblem[];
  readonly file: ArchiveFileFacts;
  readonly trust: ArchiveTrustUsed;

  constructor(problems: readonly VerificationProblem[], file: ArchiveFileFacts, trust: ArchiveTrustUsed) {
    super(problems[0]?.message ?? "the archive does not verify");
    this.name = "ArchiveRefusedError";
    this.problems = problems;
    this.file = file;
    this.trust = trust;
  }
}

/** Each finding as one plain sentence; the entry or checkpoint it names, the technical text after. */
const FINDING_WORDS: Readonly<Record<ArchiveFinding["code"], string>> = {
  ARCHIVE_MALFORMED: "The file is not a readable archive of this log",
  ARCHIVE_SIGNATURE: "The archive's signature by the log does not match the file",
  CHECKPOINT_BAD_SIGNATURE: "A checkpoint in the archive is not signed by the log",
  CHECKPOINT_INCONSISTENT: "The archive's checkpoints contradict each other: the log's history was rewritten",
  WITNESS_QUORUM_MISSING:
    "No checkpoint in the archive carries the witnesses' cosignatures this portal requires",
  ENTRY_UNREADABLE: "An entry in the archive is not a valid log entry",
  ENTRY_NOT_IN_LOG: "An entry in the archive is not proven part of the log",
  CONTENT_MODIFIED: "The content of an entry was altered",
  CONTENT_MISSING: "The content of an entry is missing, and no erasure explains it",
  ERASED_CONTENT_KEPT: "The archive holds content the log says was erased",
  RECORD_OUT_OF_RANGE: "A record lies outside the archive's time range",
  UNEXPECTED_ENTRY: "The archive holds an entry that has no place in it",
};

/** The failed check in plain words, naming the entry: the headline over a problem's message. */
export function archiveProblemHeadline(problem: VerificationProblem): string {
  const words =
    FINDING_WORDS[problem.code as ArchiveFinding["code"]] ?? "A key or record addressed to you does not open";
  return problem.index !== undefined ? `${words} (entry ${problem.index})` : words;
}

export function findingProblem(finding: ArchiveFinding): VerificationProblem {
  const detail = finding.message.replace(/^entry \d+: /, "").replace(/\.$/, "");
  return {
    code: finding.code,
    message: `${detail.charAt(0).toUpperCase()}${detail.slice(1)}.`,
    ...(finding.index !== undefined ? { index: finding.index } : {}),
  };
}

/** The witness keys to require: the portal's, when it serves the very log the bundle names. */
function trustFor(logKey: string, deployment: string, config: PortalConfig | null): ArchiveTrustUsed {
  if (config === null)
    return {
      logKey,
      witnessKeys: [],
      quorum: 0,
      noWitnesses:
        "Identity bundles carry no witness keys, and this page could not read the portal's settings: the witnesses' cosignatures were not checked.",
    };
  if (config.deployment !== deployment || config.log.verifierKey !== logKey)
    return {
      logKey,
      witnessKeys: [],
      quorum: 0,
      noWitnesses:
        "Identity bundles carry no witness keys, and this portal serves another log than your identity's: the witnesses' cosignatures were not checked.",
    };
  if (config.witnesses.keys.length === 0 || config.witnesses.quorum === 0)
    return {
      logKey,
      witnessKeys: [],
      quorum: 0,
      noWitnesses:
        "Identity bundles carry no witness keys, and this portal names no witness for this log: the witnesses' cosignatures were not checked.",
    };
  return { logKey, witnessKeys: config.witnesses.keys, quorum: config.witnesses.quorum };
}

function statusOf(body: ArchiveBody, summary: ArchiveSummary, trust: ArchiveTrustUsed) {
  let witnessedNote: string | undefined;
  let cosigned: VerificationStatus["cosigned"] = [];
  if (summary.witnessedSize > 0) {
    const notes = [body.checkpoint, ...body.checkpoints.map((c) => c.note)];
    for (const note of notes) {
      const opened = openCheckpoint(note, trust.logKey, { cosignerKeys: trust.witnessKeys });
      if (Number(opened.checkpoint.size) !== summary.witnessedSize || opened.cosigners.length < trust.quorum)
        continue;
      witnessedNote = note;
      cosigned = opened.signatures
        .filter((s) => s.verified && opened.cosigners.includes(s.name))
        .map((s) => ({ name: s.name, time: (s.timestamp ?? 0) * 1000 }));
      break;
    }
  }
  const status: VerificationStatus = {
    size: summary.size,
    note: body.checkpoint,
    cosigned,
    quorum: trust.quorum,
    witnessCount: trust.witnessKeys.length,
  };
  return { status, ...(witnessedNote !== undefined ? { witnessedNote } : {}) };
}

function newestFirst(a: AccessRow, b: AccessRow): number {
  return Date.parse(b.record.time) - Date.parse(a.record.time) || b.index - a.index;
}

/**
 * Verifies an archive file against the bundle's log key (and the portal's witness keys for that log)
 * and opens the records the bundle's key reads. Throws PortalError (BAD_BUNDLE, BAD_PASSPHRASE,
 * UNSUPPORTED_BROWSER) for the bundle, ArchiveRefusedError when the archive does not verify (before
 * the bundle is unlocked: nothing of a failed archive is opened).
 */
export async function openArchiveFile(
  archive: { readonly name: string; readonly bytes: Uint8Array },
  bundleText: string,
  passphrase: string,
  config: PortalConfig | null,
): Promise<OpenedArchiveView> {
  const bundle = parseIdentityBundle(bundleText);
  if (bundle.log === undefined)
    throw new PortalError(
      "BAD_BUNDLE",
      "Your identity bundle does not carry the log's key, so this page has nothing of its own to check the archive against. Check it with custos verify-archive and the log key the hospital publishes.",
    );
  if (archive.bytes.length > MAX_ARCHIVE_FILE_BYTES)
    throw new PortalError(
      "TOO_LARGE",
      "This archive is larger than this page opens; open it with custos read --archive on a computer.",
    );
  const file: ArchiveFileFacts = {
    name: archive.name,
    sha256: toHex(sha256(archive.bytes)),
    bytes: archive.bytes.length,
  };
  const trust = trustFor(bundle.log.verifierKey, bundle.deployment, config);
  const report = verifyArchive(archive.bytes, {
    logKey: trust.logKey,
    witnessKeys: trust.witnessKeys,
    quorum: trust.quorum,
  });
  if (!report.ok || report.body === undefined || report.summary === undefined)
    throw new ArchiveRefusedError(
      report.findings.length > 0
        ? report.findings.map(findingProblem)
        : [{ code: "ARCHIVE_MALFORMED", message: "The archive could not be read." }],
      file,
      trust,
    );
  const { body, summary } = report;
  const keys = await unlockBundle(bundle, passphrase);
  let opener: RecordOpener | undefined;
  let opened: ReturnType<typeof openArchive>;
  try {
    opener = new RecordOpener(keys.encryptionPrivateKey);
    opened = openArchive(body, opener);
  } catch (error) {
    if (
      error instanceof CustosError &&
      (error.code === "TAMPERED_ENTRY" || error.code === "DECRYPTION_FAILED")
    ) {
      const index = /^entry (\d+): /.exec(error.message)?.[1];
      throw new ArchiveRefusedError(
        [
          {
            code: error.code,
            message: `${error.message.replace(/^entry \d+: /, "").replace(/\.$/, "")}.`,
            ...(index !== undefined ? { index: Number(index) } : {}),
          },
        ],
        file,
        trust,
      );
    }
    throw error;
  } finally {
    opener?.dispose();
    keys.encryptionPrivateKey.fill(0);
  }
  const rows: AccessRow[] = opened.records.map((r) => ({
    index: r.index,
    patientId: r.record.patientId,
    record: r.record,
  }));
  rows.sort(newestFirst);
  return {
    identity: { uri: bundle.uri, role: bundle.role, id: bundle.id, deployment: bundle.deployment },
    file,
    trust,
    summary,
    checkpoints: body.checkpoints.length,
    ...statusOf(body, summary, trust),
    rows,
    notReadable: opened.notReadable.length,
    erased: opened.erased.length,
    addressedToMe: summary.readers.includes(bundle.uri),
  };
}
