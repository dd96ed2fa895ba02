// The witness area's public surface: the witness (c2sp.org/tlog-witness) with its store and server,
// the node's witnessing loop and its client, and gossip between nodes and mirrors.

export { type Alert, AlertLog } from "./alerts.js";
export { GossipChecker, ledgerReference, storeReference } from "./gossip.js";
export { Gossiping } from "./gossiping.js";
export {
  countCosignatures,
  QUORUM_FILE,
  type QuorumCheckpoint,
  QuorumCheckpoints,
} from "./quorum-checkpoints.js";
export {
  checkRestoredWitness,
  type LogCheck,
  type LogSource,
  RESTORED_FILE,
  readRestoredMarker,
  writeRestoredMarker,
} from "./restore-check.js";
export type { TlsMaterial, WitnessEndpoint } from "./witness-client.js";
export { startWitnessServer } from "./witness-server.js";
export { COSIGNER_SECRET, initWitnessDir, loadCosignerKey, WitnessStore } from "./witness-store.js";
export { WITNESSED_FILE, type WitnessedCheckpoint, Witnessing } from "./witnessing.js";
