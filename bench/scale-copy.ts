// Copies a kept log of the scale benchmark from PostgreSQL into a new SQLite directory (the copy step
// of `custos migrate-store`, without its verify before and after, which the benchmark times on its
// own), so both backends' queries and verify can be measured on the very same 10M-entry log when
// there is no time to seal it twice. Prints one JSON line; the directory is kept.
//
//   node --import tsx bench/scale-copy.ts <schema>
//   CUSTOS_SCALE_REUSE=<printed directory> node --expose-gc --import tsx bench/scale-run.ts sqlite ...

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyStore } from "../src/ledger/migrate-store.js";
import { PostgresStore } from "../src/ledger/postgres/index.js";
import { SqliteStore } from "../src/ledger/sqlite/sqlite-store.js";

const schema = process.argv[2];
if (schema === undefined) throw new Error("usage: scale-copy.ts <schema of a kept PostgreSQL scale log>");
const pgUrl = process.env.CUSTOS_PG_URL ?? "postgres://root@127.0.0.1:5432/test";
const dir = mkdtempSync(join(tmpdir(), "custos-scale-"));
const source = await PostgresStore.open(pgUrl, { schema, readonly: true });
const target = SqliteStore.open(dir, { create: true });
const started = performance.now();
try {
  const { size } = await copyStore(source, target, (copied, total) => {
    if (copied % 1_000_000 < 10_000) process.stderr.write(`copied ${copied} / ${total}\n`);
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ from: schema, to: dir, entries: size, seconds }));
} finally {
  await source.close();
  await target.close();
}
