// The passphrase protecting an identity bundle, as every command that unlocks one takes it.

import { readFileSync } from "node:fs";
import { CustosError } from "../../core/index.js";

export const PASSPHRASE_FILE = [
  "--passphrase-file <file>",
  "read the bundle passphrase from this file (default: CUSTOS_BUNDLE_PASSPHRASE)",
] as const;

/** The passphrase that protects an identity bundle: from a file or CUSTOS_BUNDLE_PASSPHRASE. */
export function bundlePassphrase(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new CustosError("KEY_MISSING", `cannot read the passphrase file ${file}`);
    }
    const passphrase = text.replace(/\r?\n$/, "");
    if (passphrase.length === 0) throw new CustosError("KEY_MISSING", `the passphrase file ${file} is empty`);
    return passphrase;
  }
  const passphrase = env.CUSTOS_BUNDLE_PASSPHRASE;
  if (!passphrase) {
    throw new CustosError(
      "KEY_MISSING",
      "no bundle passphrase: set CUSTOS_BUNDLE_PASSPHRASE or pass --passphrase-file FILE",
    );
  }
  return passphrase;
}
