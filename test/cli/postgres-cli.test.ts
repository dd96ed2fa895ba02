import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema, PG_URL, requirePostgres, sql, testSchema } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp.js";
import { runCli } from "./run-cli.js";

// The CLI keeps a log in the PostgreSQL schema "custos"; this test owns that schema in the test database.
let root: { dir: string; cleanup: () => void };
const schema = "custos";
const env = { CUSTOS_MASTER_KEY: Buffer.alloc(32, 8).toString("base64"), CUSTOS_DB_URL: PG_URL };

beforeAll(async () => {
  await requirePostgres();
  await dropSchema(schema);
  root = tempDir("custos-pg-cli-");
});
afterAll(async () => {
  await dropSchema(schema);
  root.cleanup();
});

describe("the CLI with the log in PostgreSQL", () => {
  it("creates, appends, proves and verifies a log kept in PostgreSQL, and catches an edited row", async () => {
    const data = join(root.dir, "node");
    expect(runCli(["db", "migrate"], { env }).stdout).toContain('schema "custos"');
    const init = runCli(["log", "init", "--data", data, "--origin", "pg-cli.custos.example/log"], { env });
    expect(init.stderr).toBe("");
    expect(init.status).toBe(0);
    const append = runCli(["log", "append", "--data", data], { env, input: "one\ntwo\nthree\n" });
    expect(append.stdout.trim().split("\n")).toEqual(["0", "1", "2"]);
    expect(runCli(["log", "prove", "--data", data, "--index", "1"], { env }).stdout).toMatch(
      /^c2sp.org\/tlog-proof@v1\nindex 1\n/,
    );
    expect(runCli(["verify", "--data", data], { env }).stdout).toContain("OK: no tampering found");
    await sql(`UPDATE "${schema}".entries SET data = data || '\\x00'::bytea WHERE idx = 2`);
    const tampered = runCli(["verify", "--data", data, "--json"], { env });
    expect(tampered.status).toBe(1);
    expect(JSON.parse(tampered.stdout).findings[0]).toMatchObject({ code: "ENTRY_MODIFIED", firstIndex: 2 });
  });
});

describe("db migrate with the schema in the URL", () => {
  it("creates the schema named by ?schema= (as every command reads it), and refuses a --schema that disagrees", async () => {
    const other = testSchema();
    try {
      const url = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${other}`;
      const migrated = runCli(["db", "migrate", "--db", url], { env });
      expect(migrated.stdout).toContain(`schema "${other}"`);
      const tables = await sql("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1", [other]);
      expect(tables.rows[0].n).toBeGreaterThan(0);
      const clash = runCli(["db", "migrate", "--db", url, "--schema", "elsewhere"], { env });
      expect(clash.status).toBe(2);
      expect(clash.stderr).toMatch(/^error: --schema elsewhere and the URL's schema=.* disagree/);
    } finally {
      await dropSchema(other);
    }
  });
});

describe("moving a log from SQLite to PostgreSQL", () => {
  it("copies entries, encrypted content and keys, proves the root, and the node works on the copy", async () => {
    await dropSchema(schema);
    const data = join(root.dir, "moving");
    const local = { ...env, CUSTOS_DB_URL: "", CUSTOS_BUNDLE_PASSPHRASE: "bundle passphrase 2" };
    const run = (args: string[], input?: string, extra: NodeJS.ProcessEnv = local) => {
      const result = runCli(args, { env: extra, ...(input !== undefined ? { input } : {}) });
      expect(result.stderr, args.join(" ")).toBe("");
      expect(result.status, args.join(" ")).toBe(0);
      return result.stdout;
    };
    run(["log", "init", "--data", data, "--origin", "moving.custos.example/log"]);
    const patientKey = join(root.dir, "p9.custos-id");
    run(["ca", "init", "--data", data, "--deployment", "moving"]);
    run(["enroll", "--data", data, "--role", "patient", "--id", "P9", "--out", patientKey]);
    run([
      "enroll",
      "--data",
      data,
      "--role",
      "custodian",
      "--id",
      "C",
      "--out",
      join(root.dir, "c.custos-id"),
    ]);
    const records = Array.from({ length: 25 }, (_, i) =>
      JSON.stringify({
        time: `2026-11-23T08:${String(i).padStart(2, "0")}:00Z`,
        patientId: "P9",
        userId: `u${i}`,
        action: "query",
        sourceEventId: `m${i}`,
      }),
    ).join("\n");
    run(["ingest", "-", "--data", data, "--source", "ehr"], records);

    const moved = run(["migrate-store", "--from", `sqlite:${data}`, "--to", PG_URL]);
    expect(moved).toMatch(
      /moved \d+ entries, \d+ content items and \d+ checkpoints; the copy reproduces the signed root/,
    );
    // The move is an operator action in the moved log.
    expect(moved).toMatch(/the move is recorded in the moved log as entry \d+/);

    // The copy was vacuumed and analyzed after the load (statistics and visibility map at once).
    const stats = await sql(
      `SELECT relname, last_vacuum, last_analyze FROM pg_stat_user_tables WHERE schemaname = $1 AND relname IN ('entries', 'contents', 'lookup')`,
      [schema],
    );
    expect(stats.rows).toHaveLength(3);
    for (const row of stats.rows) {
      expect(row.last_vacuum).not.toBeNull();
      expect(row.last_analyze).not.toBeNull();
    }

    const onPg = { ...local, CUSTOS_DB_URL: PG_URL };
    expect(run(["verify", "--data", data], undefined, onPg)).toContain("OK: no tampering found");
    const trail = JSON.parse(
      run(["read", "--data", data, "--patient", "P9", "--as", patientKey, "--json"], undefined, onPg),
    );
    expect(trail.records).toHaveLength(25);
    // Replays are still recognised on the copy: the idempotency keys moved too.
    expect(run(["ingest", "-", "--data", data, "--source", "ehr"], records.split("\n")[0], onPg)).toContain(
      "1 already present",
    );
    const again = runCli(["migrate-store", "--from", `sqlite:${data}`, "--to", PG_URL], { env: local });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^error: the target already holds a log/);
  }, 240_000);
});
