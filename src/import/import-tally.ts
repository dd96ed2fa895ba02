// The summary of an import: counts, and the first rejections with their reasons (which never hold a
// value from the input).

export interface Rejection {
  readonly row: number;
  readonly line: number;
  readonly reason: string;
}

/** Counts an import: rows read, imported, duplicates, rejections (the lowest rows kept, all counted). */
export class ImportTally {
  rowsRead = 0;
  valid = 0;
  imported = 0;
  duplicates = 0;
  rejected = 0;
  readonly firstRejections: Rejection[] = [];
  readonly reasons = new Map<string, number>();
  readonly #keep: number;

  constructor(keep = 20) {
    this.#keep = keep;
  }

  reject(rejection: Rejection): void {
    this.rejected++;
    // Rows refused at storage are known after later rows were read: keep the lowest row numbers.
    const kept = this.firstRejections;
    if (kept.length < this.#keep || rejection.row < kept[kept.length - 1]!.row) {
      let at = kept.length;
      while (at > 0 && kept[at - 1]!.row > rejection.row) at--;
      kept.splice(at, 0, rejection);
      if (kept.length > this.#keep) kept.pop();
    }
    this.reasons.set(rejection.reason, (this.reasons.get(rejection.reason) ?? 0) + 1);
  }

  /** Reasons with their counts, most frequent first. */
  reasonCounts(): { reason: string; count: number }[] {
    return [...this.reasons]
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  }
}
