// The CLI's streams, injectable so commands can be driven in-process by tests.

import type { Readable } from "node:stream";

export interface Io {
  readonly stdin: Readable;
  out(line: string): void;
  /** Writes text as is (it carries its own newlines). */
  outRaw(text: string): void;
  err(line: string): void;
  readonly isTTY: boolean;
}

export const processIo: Io = {
  stdin: process.stdin,
  out: (line) => process.stdout.write(`${line}\n`),
  outRaw: (text) => process.stdout.write(text),
  err: (line) => process.stderr.write(`${line}\n`),
  isTTY: process.stderr.isTTY === true,
};

/**
 * A reader that stops early (`custos ... | head`) closes the pipe: the next write fails with EPIPE.
 * That is the reader's choice, not an error of ours, so the command ends quietly, as Unix tools do,
 * instead of dying on an unhandled stream error with a stack trace.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exit: (code: number) => void): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") exit(0);
    else throw error;
  });
}
