// The mirror's read log: each line chained to the one before, checked on open; a line cut short by a
// crash (never acknowledged) is dropped; an edited, removed or reordered line is named.

import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { READ_LOG_FILE, ReadLog, verifyReadLog } from "../../src/mirror/index.js";
import { tempDir } from "../helpers/temp.js";

const notice = (n: number) => ({ entry: new Uint8Array([1, 2, n]), content: new Uint8Array([n, n]) });
const tag = new Uint8Array(32).fill(7);
let temp: ReturnType<typeof tempDir> | undefined;

afterEach(() => temp?.cleanup());

function written(count: number): string {
  temp = tempDir("custos-read-log-");
  const log = ReadLog.open(temp.dir);
  for (let i = 0; i < count; i++)
    log.record(i % 2 ? "refusal" : "query", Date.UTC(2026, 0, 1, i), tag, notice(i));
  log.close();
  return join(temp.dir, READ_LOG_FILE);
}

describe("the mirror's read log", () => {
  it("chains lines across reopenings", () => {
    const path = written(3);
    const log = ReadLog.open(temp!.dir);
    log.record("query", Date.now(), tag, notice(9));
    log.close();
    const { lines } = verifyReadLog(readFileSync(path, "utf8"));
    expect(lines.map((l) => l.kind)).toEqual(["query", "refusal", "query", "query"]);
    expect(lines[0]!.prev).toBe("0".repeat(64));
  });

  it("drops a line cut short by a crash and chains on from the last whole line", () => {
    const path = written(2);
    appendFileSync(path, '{"v":1,"time":"2026');
    const log = ReadLog.open(temp!.dir);
    log.record("query", Date.now(), tag, notice(5));
    log.close();
    expect(verifyReadLog(readFileSync(path, "utf8")).lines).toHaveLength(3);
  });

  it("names the line after an edited, removed or reordered one", () => {
    const path = written(4);
    const lines = readFileSync(path, "utf8").split("\n").slice(0, 4);
    const removed = [lines[0], lines[2], lines[3]].join("\n");
    expect(() => verifyReadLog(`${removed}\n`)).toThrow(/line 2 of the mirror's read log does not follow/);
    const swapped = [lines[1], lines[0], lines[2], lines[3]].join("\n");
    expect(() => verifyReadLog(`${swapped}\n`)).toThrow(/line 1 /);
    writeFileSync(path, `${lines.join("\n").replace('"refusal"', '"query"')}\n`);
    expect(() => ReadLog.open(temp!.dir)).toThrow(/line 3 of the mirror's read log does not follow/);
  });
});
