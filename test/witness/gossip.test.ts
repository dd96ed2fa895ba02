// Split-view detection by gossip: GossipChecker against an in-memory reference log, property-tested
// with honest prefixes and extensions, forks at every position, and hostile notes; the gossip loop's
// alerts (raised once per conflicting checkpoint, both notes kept).

import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fromBase64, toBase64, utf8 } from "../../src/core/bytes.js";
import { signCheckpoint } from "../../src/core/checkpoint/index.js";
import {
  consistencyProof,
  leafHash,
  rootFromLeafHashes,
  verifyConsistency,
} from "../../src/core/merkle/index.js";
import { generateSignerKey } from "../../src/core/note/index.js";
import { AlertLog } from "../../src/witness/alerts.js";
import { GossipChecker, type GossipReference, SPLIT_VIEW_KINDS } from "../../src/witness/gossip.js";
import { Gossiping } from "../../src/witness/gossiping.js";
import { tempDir } from "../helpers/temp.js";

const ORIGIN = "gossip.test/log";
const LOG = generateSignerKey(ORIGIN);
const log = { origin: ORIGIN, verifierKey: LOG.verifierKey };

function leaves(tag: string, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => leafHash(utf8(`${tag}-${i}`)));
}

function note(hashes: readonly Uint8Array[], size: number, signer = LOG.signerKey, origin = ORIGIN): string {
  return signCheckpoint({ origin, size, rootHash: rootFromLeafHashes(hashes.slice(0, size)) }, signer);
}

/** A reference copy of `hashes` whose latest signed checkpoint is at `size`. */
function reference(hashes: readonly Uint8Array[], size = hashes.length): GossipReference {
  return {
    latest: async () => (size === 0 && hashes.length === 0 ? undefined : { size, note: note(hashes, size) }),
    rootAt: async (m) => rootFromLeafHashes(hashes.slice(0, m)),
    consistencyProof: async (m, n) => consistencyProof(m, n, hashes.slice(0, n)),
  };
}

/** The same history up to `at`, another one after it. */
function fork(hashes: readonly Uint8Array[], at: number, length: number): Uint8Array[] {
  return [...hashes.slice(0, at), ...leaves(`fork-${at}`, length - at)];
}

const sizes = fc.integer({ min: 1, max: 40 });

