// A node killed (kill -9) after acknowledging records that no checkpoint covers yet, then restarted on
// its store, signs a checkpoint covering the whole store before it serves: its first readiness answer
// is 200, and every acknowledged index has a receipt at once, with no new traffic. SQLite and
// PostgreSQL. Checkpoints are set an hour apart so that nothing acknowledged is covered before the kill.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MtlsClient } from "../../src/client/mtls-client.js";
import { openCheckpoint } from "../../src/core/checkpoint/index.js";
import { Identity, type IdentityBundle } from "../../src/identity/bundle.js";
import { SqliteStore } from "../../src/ledger/sqlite/sqlite-store.js";
import { createTestDeployment, freePort, PASS, type TestDeployment } from "../helpers/deployment.js";
import {
  dropSchema,
  enrollPostgresDeployment,
  PG_URL,
  requirePostgres,
  sql,
  testSchema,
} from "../helpers/postgres.js";
import { processGroup } from "../helpers/processes.js";
import { tempDir } from "../helpers/temp.js";

const group = processGroup();

afterAll(async () => {
  await group.killAll();
});

interface Setup {
  readonly data: string;
  readonly masterKey: string;
  readonly extra: readonly string[];
  readonly identity: (id: string) => Identity;
  readonly identityFile: (id: string) => string;
  /** The size of the latest checkpoint in the store. */
  readonly checkpointSize: () => Promise<number>;
}

function record(i: number) {
  return {
    time: "2026-11-23T08:00:00Z",
    patientId: `P${i % 3}`,
    userId: `u${i}`,
    action: "query",
    sourceEventId: `restart-${i}`,
  };
}

async function killAndRestart(setup: Setup): Promise<void> {
  const port = await freePort();
  const args = [
    "serve",
    "--data",
    setup.data,
    ...setup.extra,
    "--identity",
    setup.identityFile("n1"),
    "--listen",
    `127.0.0.1:${port}`,
    "--verify-every",
    "0",
    "--checkpoint-every",
    "3600s",
  ];
  const env = { PATH: process.env.PATH, CUSTOS_MASTER_KEY: setup.masterKey, CUSTOS_BUNDLE_PASSPHRASE: PASS };
  const url = `https://127.0.0.1:${port}`;
  const emr = new MtlsClient(url, setup.identity("emr"));

  const first = group.start("node", args, env);
  await first.waitFor("API (mutual TLS)", 60_000);
  const acked: number[] = [];
  for (let batch = 0; batch < 3; batch++) {
    const reply = await emr.call<{ records: { index: number }[] }>(
      "POST",
      "/v1/records",
      [0, 1, 2, 3].map((i) => record(batch * 4 + i)),
    );
    acked.push(...reply.records.map((r) => r.index));
  }
  await first.kill("SIGKILL");
  const newest = Math.max(...acked);
  // Nothing acknowledged is covered yet: otherwise this test would prove nothing.
  expect(await setup.checkpointSize()).toBeLessThanOrEqual(newest);

  const second = group.start("node again", args, env);
  await second.waitFor("API (mutual TLS)", 60_000);
  // No retries and no new records: the first answers after the restart must already be right.
  const ready = await emr.call<{ status: string; checks: Record<string, string> }>("GET", "/v1/ready");
  expect(ready).toMatchObject({ status: "ok", checks: { checkpoint: "ok" } });
  for (const index of acked) {
    const receipt = await emr.call<{ index: number; checkpoint: string }>("GET", `/v1/receipt/${index}`);
    expect(receipt.index).toBe(index);
  }
  const log = await emr.call<{ verifierKey: string }>("GET", "/v1/log");
  const note = await emr.call<string>("GET", "/v1/checkpoint");
  expect(openCheckpoint(note, log.verifierKey).checkpoint.size).toBeGreaterThan(newest);
  expect(await setup.checkpointSize()).toBeGreaterThan(newest);
  await second.kill("SIGTERM");
}

describe("a node restarted after kill -9 signs a checkpoint over its whole store before it serves", () => {
  it("on SQLite", async () => {
    const env: TestDeployment = await createTestDeployment({
      people: [
        ["node", "n1"],
        ["ehr-source", "emr"],
        ["custodian", "privacy"],
        ["patient", "P0"],
        ["patient", "P1"],
        ["patient", "P2"],
      ],
    });
    try {
      await killAndRestart({
        data: env.data,
        masterKey: env.masterKey,
        extra: [],
        identity: (id) =>
          env.identity([...env.bundles.keys()].find((key) => key.endsWith(`/${id}`)) ?? `unknown/${id}`),
        identityFile: (id) => join(env.root, `${id}.custos-id`),
        checkpointSize: async () => {
          const store = SqliteStore.open(env.data, { readonly: true });
          try {
            return (await store.getLatestCheckpoint())?.size ?? 0;
          } finally {
            await store.close();
          }
        },
      });
    } finally {
      await env.cleanup();
    }
  }, 180_000);

  describe("on PostgreSQL", () => {
    let root: { dir: string; cleanup: () => void };
    let schema: string;
    const masterKey = Buffer.alloc(32, 41).toString("base64");
    const bundles = new Map<string, IdentityBundle>();

    beforeAll(async () => {
      await requirePostgres();
      root = tempDir("custos-restart-pg-");
      schema = testSchema();
      const deployment = await enrollPostgresDeployment(
        root.dir,
        `${PG_URL}?schema=${schema}`,
        "restart.custos.example/log",
        masterKey,
        [
          ["node", "n1"],
          ["ehr-source", "emr"],
          ["custodian", "privacy"],
          ["patient", "P0"],
          ["patient", "P1"],
          ["patient", "P2"],
        ] as const,
        bundles,
      );
      await deployment.close();
    }, 60_000);

    afterAll(async () => {
      await dropSchema(schema);
      root?.cleanup();
    });

    it("after kill -9 of its only node", async () => {
      await killAndRestart({
        data: join(root.dir, "data"),
        masterKey,
        extra: ["--db", `${PG_URL}?schema=${schema}`],
        identity: (id) => Identity.unlock(bundles.get(id)!, PASS),
        identityFile: (id) => join(root.dir, `${id}.custos-id`),
        checkpointSize: async () => {
          const result = await sql(`SELECT max(size) AS size FROM "${schema}".checkpoints`);
          return Number(result.rows[0]?.size ?? 0);
        },
      });
    }, 180_000);
  });
});
