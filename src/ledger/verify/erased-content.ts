// After an erasure, nothing of the erased content may remain in the store: not its row, not a trail
// copy (checked with the copies), and, where the backend can tell, not a page of its write-ahead log
// or its free list. A mirror that never applied an erasure it copied fails here too.

import { fromHex } from "../../core/index.js";
import type { LedgerStore } from "../storage.js";
import type { Finding } from "./findings.js";

/** Hashes asked of the store per read. */
const CHUNK = 1024;

/**
 * Findings for content that erasure entries name but the store still holds (`erasedBy`: content hash
 * in hex -> index of the erasure entry naming it), and for erased bytes the backend reports it may
 * still keep outside its rows (an unfinished SQLite write-ahead-log truncation).
 */
export async function erasedContentFindings(
  store: LedgerStore,
  erasedBy: ReadonlyMap<string, number>,
  options: { readonly files: boolean },
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const hashes = [...erasedBy.keys()];
  for (let i = 0; i < hashes.length; i += CHUNK) {
    const chunk = hashes.slice(i, i + CHUNK);
    const held = await store.hasContent(chunk.map(fromHex));
    chunk.forEach((hash, j) => {
      if (!held[j]) return;
      const index = erasedBy.get(hash)!;
      findings.push({
        code: "ERASED_CONTENT_KEPT",
        message: `content that the erasure entry at ${index} names (SHA-256 ${hash.slice(0, 16)}...) is still stored: the erasure was not applied to this store`,
        firstIndex: index,
        lastIndex: index,
      });
    });
  }
  const residues = options.files ? ((await store.erasureResidue?.()) ?? []) : [];
  for (const residue of residues) {
    findings.push({ code: "ERASED_CONTENT_KEPT", message: residue });
  }
  return findings;
}
