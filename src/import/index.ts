// Reading the plaintext audit logs that hospital systems export (CSV, JSON, NDJSON) into records: the
// parser the `custos import` command uses (docs/import.md).

export { parseCsv } from "./csv-reader.js";
export {
  ACTION_SYNONYMS,
  BOOLEAN_WORDS,
  FIELD_SYNONYMS,
  OUTCOME_SYNONYMS,
  type RowOptions,
} from "./field-mapping.js";
export {
  type DetectedFormat,
  IMPORT_FORMATS,
  type ImportFormat,
  type ImportOptions,
  importRows,
  MAX_ROW_CHARS,
  PlaintextImportParser,
  parsePlaintextImport,
} from "./import-parser.js";
export { ImportTally, type Rejection } from "./import-tally.js";
export type { ImportRow } from "./row-reader.js";
export { parseStaffCsv } from "./staff-csv.js";
export { parseImportTimestamp, parseTimezoneOffset } from "./timestamps.js";
