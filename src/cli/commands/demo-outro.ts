// The end of the demo's story: what to try next with the files it left, and with --serve, where the
// browser portal is and which bundles to sign in with.

import { join } from "node:path";
import type { RunningServer } from "../../node/index.js";
import type { Io } from "../io.js";
import { DEMO_PASSPHRASE } from "./demo-data.js";

/** Commands to run against the demo's files (the node, the bundles). */
export function printExploreFurther(io: Io, root: string, data: string, masterKeyFile: string): void {
  io.out("\nExplore further:");
  const env = `CUSTOS_BUNDLE_PASSPHRASE='${DEMO_PASSPHRASE}'`;
  io.out(`   node bin/custos.js verify --data ${data}`);
  io.out(
    `   ${env} node bin/custos.js serve --data ${data} --master-key-file ${masterKeyFile} --identity ${join(root, "node-1.custos-id")} --listen 127.0.0.1:8443 --portal 127.0.0.1:8444`,
  );
  io.out(
    `   ${env} node bin/custos.js query --server https://127.0.0.1:8443 --as ${join(root, "MRN1002.custos-id")}`,
  );
  io.out(
    `   ${env} node bin/custos.js query --server https://127.0.0.1:8443 --as ${join(root, "northwind-assurance.custos-id")} --emergency`,
  );
  io.out(
    `   ${env} node bin/custos.js query-history --server https://127.0.0.1:8443 --as ${join(root, "MRN1003.custos-id")}`,
  );
}

/** Where the portal serves (its certificate's fingerprint) and the bundles to sign in with. */
export function printPortalInvitation(
  io: Io,
  root: string,
  server: RunningServer & { readonly portal: { readonly host: string; readonly port: number } },
): void {
  const bundle = (id: string) => join(root, `${id}.custos-id`);
  io.out(
    "\nThe browser portal is up (patients' and audit companies' view, verified and decrypted in the page):",
  );
  io.out(`   https://${server.portal.host}:${server.portal.port}/`);
  io.out(
    `   its certificate is self-signed; check its SHA-256 SPKI fingerprint: ${server.portalCertificate?.fingerprint ?? "(operator certificate)"}`,
  );
  io.out(`   sign in with one of these bundle files, passphrase "${DEMO_PASSPHRASE}":`);
  io.out(`     ${bundle("MRN1002")}   Bogdan, a patient`);
  io.out(`     ${bundle("MRN1001")}   Alice, whose trail holds the entry the attacker edited`);
  io.out(`     ${bundle("acme-audit")}   an audit company (Alice, Bogdan, Chiara)`);
  io.out(`     ${bundle("northwind-assurance")}   an audit company (Chiara, Dawit, Emma)`);
  io.out(`   the API (mutual TLS): https://${server.api.host}:${server.api.port}`);
}
