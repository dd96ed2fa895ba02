// Values stored with the wrong SQL type (SQLite: text where bytes belong): each named where it is, as
// a finding like any other, rather than a read that stops the whole verify. The store reads such a
// value as its bytes, so the rest of the scan still checks what it says.

import { toHex } from "../../core/index.js";
import type { LedgerStore, MistypedValue } from "../storage.js";
import type { Finding } from "./findings.js";

/** Names every mistyped value but content; returns the hashes (hex) of mistyped content, named per entry. */
export async function checkMistyped(
  store: LedgerStore,
  from: number,
  findings: Finding[],
): Promise<Set<string>> {
  const values = (await store.mistypedValues?.(from)) ?? [];
  const contents = new Set<string>();
  for (const value of values) {
    if (value.table === "contents") {
      if (value.hash !== undefined) contents.add(toHex(value.hash));
      continue;
    }
    findings.push(finding(value));
  }
  return contents;
}

/** The finding for mistyped content, at the entry that names it. */
export function mistypedContent(index: number): Finding {
  return {
    code: "VALUE_MISTYPED",
    message: `the encrypted content of entry ${index} is stored as a value of the wrong SQL type (not binary): it was written outside Custos`,
    firstIndex: index,
    lastIndex: index,
    table: "contents",
  };
}

function finding(value: MistypedValue): Finding {
  const where =
    value.table === "tiles"
      ? `tile ${value.level ?? "?"}/${value.index ?? "?"}`
      : value.table === "entries"
        ? `entry ${value.index ?? "?"}`
        : `a ${value.table} row of entry ${value.index ?? "?"}`;
  return {
    code: "VALUE_MISTYPED",
    message: `${where} holds its ${value.column} as SQL ${value.sqlType}, not ${value.column === "idx" || value.column === "level" ? "integer" : "binary"}: it was written outside Custos`,
    ...(value.index !== undefined && value.table !== "tiles"
      ? { firstIndex: value.index, lastIndex: value.index }
      : {}),
    ...(value.table === "tiles" && value.index !== undefined && value.level !== undefined
      ? { tile: { level: value.level, index: value.index } }
      : {}),
    table: value.table,
  };
}
