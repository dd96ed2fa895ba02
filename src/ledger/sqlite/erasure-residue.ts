// Where erased bytes could outlive their rows in a SQLite store, checked from the files themselves:
// the store deletes with secure_delete on (freed cells and pages are zero-filled) and empties the
// write-ahead log after each erasure, so (1) no erasure may be left with its WAL truncation pending
// and (2) every leaf page of the free list must be zeros.
//
// Pages are read as the database currently is: the main file, overlaid with the newest committed
// frame of each page in the WAL (sqlite.org/fileformat2.html, "The WAL File Format"). A frame of
// another WAL generation (its salts differ from the header's) or after the last commit is ignored.

import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

/** Reads `length` bytes at `position` of an open file (fewer at its end). */
function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, position);
  return buffer.subarray(0, read);
}

/** The current image of each page a WAL overrides: page number -> file offset of its newest frame. */
function walPages(fd: number, pageSize: number): Map<number, number> {
  const pages = new Map<number, number>();
  const size = fstatSync(fd).size;
  const header = readAt(fd, 0, WAL_HEADER);
  if (header.length < WAL_HEADER) return pages;
  const salt1 = header.readUInt32BE(16);
  const salt2 = header.readUInt32BE(20);
  let pending = new Map<number, number>();
  for (let offset = WAL_HEADER; offset + FRAME_HEADER + pageSize <= size; offset += FRAME_HEADER + pageSize) {
    const frame = readAt(fd, offset, FRAME_HEADER);
    if (frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2) break;
    pending.set(frame.readUInt32BE(0), offset + FRAME_HEADER);
    // A commit frame records the database size in pages; the frames up to it are committed.
    if (frame.readUInt32BE(4) !== 0) {
      for (const [page, at] of pending) pages.set(page, at);
      pending = new Map();
    }
  }
  return pages;
}

/** Sentences naming erased bytes that may remain in the store's files; empty when none. */
export function sqliteErasureResidue(path: string, erasurePending: boolean): string[] {
  const residue: string[] = [];
  if (erasurePending) {
    residue.push(
      "an erasure's write-ahead-log truncation has not completed, so the WAL may still hold erased bytes: it finishes at the node's next expiry tick or erase (a reader on an older snapshot held it back)",
    );
  }
  // The WAL is opened first: a checkpoint between the two opens then leaves newer pages in both.
  const walPath = `${path}-wal`;
  const walFd = existsSync(walPath) ? openSync(walPath, "r") : undefined;
  const mainFd = openSync(path, "r");
  try {
    const first = readAt(mainFd, 0, 100);
    if (first.length < 100) return residue;
    const rawSize = first.readUInt16BE(16);
    const pageSize = rawSize === 1 ? 65_536 : rawSize;
    const overlay = walFd === undefined ? new Map<number, number>() : walPages(walFd, pageSize);
    const page = (n: number): Buffer | undefined => {
      const at = overlay.get(n);
      if (at !== undefined && walFd !== undefined) return readAt(walFd, at, pageSize);
      const image = n < 1 ? Buffer.alloc(0) : readAt(mainFd, (n - 1) * pageSize, pageSize);
      return image.length === pageSize ? image : undefined;
    };
    const dirty = dirtyFreePages(page, pageSize);
    if (dirty.length > 0) {
      residue.push(
        `${dirty.length} free page(s) of the database file still hold old bytes (first: page ${dirty[0]}): deleted content may remain readable; run VACUUM on the stopped node's custos.db`,
      );
    }
  } finally {
    closeSync(mainFd);
    if (walFd !== undefined) closeSync(walFd);
  }
  return residue;
}

/**
 * Free-list leaf pages holding anything but zeros. A trunk page holds page numbers only (SQLite leaves
 * stale ones past its count), so only leaves are checked.
 */
function dirtyFreePages(page: (n: number) => Buffer | undefined, pageSize: number): number[] {
  const header = page(1);
  if (header === undefined) return [];
  let trunk = header.readUInt32BE(32);
  const expected = header.readUInt32BE(36);
  let seen = 0;
  const dirty: number[] = [];
  const visited = new Set<number>();
  while (trunk !== 0 && !visited.has(trunk) && seen <= expected) {
    visited.add(trunk);
    const trunkPage = page(trunk);
    if (trunkPage === undefined) break;
    const leaves = trunkPage.readUInt32BE(4);
    if (8 + leaves * 4 > pageSize) break;
    for (let i = 0; i < leaves; i++) {
      const leaf = trunkPage.readUInt32BE(8 + i * 4);
      if (page(leaf)?.some((b) => b !== 0)) dirty.push(leaf);
    }
    seen += 1 + leaves;
    trunk = trunkPage.readUInt32BE(0);
  }
  return dirty;
}
