// What `custos import` prints at the end: counts, rejected rows by reason and the first of them, the
// columns it ignored, and why it stopped if it did; or the same as one JSON object (--json).

import type { Io } from "../io.js";

export interface Summary {
  readonly input: string;
  readonly format: string | undefined;
  readonly mode: "local" | "remote" | "validate-only";
  readonly dryRun: boolean;
  readonly strict: boolean;
  readonly written: boolean;
  readonly rowsRead: number;
  readonly valid: number;
  readonly imported: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly reasons: { reason: string; count: number }[];
  readonly rejections: { row: number; line: number; reason: string }[];
  readonly ignoredColumns: readonly string[];
  readonly stopped?: string;
}

export function printSummary(io: Io, s: Summary, asJson: boolean): void {
  if (asJson) {
    io.out(JSON.stringify(s));
    return;
  }
  const n = (value: number) => value.toLocaleString("en-US");
  const width = Math.max(
    ...[s.rowsRead, s.imported, s.duplicates, s.rejected, s.valid].map((v) => n(v).length),
  );
  const line = (name: string, value: number, note = "") =>
    io.out(`  ${name.padEnd(11)}${n(value).padStart(width)}${note}`);
  io.out(
    `import of ${s.input}${s.format ? ` (${s.format})` : ""}${s.dryRun ? ", dry run" : ""}${s.strict ? ", strict" : ""}`,
  );
  line("rows read", s.rowsRead);
  if (s.dryRun || (s.strict && !s.written)) line("valid", s.valid);
  if (!s.dryRun) {
    line("imported", s.imported);
    line("duplicates", s.duplicates, s.duplicates ? "  (already in the log: same source and event ID)" : "");
  }
  line("rejected", s.rejected);
  if (s.reasons.length > 0) {
    io.out("rejected rows by reason:");
    const countWidth = Math.max(...s.reasons.map((r) => n(r.count).length));
    for (const r of s.reasons) io.out(`  ${n(r.count).padStart(countWidth)}  ${r.reason}`);
    io.out(
      s.rejections.length < s.rejected ? `the first ${s.rejections.length} rejected rows:` : "rejected rows:",
    );
    for (const r of s.rejections) io.out(`  row ${r.row} (line ${r.line}): ${r.reason}`);
  }
  if (s.ignoredColumns.length > 0) io.out(`ignored columns: ${s.ignoredColumns.join(", ")}`);
  if (s.dryRun) io.out("dry run: nothing was written");
  else if (s.strict && !s.written && s.rejected > 0)
    io.out(`strict: nothing was imported because ${n(s.rejected)} row(s) were rejected`);
  if (s.stopped) io.out(`stopped: ${s.stopped}`);
}
