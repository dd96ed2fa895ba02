// The trail map's root travels in the checkpoint as a C2SP tlog-checkpoint extension line, so the
// log's signature and every witness's cosignature cover it without the witnesses knowing what it is:
// `custos-trail-map/v1 <base64 root>`.

import { fromBase64, toBase64 } from "../bytes.js";
import { CustosError } from "../errors.js";

export const TRAIL_MAP_LINE_PREFIX = "custos-trail-map/v1 ";

export function formatTrailMapLine(root: Uint8Array): string {
  if (root.length !== 32) throw new CustosError("BAD_ARGUMENT", "a trail map root is 32 bytes");
  return `${TRAIL_MAP_LINE_PREFIX}${toBase64(root)}`;
}

/** The root in one extension line; undefined when the line is another extension. */
export function parseTrailMapLine(line: string): Uint8Array | undefined {
  if (!line.startsWith(TRAIL_MAP_LINE_PREFIX)) return undefined;
  let root: Uint8Array;
  try {
    root = fromBase64(line.slice(TRAIL_MAP_LINE_PREFIX.length));
  } catch {
    throw new CustosError("BAD_CHECKPOINT", "the trail map line does not hold base64");
  }
  if (root.length !== 32) throw new CustosError("BAD_CHECKPOINT", "the trail map root is not 32 bytes");
  return root;
}

/** The trail map root a checkpoint's extension lines commit to; undefined if none (an older log). */
export function trailMapRootOf(extensions: readonly string[]): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  for (const line of extensions) {
    const root = parseTrailMapLine(line);
    if (root === undefined) continue;
    if (found !== undefined)
      throw new CustosError("BAD_CHECKPOINT", "the checkpoint has two trail map lines");
    found = root;
  }
  return found;
}
