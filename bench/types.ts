/** One measured figure, printed beside its goal and written to bench/results/*.json. */
export interface BenchRow {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The goal in words, e.g. ">= 200,000 entries/s". */
  readonly goal?: string;
  /** Whether the figure meets its goal (absent when there is no goal). */
  readonly met?: boolean;
}
