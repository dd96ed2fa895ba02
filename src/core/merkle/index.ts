export { CompactRange } from "./compact-range.js";
export { EMPTY_ROOT, emptyRoot, HASH_SIZE, leafHash, nodeHash } from "./hashing.js";
export { consistencyProof, inclusionProof, rootFromLeafHashes } from "./in-memory.js";
export {
  assembleProof,
  foldSubtrees,
  type ProofPlan,
  planConsistencyProof,
  planInclusionProof,
  planRangeHash,
  type SubtreeRef,
  uniqueRefs,
} from "./proof-plan.js";
export { isPowerOfTwo, splitPoint, toSafeCount } from "./tree-math.js";
export { verifyConsistency, verifyInclusion } from "./verify.js";
