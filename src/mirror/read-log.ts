// A mirror's own record of the reads it served and refused. Only the sequencer appends to the log, so
// a mirror cannot add these to the log's meta-audit; it keeps them here instead, durably (fsync before
// the reply leaves), one JSON line per read, each chained to the one before by SHA-256 so an edited or
// removed line breaks the chain. Each line holds a notice in the log's own format (a notice entry and
// its HPKE-sealed content, src/records/notices.ts): who asked is readable only by the patient, the
// audit companies granted the patient and the custodian(s); in clear are only the time, the kind and
// the patient's blind tag, as in the log itself.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CustosError, sha256, toBase64, toHex, utf8 } from "../core/index.js";
import type { AppendItem } from "../ledger/index.js";

export const READ_LOG_FILE = "mirror-reads.jsonl";
const GENESIS = toHex(new Uint8Array(32));

export interface ReadLogLine {
  readonly v: 1;
  readonly time: string;
  readonly kind: "query" | "refusal";
  /** The patient's blind tag (hex), or zeros when no patient was concerned. */
  readonly tag: string;
  /** The notice entry (base64), as the node would have appended it. */
  readonly entry: string;
  /** The sealed notice (base64). */
  readonly content: string;
  /** SHA-256 (hex) of the previous line's bytes; zeros for the first line. */
  readonly prev: string;
}

export class ReadLog {
  readonly path: string;
  #fd: number;
  #prev: string;

  private constructor(path: string, fd: number, prev: string) {
    this.path = path;
    this.#fd = fd;
    this.#prev = prev;
  }

  /** Opens (or creates) the read log in a mirror's data directory, checking its chain. */
  static open(dir: string): ReadLog {
    const path = join(dir, READ_LOG_FILE);
    let prev = GENESIS;
    if (existsSync(path)) {
      let text = readFileSync(path, "utf8");
      // A line cut short by a crash was never acknowledged (the reply waits for fsync): drop it.
      if (text.length > 0 && !text.endsWith("\n")) {
        text = text.slice(0, text.lastIndexOf("\n") + 1);
        truncateSync(path, Buffer.byteLength(text));
      }
      prev = verifyReadLog(text).head;
    }
    return new ReadLog(path, openSync(path, "a", 0o600), prev);
  }

  /** Appends one sealed notice; returns once it is on disk. */
  record(kind: ReadLogLine["kind"], time: number, tag: Uint8Array, notice: AppendItem): void {
    if (this.#fd < 0) throw new CustosError("STORE_BUSY", "the mirror's read log is closed");
    const line: ReadLogLine = {
      v: 1,
      time: new Date(time).toISOString(),
      kind,
      tag: toHex(tag),
      entry: toBase64(notice.entry),
      content: toBase64(notice.content ?? new Uint8Array()),
      prev: this.#prev,
    };
    const bytes = utf8(`${JSON.stringify(line)}\n`);
    writeSync(this.#fd, bytes);
    fsyncSync(this.#fd);
    this.#prev = toHex(sha256(bytes));
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}

/** Checks a read log's chain; throws TAMPERED_ENTRY naming the first line that breaks it. */
export function verifyReadLog(text: string): { lines: ReadLogLine[]; head: string } {
  const lines: ReadLogLine[] = [];
  let prev = GENESIS;
  const raw = text.split("\n");
  if (raw.at(-1) === "") raw.pop();
  raw.forEach((line, i) => {
    let parsed: ReadLogLine;
    try {
      parsed = JSON.parse(line) as ReadLogLine;
    } catch {
      throw new CustosError("TAMPERED_ENTRY", `line ${i + 1} of the mirror's read log is not JSON`);
    }
    if (parsed?.v !== 1 || typeof parsed.prev !== "string" || parsed.prev !== prev) {
      throw new CustosError(
        "TAMPERED_ENTRY",
        `line ${i + 1} of the mirror's read log does not follow the line before it (edited, removed or reordered)`,
      );
    }
    lines.push(parsed);
    prev = toHex(sha256(utf8(`${line}\n`)));
  });
  return { lines, head: prev };
}
