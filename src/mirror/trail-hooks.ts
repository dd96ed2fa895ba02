// The mirror's side of the shared trail routes (service/routes/trail-routes.ts): from its verified
// copy a patient's own tag comes from the registry entry enrolled with the key of the certificate they
// present and an audit company's patients from the grants in the log; any other patient ID it cannot
// turn into a tag (it holds no blind-index key), so the routes refuse it with NO_BLIND_INDEX. Reads go
// to its read log, since only the sequencer appends to the log.

import type { Registry, RegistryDirectory } from "../identity/index.js";
import type { TrailHooks } from "../service/index.js";
import { tagOfSubject } from "../service/index.js";
import type { ReadLog } from "./read-log.js";

export function mirrorTrailHooks(
  registry: Registry,
  directory: RegistryDirectory,
  readLog: ReadLog,
): TrailHooks {
  return {
    registry,
    directory,
    patientTag: (patientId, caller) =>
      caller.role === "patient" && patientId === caller.id && caller.subject.startsWith("tag:")
        ? tagOfSubject(caller.subject)
        : undefined,
    recordRead: async (notice, tag, at) => readLog.record("query", at, tag, notice),
  };
}
