// The V8 flags a Custos node runs with: those on bin/custos.js's first line (`#!/usr/bin/env -S node
// ...`), so a benchmark that runs the node's code in a process of its own measures it as deployed.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../bin/custos.js", import.meta.url));

export function nodeFlags(): string[] {
  const first = readFileSync(BIN, "utf8").split("\n", 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node((?: --[a-z-]+=\S+)*)$/.exec(first);
  if (match === null)
    throw new Error(`${BIN}: the first line is not "#!/usr/bin/env -S node --flag=value ..."`);
  return match[1]!.trim().split(" ").filter(Boolean);
}
