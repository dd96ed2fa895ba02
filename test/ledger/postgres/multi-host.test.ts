// Multi-host database URLs (libpq's postgres://h1:p1,h2:p2/db?target_session_attrs=...): the parser
// (every host in order, our own parameters taken out, passwords never in messages), and host choice
// against the machine's real server: a first host that refuses connections is passed over, and a
// target_session_attrs no server matches is a retryable STORE_BUSY naming each server's state.

import { createServer } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { splitSchema } from "../../../src/ledger/data-dir.js";
import { redactUrl } from "../../../src/ledger/index.js";
import { parseDatabaseUrl } from "../../../src/ledger/postgres/connection.js";
import { PostgresStore } from "../../../src/ledger/postgres/index.js";
import { dropSchema, PG_URL, requirePostgres, testSchema } from "../../helpers/postgres.js";

/** A port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe("multi-host URLs", () => {
  it("lists every host in order, with its port, and the session kind asked for", () => {
    const endpoint = parseDatabaseUrl(
      "postgres://custos:s3cret@db1.example:5433,db2.example,[::1]:6000/logs?target_session_attrs=read-write&sslmode=disable",
    );
    expect(endpoint.hosts.map((h) => [h.host, h.port])).toEqual([
      ["db1.example", 5433],
      ["db2.example", 5432],
      ["::1", 6000],
    ]);
    expect(endpoint.target).toBe("read-write");
    expect(endpoint.where).toBe("db1.example:5433,db2.example:5432,[::1]:6000");
    // Each host's own URL keeps the user, database and other parameters, not target_session_attrs.
    expect(endpoint.hosts[1]!.url).toBe("postgres://custos:s3cret@db2.example/logs?sslmode=disable");
  });

  it("holds for any list of hosts and ports (fast-check)", () => {
    const host = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}(\.[a-z]{2,5})?$/);
    const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
    fc.assert(
      fc.property(fc.array(fc.tuple(host, port), { minLength: 1, maxLength: 5 }), (hosts) => {
        const list = hosts.map(([h, p]) => (p === undefined ? h : `${h}:${p}`)).join(",");
        const endpoint = parseDatabaseUrl(`postgresql://u@${list}/db?schema=x`);
        expect(endpoint.hosts.map((h) => [h.host, h.port])).toEqual(hosts.map(([h, p]) => [h, p ?? 5432]));
        expect(endpoint.target).toBe("any");
      }),
    );
  });

  it("refuses an unknown target_session_attrs and sslmodes that do not verify, as CONFIG", () => {
    for (const url of [
      "postgres://u@a:1,b:2/db?target_session_attrs=leader",
      "postgres://u@a:1,b:2/db?sslmode=require",
      "postgres://u@a:1,b:notaport/db",
    ]) {
      expect(() => parseDatabaseUrl(url), url).toThrow(expect.objectContaining({ code: "CONFIG" }));
    }
  });

  it("takes schema= out and redacts the password of a multi-host URL", () => {
    expect(splitSchema("postgres://u@a:1,b:2/db?target_session_attrs=read-write&schema=s1")).toEqual({
      url: "postgres://u@a:1,b:2/db?target_session_attrs=read-write",
      schema: "s1",
    });
    expect(redactUrl("postgres://u:pw@a:1,b:2/db?schema=s1")).toBe("postgres://u:***@a:1,b:2/db?schema=s1");
    expect(redactUrl("postgres://u:pw@a:1/db")).toBe("postgres://u:***@a:1/db");
  });
});

describe("choosing the server (the machine's PostgreSQL)", () => {
  let schema: string;
  let base: URL;
  let dead: number;

  beforeAll(async () => {
    await requirePostgres();
    schema = testSchema();
    base = new URL(PG_URL);
    dead = await closedPort();
  });
  afterAll(async () => {
    await dropSchema(schema);
  });

  const urlWith = (hosts: string, attrs: string) =>
    `${base.protocol}//${base.username ? `${base.username}@` : ""}${hosts}${base.pathname}?target_session_attrs=${attrs}`;

  it("passes over a host that refuses connections and writes on the read-write one", async () => {
    const url = urlWith(`127.0.0.1:${dead},${base.host}`, "read-write");
    const store = await PostgresStore.open(url, { schema, create: true });
    try {
      expect(store.serverReadOnly).toBe(false);
      // The sequencer lock is taken on a new pooled connection (on a standby this would be refused).
      expect(await store.acquireSequencerLock()).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("says STORE_BUSY, naming each server's state, when none matches (a failover in progress)", async () => {
    const url = urlWith(`127.0.0.1:${dead},${base.host}`, "standby");
    const failure = await PostgresStore.open(url, { schema }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "STORE_BUSY" });
    const message = (failure as Error).message;
    expect(message).toContain(`127.0.0.1:${dead} unreachable (ECONNREFUSED)`);
    expect(message).toContain(`${base.host} read-write`);
  });
});
