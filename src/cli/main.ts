// The `custos` command line. Every command prints one-line errors (`error: ...`) and exits non-zero on
// failure; `--help` works everywhere.

import { Command, CommanderError } from "commander";
import { registerArchiveCommands } from "./commands/archive.js";
import { registerBackupCommands } from "./commands/backup.js";
import { registerClientCommands } from "./commands/client.js";
import { registerDbCommands } from "./commands/db.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerFhirGatewayCommand } from "./commands/fhir-gateway.js";
import { registerIdentityCommands } from "./commands/identity.js";
import { registerImportCommand } from "./commands/import.js";
import { registerKeyCommands } from "./commands/keys.js";
import { registerKeystoreCommands } from "./commands/keystore.js";
import { registerLogCommands } from "./commands/log.js";
import { registerMigrateStoreCommand } from "./commands/migrate-store.js";
import { registerMirrorCommands } from "./commands/mirror.js";
import { registerPortalCommands } from "./commands/portal.js";
import { registerRecordCommands } from "./commands/records.js";
import { registerRetentionCommands } from "./commands/retention.js";
import { registerVerifyCommand } from "./commands/verify.js";
import { registerWitnessCommands } from "./commands/witness.js";
import { describeError, EXIT_ERROR, EXIT_OK } from "./errors.js";
import { endQuietlyOnClosedPipe, type Io, processIo } from "./io.js";

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command("custos")
    .description("Custos: a tamper-evident, end-to-end encrypted audit trail for health-record access")
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({
      writeOut: (text) => io.outRaw(text),
      writeErr: (text) => io.err(text.trimEnd()),
      outputError: (text, write) => write(text.replace(/^error: /, "error: ")),
    })
    .exitOverride();
  registerLogCommands(program, io);
  registerVerifyCommand(program, io, setExit);
  registerRecordCommands(program, io);
  registerKeyCommands(program, io);
  registerIdentityCommands(program, io);
  registerClientCommands(program, io, setExit);
  registerFhirGatewayCommand(program, io);
  registerMirrorCommands(program, io);
  registerBackupCommands(program, io);
  registerWitnessCommands(program, io);
  registerImportCommand(program, io, setExit);
  registerDbCommands(program, io);
  registerKeystoreCommands(program, io);
  registerMigrateStoreCommand(program, io);
  registerRetentionCommands(program, io);
  registerPortalCommands(program, io);
  registerArchiveCommands(program, io, (code) => setExit(code));
  registerDemoCommand(program, io);
  const override = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exitCode = EXIT_OK;
  if (io === processIo) {
    endQuietlyOnClosedPipe(process.stdout, (code) => process.exit(code));
    endQuietlyOnClosedPipe(process.stderr, (code) => process.exit(code));
  }
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; commander already printed its own one-line message otherwise.
      return error.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
    }
    io.err(`error: ${describeError(error)}`);
    if (process.env.CUSTOS_DEBUG === "1" && error instanceof Error) io.err(error.stack ?? "");
    return EXIT_ERROR;
  }
}
