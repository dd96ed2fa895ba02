// `npm run demo` is the README's first command: it must tell the whole story, end to end, and pass.

import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.js";
import { runCli } from "./run-cli.js";

describe("custos demo", () => {
  it("builds a deployment, serves it over mutual TLS, reads trails, and catches the attacker", () => {
    const root = tempDir("custos-demo-test-");
    try {
      const result = runCli(["demo", "--dir", root.dir, "--records", "600"]);
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const out = result.stdout;
      expect(out).toMatch(/13 identities/);
      expect(out).toMatch(/The EHR sends a week of accesses: 600 records/);
      expect(out).toMatch(
        /receipt for entry \d+: inclusion proof verified against the checkpoint of size [\d,]+, cosigned by 2 witnesses/,
      );
      for (const name of ["Alice Martin", "Bogdan Petrov", "Chiara Rossi", "Dawit Bekele", "Emma Larsen"]) {
        expect(out).toMatch(new RegExp(`${name} +\\d+ accesses`));
      }
      expect(out).toMatch(/acme-audit +3 patients/);
      expect(out).toMatch(/northwind-assurance +3 patients/);
      expect(out).toMatch(
        /acme-audit asks for Dawit Bekele \(MRN1004\), not granted: refused \(NOT_AUTHORIZED\)/,
      );
      expect(out).toMatch(/custos:\/\/stmary\/auditor\/northwind-assurance +read it/);
      expect(out).toMatch(/custos:\/\/stmary\/auditor\/acme-audit +was REFUSED \(NOT_AUTHORIZED\)/);
      // The operator's fork: both witnesses refuse and keep evidence; Alice's client refuses the copy.
      expect(out.match(/witness at https:\/\/127\.0\.0\.1:\d+ refused: (409|422)/g)).toHaveLength(2);
      expect(
        out.match(/-witness keeps the evidence: two checkpoints signed with the log's key/g),
      ).toHaveLength(2);
      expect(out).toMatch(/Alice's client refuses the copy: /);
      const entry = /the ciphertext of entry (\d+) changed/.exec(out)?.[1];
      expect(entry).toBeDefined();
      expect(out).toMatch(
        new RegExp(`\\[CONTENT_MODIFIED\\] the encrypted content of entry ${entry} was altered`),
      );
      expect(out).toMatch(
        new RegExp(`Alice's next query: REFUSED: the content of entry ${entry} was altered`),
      );
      expect(out).toMatch(/holds no patient or user ID: checked, none found/);
      expect(out).not.toMatch(/should not happen/);
    } finally {
      root.cleanup();
    }
  }, 120_000);
});
