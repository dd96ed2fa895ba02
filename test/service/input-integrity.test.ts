// Input integrity over a real node: ill-formed UTF-8 is refused naming the line and field (never
// stored as U+FFFD), and a replayed sourceEventId with different content is a 409 CONFLICT naming the
// record, while the same content stays a 200 duplicate. A refused request writes nothing.

import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDeployment, PASS, type TestDeployment } from "../helpers/deployment.js";

let env: TestDeployment;

function post(path: string, body: Uint8Array | string, type = "application/json") {
  const file = join(env.root, `body-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, body);
  const pem = env.pemDir("emr");
  const result = spawnSync(
    "curl",
    [
      "-sS",
      "--max-time",
      "20",
      "--cacert",
      join(env.data, "ca", "ca.pem"),
      "--cert",
      join(pem, "cert.pem"),
      "--key",
      join(pem, "key.pem"),
      "--pass",
      PASS,
      "-H",
      `content-type: ${type}`,
      "--data-binary",
      `@${file}`,
      "-w",
      "\n%{http_code}",
      `https://127.0.0.1:${env.apiPort}${path}`,
    ],
    { encoding: "utf8" },
  );
  const lines = result.stdout.split("\n");
  const status = Number(lines.pop());
  return { status, json: JSON.parse(lines.join("\n")) };
}

const record = (over: Record<string, unknown> = {}) => ({
  time: "2026-11-23T08:15:00Z",
  patientId: "P1",
  userId: "dr.okafor",
  action: "query",
  ...over,
});

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));

beforeAll(async () => {
  env = await createTestDeployment({
    people: [
      ["node", "n1"],
      ["ehr-source", "emr"],
      ["patient", "P1"],
      ["custodian", "privacy"],
    ],
  });
  await env.start();
}, 120_000);

afterAll(async () => {
  await env.cleanup();
});

describe("ill-formed UTF-8", () => {
  it("refuses an overlong sequence in an NDJSON line with 400 naming the line and field, storing nothing", () => {
    const first = post("/v1/records", JSON.stringify(record({ sourceEventId: "u-1" })));
    expect(first.status).toBe(200);
    const before = first.json.records[0].index as number;

    const line1 = JSON.stringify(record({ sourceEventId: "u-2" }));
    const body = bytes(
      line1,
      "\n",
      '{"time":"2026-11-23T09:00:00Z","patientId":"P1","userId":"x","action":"query","detail":"a',
      [0xc0, 0xaf],
      'b"}\n',
    );
    const refused = post("/v1/records", body, "application/x-ndjson");
    expect(refused.status).toBe(400);
    expect(refused.json.error.code).toBe("BAD_ENCODING");
    expect(refused.json.error.message).toMatch(/not valid UTF-8 at line 2, in field detail/);

    // Nothing of the batch was stored: the next record takes the next index, and u-2 is new.
    const next = post("/v1/records", line1, "application/x-ndjson");
    expect(next.status).toBe(200);
    expect(next.json.records[0]).toMatchObject({ index: before + 1, duplicate: false });
  });

  it("refuses an encoded surrogate in a JSON array naming the record's field", () => {
    const body = bytes(
      '[{"time":"2026-11-23T09:00:00Z","patientId":"P1",\n"userId":"dr.',
      [0xed, 0xa0, 0x80],
      '","action":"query"}]',
    );
    const refused = post("/v1/records", body);
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ code: "BAD_ENCODING" });
    expect(refused.json.error.message).toMatch(/line 2, in field \[0\]\.userId/);
  });

  it("accepts well-formed multibyte text (and a real U+FFFD) unchanged", () => {
    const ok = post(
      "/v1/records",
      JSON.stringify(record({ detail: "Grüße 日本 😀 \uFFFD", sourceEventId: "u-3" })),
    );
    expect(ok.status).toBe(200);
  });
});

describe("replayed source event IDs", () => {
  it("answers the same content as a duplicate and different content as 409 CONFLICT naming the record", () => {
    const original = record({ sourceEventId: "evt-9", detail: "chart opened" });
    const first = post("/v1/records", JSON.stringify(original));
    expect(first.status).toBe(200);
    const index = first.json.records[0].index as number;

    const again = post("/v1/records", JSON.stringify(original));
    expect(again.status).toBe(200);
    expect(again.json.records[0]).toEqual({ ...first.json.records[0], duplicate: true });

    const changed = post(
      "/v1/records",
      JSON.stringify([record({ sourceEventId: "evt-10" }), { ...original, action: "print" }]),
    );
    expect(changed.status).toBe(409);
    expect(changed.json.error.code).toBe("CONFLICT");
    expect(changed.json.error.message).toMatch(
      new RegExp(`^record 2: .*\\(entry ${index}\\) with different content`),
    );
    // The conflicting batch wrote nothing: evt-10 is still new.
    const fresh = post("/v1/records", JSON.stringify(record({ sourceEventId: "evt-10" })));
    expect(fresh.status).toBe(200);
    expect(fresh.json.records[0].duplicate).toBe(false);
  });

  it("refuses two copies of one event ID with different content in one batch", () => {
    const a = record({ sourceEventId: "evt-20" });
    const refused = post("/v1/records", JSON.stringify([a, { ...a, userId: "billing.novak" }]));
    expect(refused.status).toBe(409);
    expect(refused.json.error.message).toMatch(/^record 2: .*record 1 of this request/);
    const same = post("/v1/records", JSON.stringify([a, a]));
    expect(same.status).toBe(200);
    expect(same.json.records.map((r: { duplicate: boolean }) => r.duplicate)).toEqual([false, true]);
  });
});
