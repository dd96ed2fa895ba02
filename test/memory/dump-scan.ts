// What an intruder does with a process's memory: every 32-byte window of a core dump (or heap
// snapshot) tried as (a) an epoch data key and (b) an X25519 private key. Used by the intruder test
// (test/memory/intruder.test.ts, a small dump) and by `npm run bench -- memory` (a large one).
//
// (a) is exhaustive. A window opens a record sealed under AES-256-GCM only if it equals the record's
// key (a wrong key passes the 128-bit tag with probability 2^-128 per try), so trying every window
// against every record is the same as searching the dump for each key's exact bytes, which
// Buffer.indexOf does at memory speed. The test learns the keys as a reader does (the custodian's
// bundle opens every envelope), and so counts precisely which keys the dump still holds.
//
// (b) is not exhaustive: an X25519 scalar multiplication per window (tens of millions of windows) is
// too slow for CI. A window is tried only if (1) it lies in a writable mapping of the process (keys
// are made at run time; read-only and executable mappings hold files and code), (2) its address is
// 8-byte aligned (malloc, which OpenSSL allocates keys with, returns 16-byte aligned blocks; V8 and
// Node's Buffer pool align to 8) and (3) it holds at least MIN_DISTINCT distinct byte values (a uniformly
// random 32-byte key has fewer than 24 with probability 1.3e-5). Identical windows are tried once.
// A key stored unaligned, or split, escapes (b); a key that survives in full at an aligned address
// does not. The test plants such a key in a copy of the dump to show the search finds it.

import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey, diffieHellman } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";

export const MIN_DISTINCT = 24;
export const WINDOW = 32;

export interface Region {
  /** Where the region starts in the file. */
  readonly offset: number;
  readonly size: number;
  /** Its virtual address in the process (0 for a file that is not a core dump). */
  readonly address: bigint;
  readonly writable: boolean;
  /** What is mapped there (a file's path, [heap], [stack]); empty for anonymous memory. */
  readonly name: string;
}

/**
 * What gcore takes, read with gdb (ptrace) as gcore does: every readable mapping of a live process
 * (`dump binary memory` per mapping of /proc/PID/maps), concatenated, with each mapping's address and
 * permissions. Unlike gcore, mappings the process itself cannot read (PROT_NONE address-space
 * reservations: V8 reserves 10 GiB for WebAssembly guard regions, which gcore writes out as zeros)
 * are left out, so a small node's dump takes seconds instead of minutes; they hold nothing.
 */
export function dumpProcess(pid: number, workDir: string): { dump: Buffer; regions: Region[] } {
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .map((line) => /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && m[3]![0] === "r")
    // [vvar] and [vsyscall] cannot be read through ptrace; they are the kernel's, not the process's.
    .filter((m) => !/\[(vvar|vsyscall)\]/.test(m.input));
  mkdirSync(workDir, { recursive: true });
  const args = ["--nx", "--batch", "-ex", "set pagination off", "-ex", `attach ${pid}`];
  for (const [i, m] of maps.entries())
    args.push("-ex", `dump binary memory ${join(workDir, String(i))} 0x${m[1]} 0x${m[2]}`);
  args.push("-ex", "detach", "-ex", "quit");
  const gdb = spawnSync("gdb", args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (gdb.status !== 0) throw new Error(`gdb failed (${gdb.status}): ${gdb.stderr}`);
  const parts: Buffer[] = [];
  const regions: Region[] = [];
  let offset = 0;
  maps.forEach((m, i) => {
    const file = join(workDir, String(i));
    // A mapping that went away between reading the maps and attaching is simply not there.
    if (!existsSync(file)) return;
    const bytes = readFileSync(file);
    rmSync(file);
    parts.push(bytes);
    regions.push({
      offset,
      size: bytes.length,
      address: BigInt(`0x${m[1]}`),
      writable: m[3]![1] === "w",
      name: m[4] ?? "",
    });
    offset += bytes.length;
  });
  return { dump: Buffer.concat(parts), regions };
}

export interface Needle {
  readonly label: string;
  readonly bytes: Uint8Array;
}

/** Every place each needle's exact bytes occur in the regions (file offsets). */
export function findExact(
  dump: Buffer,
  regions: readonly Region[],
  needles: readonly Needle[],
): { label: string; offset: number }[] {
  const found: { label: string; offset: number }[] = [];
  for (const needle of needles) {
    for (const region of regions) {
      const part = dump.subarray(region.offset, region.offset + region.size);
      for (let at = part.indexOf(needle.bytes); at !== -1; at = part.indexOf(needle.bytes, at + 1)) {
        found.push({ label: needle.label, offset: region.offset + at });
      }
    }
  }
  return found;
}

/**
 * The windows (b) tries: in writable regions, at 8-byte aligned addresses, with at least MIN_DISTINCT
 * distinct byte values, each distinct window once (keyed by its hex). Returns window -> first offset.
 */
export function x25519Candidates(dump: Buffer, regions: readonly Region[]): Map<string, number> {
  const out = new Map<string, number>();
  // seen[b] === stamp: byte b occurred in the current window (a new stamp per window, no clearing).
  const seen = new Uint32Array(256);
  let stamp = 0;
  for (const region of regions) {
    if (!region.writable || region.size < WINDOW) continue;
    // The first aligned window of the region.
    const skew = Number((8n - (region.address % 8n)) % 8n);
    const end = region.offset + region.size - WINDOW;
    for (let at = region.offset + skew; at <= end; at += 8) {
      let distinct = 0;
      stamp++;
      for (let i = 0; i < WINDOW; i++) {
        const b = dump[at + i]!;
        if (seen[b] !== stamp) {
          seen[b] = stamp;
          distinct++;
        }
      }
      if (distinct < MIN_DISTINCT) continue;
      const key = dump.toString("hex", at, at + WINDOW);
      if (!out.has(key)) out.set(key, at);
    }
  }
  return out;
}

// X25519(k, 9), the public key of a raw private key, in a worker thread per core. A test tool: speed
// over hygiene (JWK import is several times faster than PKCS#8 DER through OpenSSL 3's decoders).
const PUBLIC_OF_SOURCE = `
const { createPrivateKey } = require("node:crypto");
const { parentPort, workerData } = require("node:worker_threads");
const nine = "CQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const targets = new Set(workerData.targets);
const found = [];
for (const hex of workerData.windows) {
  const d = Buffer.from(hex, "hex").toString("base64url");
  // OpenSSL computes the public half when it imports a raw private key; the export only reads it.
  const privateKey = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: nine }, format: "jwk" });
  const pub = Buffer.from(privateKey.export({ format: "jwk" }).x, "base64url").toString("hex");
  if (targets.has(pub)) found.push([pub, hex]);
}
parentPort.postMessage(found);
`;

/** X25519(k, 9) of one raw private key (hex), on this thread. */
export function x25519PublicOf(privateHex: string): Buffer {
  const nine = "CQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  const base = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: nine }, format: "jwk" });
  const d = Buffer.from(privateHex, "hex").toString("base64url");
  const privateKey = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: nine }, format: "jwk" });
  return diffieHellman({ privateKey, publicKey: base });
}

