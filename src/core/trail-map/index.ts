export {
  formatTrailMapLine,
  parseTrailMapLine,
  TRAIL_MAP_LINE_PREFIX,
  trailMapRootOf,
} from "./checkpoint-line.js";
export {
  EMPTY_SUBTREE,
  keyBit,
  TRAIL_MAP_KEY_BYTES,
  type TrailHead,
  trailLeafHash,
  trailNodeHash,
} from "./hashing.js";
export {
  decodeTrailMapProof,
  encodeTrailMapProof,
  type TrailMapProof,
  type TrailMapTerminal,
  type TrailMapVerdict,
  verifyTrailMapProof,
} from "./proof.js";
export {
  LEAF_RECORD_BYTES,
  type LeafCopy,
  leafRecordsOf,
  type PastTrailMap,
  TrailMap,
} from "./trail-map.js";
