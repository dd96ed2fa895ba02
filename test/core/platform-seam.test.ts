// The one platform seam: package.json `imports` `#platform` picks src/core/runtime/node.ts (node:crypto)
// or browser.ts (@noble) by condition, as jose picks its runtime; nothing sniffs the platform at run
// time, HMAC lives in one place per runtime, and the two runtimes agree on the published vectors.

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromHex, toHex, utf8 } from "../../src/core/bytes.js";
import { hmacSha256, sha256 } from "../../src/core/platform.js";
import { runtime as browserRuntime } from "../../src/core/runtime/browser.js";
import { runtime as nodeRuntime } from "../../src/core/runtime/node.js";
import { defaultBackend, nodeBackend } from "../../src/crypto/backend.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function resolveWith(conditions: string[]): string {
  const run = spawnSync(
    process.execPath,
    [
      ...conditions.map((c) => `--conditions=${c}`),
      "--input-type=module",
      "-e",
      'process.stdout.write(import.meta.resolve("#platform"))',
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  expect(run.status, run.stderr).toBe(0);
  return relative(ROOT, fileURLToPath(run.stdout));
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

describe("the platform seam", () => {
  it("resolves by condition: the built runtimes for Node and browsers, the sources for source runners", () => {
    expect(resolveWith([])).toBe("dist/core/runtime/node.js");
    expect(resolveWith(["browser"])).toBe("dist/core/runtime/browser.js");
    expect(resolveWith(["custos-source"])).toBe("src/core/runtime/node.ts");
    expect(resolveWith(["custos-source", "browser"])).toBe("src/core/runtime/browser.ts");
  });

  it("gives the tests (vitest, from the sources) node:crypto", () => {
    expect(defaultBackend.name).toBe("node");
    expect(nodeBackend).toBe(nodeRuntime.backend);
    expect(sha256).toBe(nodeRuntime.sha256);
  });

  it("is the only place that picks a platform, and HMAC is written once per runtime", () => {
    const files = [...sources(join(ROOT, "src")), ...sources(join(ROOT, "portal/src"))];
    const where = (pattern: RegExp) =>
      files.filter((f) => pattern.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f));
    expect(where(/getBuiltinModule|typeof process\b|globalThis\.process/)).toEqual([]);
    expect(where(/createHmac\(/)).toEqual(["src/core/runtime/node.ts"]);
    expect(where(/@noble\/hashes\/hmac/)).toEqual(["src/core/runtime/noble.ts"]);
    expect(where(/from "#platform"/).sort()).toEqual(["src/core/platform.ts", "src/crypto/backend.ts"]);
  });

  it("has both runtimes agree: SHA-256 (FIPS 180-2), HMAC-SHA256 (RFC 4231 case 2), Ed25519 (RFC 8032 test 1)", () => {
    // RFC 8032 7.1 TEST 1: the empty message.
    const seed = fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const publicKey = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const signature =
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    for (const runtime of [nodeRuntime, browserRuntime]) {
      expect(toHex(runtime.sha256(utf8("abc"))), runtime.name).toBe(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      );
      expect(toHex(runtime.hmacSha256(utf8("Jefe"), utf8("what do ya want "), utf8("for nothing?")))).toBe(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      );
      expect(toHex(runtime.ed25519PublicKey(seed)), runtime.name).toBe(publicKey);
      expect(toHex(runtime.ed25519Sign(seed, new Uint8Array(0))), runtime.name).toBe(signature);
      expect(runtime.ed25519Verify(fromHex(publicKey), new Uint8Array(0), fromHex(signature))).toBe(true);
      expect(runtime.ed25519Verify(fromHex(publicKey), new Uint8Array(1), fromHex(signature))).toBe(false);
      expect(runtime.ed25519Verify(new Uint8Array(31), new Uint8Array(0), fromHex(signature))).toBe(false);
    }
    expect(toHex(hmacSha256(utf8("Jefe"), utf8("what do ya want for nothing?")))).toBe(
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 80 }), (data, key) => {
        expect(toHex(browserRuntime.sha256(data))).toBe(toHex(nodeRuntime.sha256(data)));
        expect(toHex(browserRuntime.hmacSha256(key, data))).toBe(toHex(nodeRuntime.hmacSha256(key, data)));
      }),
    );
  });
});