/**
 * (b): the candidates (hex window -> where) whose public key is one of `targets` (hex of envelopes'
 * `enc`). Returns the matches (target hex -> where the private key was) and how many were tried.
 */
export async function matchX25519<T>(
  candidates: ReadonlyMap<string, T>,
  targets: ReadonlySet<string>,
  threads = Math.max(1, Math.min(4, availableParallelism())),
): Promise<{ matches: Map<string, T>; tried: number }> {
  const windows = [...candidates.keys()];
  const share = Math.ceil(windows.length / threads);
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, i) => {
      const worker = new Worker(PUBLIC_OF_SOURCE, {
        eval: true,
        workerData: { windows: windows.slice(i * share, (i + 1) * share), targets: [...targets] },
      });
      return new Promise<[string, string][]>((resolve, reject) => {
        worker.once("message", (found: [string, string][]) => {
          resolve(found);
          void worker.terminate();
        });
        worker.once("error", reject);
      });
    }),
  );
  const matches = new Map<string, T>();
  for (const [pub, hex] of parts.flat()) matches.set(pub, candidates.get(hex)!);
  return { matches, tried: windows.length };
}

/**
 * The strings of a V8 heap snapshot that could be a 32-byte key: 32 one-byte characters (raw bytes),
 * or 64 hex digits, or 43/44 base64 or base64url characters decoding to 32 bytes. Heap snapshots
 * hold strings, not the bytes of ArrayBuffers, so a key can only be there as such a string.
 * Returns key hex -> the string's index in the snapshot's string table.
 */
export function snapshotKeyStrings(snapshot: Buffer): Map<string, number> {
  const { strings } = JSON.parse(snapshot.toString("utf8")) as { strings: string[] };
  const out = new Map<string, number>();
  const add = (bytes: Buffer, i: number) => {
    if (bytes.length === WINDOW && !out.has(bytes.toString("hex"))) out.set(bytes.toString("hex"), i);
  };
  strings.forEach((s, i) => {
    // A string may be a longer text holding an encoded key (a JWK, a log line): every token counts.
    for (const token of s.match(/[0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?/g) ?? []) {
      if (/^[0-9a-fA-F]{64}$/.test(token)) add(Buffer.from(token, "hex"), i);
      add(
        Buffer.from(
          token.replace(/=$/, ""),
          token.includes("+") || token.includes("/") ? "base64" : "base64url",
        ),
        i,
      );
    }
    if (s.length === WINDOW && [...s].every((ch) => ch.charCodeAt(0) < 256)) add(Buffer.from(s, "latin1"), i);
  });
  return out;
}
