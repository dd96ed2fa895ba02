// The README's deployment block, run as written (issue 19.7): taken from README.md itself, so the test
// fails when the README drifts. Only the port (a free one instead of 8443) and the path of the binary
// change; the node runs in the background as the block says and is stopped by it.

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/deployment.js";
import { tempDir } from "../helpers/temp.js";

const README = fileURLToPath(new URL("../../README.md", import.meta.url));
const BIN = fileURLToPath(new URL("../../bin/custos.js", import.meta.url));
const root = tempDir("custos-readme-");

afterAll(() => root.cleanup());

/** The first ```sh block after the heading. */
function blockAfter(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README.md has no "${heading}" section`);
  const match = /```sh\n([\s\S]*?)```/.exec(markdown.slice(at));
  if (!match) throw new Error(`no sh block under "${heading}"`);
  return match[1]!;
}

describe("the README's deployment block", () => {
  it("runs pasted in order on a fresh machine: CA, identities, node, grant, ingest, queries", async () => {
    const block = blockAfter(readFileSync(README, "utf8"), "## A deployment on one machine");
    expect(block).toContain("127.0.0.1:8443");
    const port = await freePort();
    const gatewayPort = await freePort();
    const script = [
      "set -e",
      // If a line fails, the node still goes: the block's own last line stops it otherwise.
      "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
      block
        .replaceAll("node bin/custos.js", `node ${BIN}`)
        .replaceAll("8443", String(port))
        .replaceAll("8090", String(gatewayPort)),
    ].join("\n");
    writeFileSync(join(root.dir, "deploy.sh"), script);
    const result = spawnSync("bash", ["deploy.sh"], {
      cwd: root.dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: root.dir },
      timeout: 300_000,
    });
    const shown = `${result.stdout}\n${result.stderr}`;
    expect(result.status, shown).toBe(0);
    expect(result.stderr, shown).toBe("");
    expect(result.stdout).toContain("granted A1's access to 1 patient(s)");
    // The patient and the audit company each read the record; the patient sees who read it.
    expect(result.stdout.match(/dr\.house/g)?.length ?? 0, shown).toBeGreaterThanOrEqual(2);
    expect(result.stdout).toMatch(/custos:\/\/stmary\/auditor\/A1/);
    // The FHIR gateway's searchset, verified and decrypted on the audit company's side.
    const searchset = JSON.parse(
      result.stdout.split("\n").find((line) => line.startsWith('{"resourceType"'))!,
    );
    expect(searchset).toMatchObject({ resourceType: "Bundle", type: "searchset", total: 1 });
    expect(searchset.entry[0].resource).toMatchObject({
      resourceType: "AuditEvent",
      recorded: "2026-11-23T08:00:00.000Z",
    });
  }, 320_000);
});
