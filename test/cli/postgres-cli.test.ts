import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema, PG_URL, requirePostgres, sql } from "../helpers/postgres.js";
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
