// A writer process for the crash test: appends entries as fast as group commit allows and prints
// each acknowledged index with its leaf hash, until it is killed. Uses the built package (dist/).

import { encodeDataEntry } from "../../dist/core/entry/index.js";
import { Ledger } from "../../dist/ledger/ledger.js";
import { PostgresStore } from "../../dist/ledger/postgres/index.js";
import { SqliteStore } from "../../dist/ledger/sqlite/sqlite-store.js";

const [backend, location, schema, signerKey] = process.argv.slice(2);
const store =
  backend === "postgres" ? await PostgresStore.open(location, { schema }) : SqliteStore.open(location);
if (backend === "postgres") await store.acquireSequencerLock();
const ledger = await Ledger.open(store, { signerKey, checkpointIntervalMs: 20 });
let next = 0;
const worker = async (id) => {
  for (;;) {
    const n = next++;
    const entry = encodeDataEntry(new TextEncoder().encode(`crash entry ${id}/${n}`));
    const result = await ledger.appendOne({ entry });
    process.stdout.write(`ack ${result.index} ${Buffer.from(result.leafHash).toString("hex")}\n`);
  }
};
await Promise.all(Array.from({ length: 32 }, (_, id) => worker(id)));
