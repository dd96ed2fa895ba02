// `custos keys audit`: the key audit (docs/identity.md "Key audit") from a running node (`--server
// URL --as ADMIN`) or offline from a data directory (`--data`), page after page to the log's end.

import type { Command } from "commander";
import { KEY_AUDIT_KINDS, type KeyAuditKind, keyAudit } from "../../identity/index.js";
import { UsageError } from "../errors.js";
import type { Io } from "../io.js";
import { DATA, DB, MASTER, parseTime } from "../options.js";
import { adminClient, type RemoteAdminOptions } from "./admin-remote.js";
import { type VaultOptions, withDeployment } from "./records.js";

interface AuditOptions extends VaultOptions, RemoteAdminOptions {
  party?: string;
  from?: string;
  to?: string;
  kind?: string[];
  json?: boolean;
}

interface Line {
  readonly index: number;
  readonly kind: KeyAuditKind;
  readonly time: string;
  readonly timeFrom: "entry" | "checkpoint";
  readonly parties: readonly string[];
  readonly detail: string;
}

type Page = { readonly events: readonly Line[]; readonly next?: number };

export function registerKeyAuditCommand(keys: Command, io: Io): void {
  keys
    .command("audit")
    .description(
      "the key audit: enrollments, revocations, grants, key envelopes, erasures, operator actions and legal holds, in log order",
    )
    .option("--server <url>", "a running node (https://host:port), with --as", process.env.CUSTOS_SERVER)
    .option("--as <bundle>", "an admin's identity bundle (with --server)")
    .option("--passphrase-file <file>", "the bundle passphrase (default: CUSTOS_BUNDLE_PASSPHRASE)")
    .option(...DATA)
    .option(...DB)
    .option(...MASTER)
    .option("--party <role/id>", "only what concerns this party, e.g. auditor/A1 or patient/P001")
    .option("--from <time>", "only events at or after this ISO 8601 date or time")
    .option("--to <time>", "only events at or before this ISO 8601 date or time")
    .option("--kind <kind...>", `only these kinds (${KEY_AUDIT_KINDS.join(", ")})`)
    .option("--json", "print one JSON object per event (NDJSON)")
    .action(async (options: AuditOptions) => {
      const from = parseTime(options.from, "--from");
      const to = parseTime(options.to, "--to");
      for (const kind of options.kind ?? [])
        if (!(KEY_AUDIT_KINDS as readonly string[]).includes(kind))
          throw new UsageError(`--kind must be one of ${KEY_AUDIT_KINDS.join(", ")}, got "${kind}"`);
      if (options.party !== undefined && !/^[a-z-]+\/[^/]+$/.test(options.party))
        throw new UsageError(`--party is ROLE/ID, e.g. auditor/A1, got "${options.party}"`);
      const kinds = options.kind ? new Set(options.kind) : undefined;
      let shown = 0;
      const print = (page: Page) => {
        for (const event of page.events) {
          if (kinds && !kinds.has(event.kind)) continue;
          shown++;
          if (options.json) io.out(JSON.stringify(event));
          else
            io.out(
              `${String(event.index).padStart(8)}  ${event.timeFrom === "checkpoint" ? `${event.time.slice(0, 13)}h` : event.time.slice(0, 19)}  ${event.kind.padEnd(15)} ${event.detail}`,
            );
        }
      };
      const query = {
        ...(options.party !== undefined ? { party: options.party } : {}),
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
      };
      if (options.server && !options.data) {
        const admin = adminClient(options);
        let after: number | undefined;
        do {
          const page = await admin.keyAudit({
            ...(options.party !== undefined ? { party: options.party } : {}),
            ...(from !== undefined ? { from: new Date(from).toISOString() } : {}),
            ...(to !== undefined ? { to: new Date(to).toISOString() } : {}),
            ...(after !== undefined ? { after } : {}),
            limit: 1000,
          });
          print(page);
          after = page.next;
        } while (after !== undefined);
      } else {
        if (options.server) throw new UsageError("give --server or --data, not both");
        await withDeployment(options, async (d) => {
          const ctx = {
            store: d.vault.ledger.store,
            registry: d.registry,
            patientTag: (id: string) => d.vault.patientTag(id),
          };
          let after: number | undefined;
          do {
            const page = await keyAudit(ctx, {
              ...query,
              ...(after !== undefined ? { after } : {}),
              limit: 1000,
            });
            print({
              events: page.events.map((e) => ({ ...e, time: new Date(e.time).toISOString() })),
            });
            after = page.next;
          } while (after !== undefined);
        });
      }
      if (!options.json) io.err(`${shown} event${shown === 1 ? "" : "s"}`);
    });
}