describe("GossipChecker", () => {
  it("finds every prefix of the reference's own log consistent, and a bigger one only with a proof", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, sizes, async (n, m) => {
        const hashes = leaves("honest", Math.max(n, m));
        const checker = new GossipChecker(log, reference(hashes, n));
        const shown = note(hashes, m);
        if (m <= n) {
          expect(await checker.check(shown)).toEqual({ status: "consistent", size: m });
          return;
        }
        expect((await checker.check(shown)).status).toBe("unverified");
        const proof = async (from: number, to: number) => consistencyProof(from, to, hashes.slice(0, to));
        expect(await checker.check(shown, { proof })).toEqual({ status: "consistent", size: m });
      }),
      { numRuns: 60 },
    );
  });

  it("proves a fork at any position with two signed notes, whenever the fork's size is not above the reference's", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, sizes, fc.nat(), async (n, m, cut) => {
        const hashes = leaves("honest", n);
        const at = cut % m; // the fork differs from entry `at` on (at < m)
        const forked = fork(hashes, at, m);
        const checker = new GossipChecker(log, reference(hashes));
        const shown = note(forked, m);
        const verdict = await checker.check(shown);
        if (m > n) {
          expect(verdict.status).toBe("unverified");
          return;
        }
        if (verdict.status !== "inconsistent") throw new Error(`not caught: ${JSON.stringify(verdict)}`);
        expect(verdict.kind).toBe(
          m === n ? SPLIT_VIEW_KINDS.sameSizeDifferentRoot : SPLIT_VIEW_KINDS.notAPrefix,
        );
        expect(verdict.evidence.foreignNote).toBe(shown);
        expect(verdict.evidence.referenceNote).toBe(note(hashes, n));
        const proof = verdict.evidence.proof;
        if (m < n) {
          // Anyone can check it: the reference's own proof holds from its root at m, which is not the fork's.
          expect(proof).toBeDefined();
          expect(
            verifyConsistency(
              m,
              n,
              proof!.hashes.map(fromBase64),
              fromBase64(proof!.fromRoot),
              rootFromLeafHashes(hashes),
            ),
          ).toBe(true);
          expect(proof!.fromRoot).not.toBe(toBase64(rootFromLeafHashes(forked)));
        }
        // A fork bigger than the reference is never believed on a forged proof.
        const bigger = fork(hashes, Math.min(at, n - 1), n + 3);
        const forged = async (from: number, to: number) => consistencyProof(from, to, bigger);
        expect((await checker.check(note(bigger, n + 3), { proof: forged })).status).toBe("unverified");
      }),
      { numRuns: 80 },
    );
  });

  it("ignores notes not signed by the log's key, of another log, or malformed, and never throws on them", async () => {
    const hashes = leaves("honest", 12);
    const checker = new GossipChecker(log, reference(hashes));
    const forked = fork(hashes, 3, 12);
    const impostor = generateSignerKey(ORIGIN).signerKey;
    const other = generateSignerKey("other.test/log");
    const genuine = note(forked, 12);
    const tampered = genuine.replace(
      /(\u2014 \S+ )(\S)/,
      (_m, head: string, c: string) => head + (c === "A" ? "B" : "A"),
    );
    for (const hostile of [
      note(forked, 12, impostor), // same name, another key
      signCheckpoint(
        { origin: "other.test/log", size: 12, rootHash: rootFromLeafHashes(forked) },
        other.signerKey,
      ),
      tampered,
      genuine.slice(0, genuine.indexOf("\n\n") + 1), // no signature at all
      "",
      "x".repeat(2 << 20),
      42,
      null,
    ]) {
      const verdict = await checker.check(hostile);
      expect(verdict.status, String(hostile).slice(0, 40)).toBe("ignored");
    }
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.anything()), async (junk) => {
        expect((await checker.check(junk)).status).toBe("ignored");
      }),
      { numRuns: 200 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: genuine.length - 1 }),
        fc.string({ minLength: 1, maxLength: 3 }),
        async (at, s) => {
          // Any edit of a signed note either leaves it unsigned (ignored) or is the same note.
          const edited = genuine.slice(0, at) + s + genuine.slice(at + 1);
          const verdict = await checker.check(edited);
          if (edited !== genuine) expect(verdict.status).toBe("ignored");
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("the gossip loop", () => {
  let root: { dir: string; cleanup: () => void };
  beforeEach(() => {
    root = tempDir("custos-gossip-");
  });
  afterEach(() => root.cleanup());

  it("raises one alert per conflicting checkpoint, with both notes, and keeps bigger ones to check later", async () => {
    const hashes = leaves("honest", 20);
    let size = 10;
    const ref: GossipReference = {
      latest: async () => ({ size, note: note(hashes, size) }),
      rootAt: async (m) => rootFromLeafHashes(hashes.slice(0, m)),
      consistencyProof: async (m, n) => consistencyProof(m, n, hashes.slice(0, n)),
    };
    const alerts = new AlertLog(root.dir);
    const gossip = new Gossiping({
      checker: new GossipChecker(log, ref),
      alerts,
      witnesses: [],
      now: () => 7,
    });
    const forked = fork(hashes, 4, 20);
    const results = await gossip.offer(
      [note(forked, 10), note(forked, 10), note(hashes, 8), "junk"],
      "peer-a",
    );
    expect(results.map((r) => r.verdict.status)).toEqual([
      "inconsistent",
      "inconsistent",
      "consistent",
      "ignored",
    ]);
    expect(results[0]!.alert!.id).toBe(results[1]!.alert!.id);
    expect(alerts.list()).toHaveLength(1);
    const [alert] = alerts.list();
    expect(alert).toMatchObject({
      source: "gossip",
      kind: "same-size-different-root",
      witness: "peer-a",
      size: 10,
      checkpoint: note(hashes, 10),
      witnessCheckpoint: note(forked, 10),
    });
    // Bigger than the copy: unverified now, proven once the reference has grown past it.
    expect((await gossip.offer([note(forked, 15)], "peer-b"))[0]!.verdict.status).toBe("unverified");
    size = 20;
    const round = await gossip.round();
    expect(round.raised.map((a) => a.kind)).toEqual(["not-a-prefix"]);
    expect(round.raised[0]!.evidence?.proof?.fromSize).toBe(15);
    // Acknowledged alerts are not raised again, across a restart too.
    alerts.acknowledge(alert!.id, "custos://d/auditor/acme");
    const again = new Gossiping({
      checker: new GossipChecker(log, ref),
      alerts: new AlertLog(root.dir),
      witnesses: [],
    });
    await again.offer([note(forked, 10)], "peer-c");
    expect(new AlertLog(root.dir).list(true)).toHaveLength(2);
  });

  it("finishes a round when its witnesses are unreachable", async () => {
    const hashes = leaves("honest", 5);
    const gossip = new Gossiping({
      checker: new GossipChecker(log, reference(hashes)),
      alerts: new AlertLog(root.dir),
      witnesses: [{ url: "https://127.0.0.1:9" }],
    });
    const started = Date.now();
    const round = await gossip.round();
    expect(round.unreachable).toEqual(["https://127.0.0.1:9"]);
    expect(Date.now() - started).toBeLessThan(6_000);
  });
});
