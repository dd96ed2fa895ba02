// The mirror's public surface: the runtime behind `custos mirror` (a verified copy followed, checked
// and optionally served), the follower also used to restore a node, the mirror's read log (and its
// chain check), and the remote reference that `custos verify --against` compares a log with.

export { copyLog, type FollowOptions, type FollowResult, followOnce, parseBundle } from "./follower.js";
export { Mirror, type MirrorOptions, type MirrorServing } from "./mirror.js";
export { type MirrorServeOptions, type RunningMirrorServer, startMirrorServer } from "./mirror-server.js";
export { READ_LOG_FILE, ReadLog, type ReadLogLine, verifyReadLog } from "./read-log.js";
export { RemoteReference } from "./remote-reference.js";
export { type RestoreOptions, type RestoreWitnesses, restoreFromMirror } from "./restore.js";
export { mirrorTrailHooks } from "./trail-hooks.js";
