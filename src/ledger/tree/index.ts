export { foldPerfect, hashAt, subtreeFromTile, tileSliceFor, tileWidth } from "./tile-math.js";
export { joinHashes, TreeBuilder } from "./tree-builder.js";
export { TreeReader } from "./tree-reader.js";
