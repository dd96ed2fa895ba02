// One sequencer per SQLite log, as PostgreSQL's advisory lock gives one per PostgreSQL log: whoever
// appends (a running node, or a CLI command with --data) holds an exclusive SQLite lock on the file
// DIR/sequencer.lock for as long as its store is open. The lock is the operating system's (fcntl, taken
// by SQLite), so it goes with the process that held it, a crash included: no stale lock file to clear.
// Readers (verify, proofs, a mirror's source) never take it.

import { join } from "node:path";
import Database from "better-sqlite3";
import { CustosError } from "../../core/index.js";

export const SEQUENCER_LOCK_FILE = "sequencer.lock";

export class SqliteSequencerLock {
  readonly #db: Database.Database;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Takes the data directory's sequencer lock; undefined if another process (or store) holds it. */
  static acquire(dataDir: string): SqliteSequencerLock | undefined {
    let db: Database.Database;
    try {
      db = new Database(join(dataDir, SEQUENCER_LOCK_FILE), { timeout: 0 });
    } catch (error) {
      throw new CustosError("CONFIG", `cannot open ${join(dataDir, SEQUENCER_LOCK_FILE)}`, { cause: error });
    }
    try {
      db.pragma("locking_mode = EXCLUSIVE");
      // An exclusive transaction never committed: the lock is held until the connection closes.
      db.exec("BEGIN EXCLUSIVE");
      return new SqliteSequencerLock(db);
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === "SQLITE_BUSY") return undefined;
      throw new CustosError("CONFIG", `cannot lock ${join(dataDir, SEQUENCER_LOCK_FILE)}`, { cause: error });
    }
  }

  release(): void {
    if (this.#db.open) this.#db.close();
  }
}
