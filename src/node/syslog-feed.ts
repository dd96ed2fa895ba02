// Wires the ATNA syslog feed (src/atna) into `custos serve`: the API port's mutual TLS and CA, the
// same caller check and authorization as POST /v1/records (an EHR source, in its own name), the same
// sealing and append path (vault.ingest), and its counters on /metrics.

import type { TlsOptions } from "node:tls";
import { type FrameResult, type SyslogFeed, startSyslogFeed } from "../atna/index.js";
import type { Deployment } from "../identity/index.js";
import type { ServiceContext } from "../service/index.js";
import { Counter, type Metrics, socketCallers } from "../service/index.js";

export async function startNodeSyslogFeed(options: {
  readonly listen: { readonly host: string; readonly port: number };
  readonly deployment: Deployment;
  readonly ctx: Pick<ServiceContext, "allow" | "now">;
  readonly tls: () => TlsOptions;
  readonly metrics: Metrics;
  readonly log: (message: string, fields: Readonly<Record<string, string | number>>) => void;
}): Promise<SyslogFeed> {
  const { deployment, ctx, metrics } = options;
  const frames = metrics.registry.add(
    new Counter<"result">(
      "custos_syslog_frames_total",
      "Syslog (ATNA) frames received, by result: stored, security-event, oversize, bad-syslog, bad-message.",
      ["result"],
    ),
  );
  const connections = metrics.registry.add(
    new Counter<"result">(
      "custos_syslog_connections_total",
      "Syslog (ATNA) connections, by result: accepted, refused (certificate or role), bad-framing (closed).",
      ["result"],
    ),
  );
  const callerOf = socketCallers(
    deployment.anchor,
    (principal) => deployment.subjectOf(principal.role, principal.id),
    ctx.now,
  );
  const allowed = async (socket: Parameters<typeof callerOf>[0]) => {
    const caller = await callerOf(socket);
    await ctx.allow(caller, "submit-records", {});
    return caller;
  };
  return startSyslogFeed({
    host: options.listen.host,
    port: options.listen.port,
    tls: options.tls,
    authenticate: async (socket) => (await allowed(socket)).id,
    authorize: async (socket) => {
      await allowed(socket);
    },
    ingest: async (records, source) => {
      const results = await deployment.vault.ingest(records, source);
      metrics.recordsIngested(results.filter((r) => !r.duplicate).length);
    },
    onFrame: (result: FrameResult) => frames.inc({ result }),
    onConnection: (result) => connections.inc({ result }),
    log: options.log,
  });
}
