// `custos fhir-gateway`: a local FHIR AuditEvent search endpoint (IHE ITI-81) in front of a node, for
// FHIR tools. Every answer is verified and decrypted here with the holder's keys (docs/fhir-gateway.md).

import type { Command } from "commander";
import { CustosError } from "../../core/index.js";
import { FhirGateway } from "../../fhir-gateway/index.js";
import type { Io } from "../io.js";
import { parseListen } from "../options.js";
import { type ClientOptions, openClient, withClientOptions } from "./client.js";

export function registerFhirGatewayCommand(program: Command, io: Io): void {
  withClientOptions(
    program
      .command("fhir-gateway")
      .description(
        "serve FHIR AuditEvent search (IHE ITI-81) on a loopback address, every reply verified and decrypted here",
      ),
  )
    .option("--listen <host:port>", "where to serve plain HTTP (loopback only)", "127.0.0.1:8090")
    .option("--quiet", "do not print a line per request")
    .action(async (options: ClientOptions & { listen: string; quiet?: boolean }) => {
      const listen = parseListen(options.listen);
      const client = openClient(options);
      if (client.identity.role !== "patient" && client.identity.role !== "auditor")
        throw new CustosError(
          "NOT_AUTHORIZED",
          `a ${client.identity.role} reads no audit trails: use a patient's or an audit company's bundle`,
        );
      const gateway = new FhirGateway({
        reader: {
          role: client.identity.role,
          trail: (q) => client.trail(q),
          auditTrails: (q) => client.auditTrails(q),
        },
        host: listen.host,
        port: listen.port,
        version: "0.1.0",
        ...(options.quiet ? {} : { log: (line: string) => io.err(line) }),
      });
      let running: Awaited<ReturnType<FhirGateway["listen"]>>;
      try {
        running = await gateway.listen();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EADDRINUSE")
          throw new CustosError(
            "CONFIG",
            `${options.listen} is already in use; choose another with --listen`,
          );
        throw error;
      }
      io.out(`custos fhir-gateway serving ${running.url}/AuditEvent (FHIR R4) for ${client.identity.uri}`);
      io.out(`  every reply verified against the log and decrypted here; Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await running.close();
      io.out("stopped");
    });
}
