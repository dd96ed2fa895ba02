import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ALERTS_FILE, AlertLog } from "../../src/witness/alerts.js";
import { tempDir } from "../helpers/temp.js";

let root: { dir: string; cleanup: () => void };
beforeEach(() => {
  root = tempDir("custos-alerts-");
});
afterEach(() => root.cleanup());

const sample = {
  at: 1,
  witness: "https://w1",
  size: 10,
  reason: "refused: 422",
  checkpoint: "o\n10\nA=\n\n— o x\n",
  witnessCheckpoint: "o\n9\nB=\n\n— o y\n",
};

describe("the node's alert log", () => {
  it("keeps alerts and acknowledgements across restarts, and survives a torn last line", () => {
    const log = new AlertLog(root.dir);
    const a = log.raise(sample);
    const b = log.raise({ ...sample, size: 11 });
    expect([a.id, b.id]).toEqual([1, 2]);
    log.acknowledge(a.id, "custos://d/auditor/acme", 5);
    appendFileSync(join(root.dir, ALERTS_FILE), '{"type":"alert","id":3,"at');
    const reopened = new AlertLog(root.dir);
    expect(reopened.list().map((x) => x.id)).toEqual([2]);
    expect(reopened.list(true).find((x) => x.id === 1)?.acknowledged).toEqual({
      by: "custos://d/auditor/acme",
      at: 5,
    });
    expect(reopened.raise(sample).id).toBe(3);
    // The alert raised after the torn line is not lost with it.
    expect(new AlertLog(root.dir).list().map((x) => x.id)).toEqual([2, 3]);
    expect(() => reopened.acknowledge(99, "x")).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
  });

  it("lets each audit company acknowledge for itself: an alert stays open for the others", () => {
    const log = new AlertLog(root.dir);
    const fork = log.raise({ ...sample, size: 42 });
    const acme = "custos://d/auditor/acme";
    const north = "custos://d/auditor/northwind";
    expect(log.acknowledge(fork.id, acme, 7).acknowledged).toEqual({ by: acme, at: 7 });
    expect(log.list(false, acme).map((a) => a.id)).not.toContain(fork.id);
    expect(log.list(false, north).map((a) => a.id)).toContain(fork.id);
    // After a restart too; the second acknowledgement is the other company's own.
    const reopened = new AlertLog(root.dir);
    expect(reopened.list(false, north).map((a) => a.id)).toContain(fork.id);
    expect(reopened.acknowledge(fork.id, north, 9).acknowledged).toEqual({ by: north, at: 9 });
    expect(reopened.list(false, north).map((a) => a.id)).not.toContain(fork.id);
    expect(reopened.list(true, north).find((a) => a.id === fork.id)?.acknowledged).toEqual({
      by: north,
      at: 9,
    });
  });
});
