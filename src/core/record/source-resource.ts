// The FHIR AuditEvent a source sent, kept whole in the record's `fhir` field (sealed like the rest) so
// that an export gives back what was sent: action code, subtype, every entity and agent, source site
// and type, meta.security. Stored canonically (object keys sorted at every depth) and bounded in size
// and depth, because it is hostile input that ends up inside a log entry (docs/formats.md).

import { utf8 } from "../bytes.js";

/** At most this many UTF-8 bytes of canonical JSON; an entry must stay under 65,535 bytes. */
export const MAX_SOURCE_RESOURCE_BYTES = 16_384;
/** At most this nesting depth (a BALP AuditEvent needs about 6). */
export const MAX_SOURCE_RESOURCE_DEPTH = 16;

export type JsonObject = { readonly [key: string]: JsonValue };
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;

/** Why a value cannot be kept, or undefined when it can. */
function problem(value: unknown, depth: number): string | undefined {
  if (depth > MAX_SOURCE_RESOURCE_DEPTH) return `nests deeper than ${MAX_SOURCE_RESOURCE_DEPTH} levels`;
  if (value === null || typeof value === "boolean" || typeof value === "string") return undefined;
  if (typeof value === "number")
    return Number.isFinite(value) ? undefined : "holds a number JSON cannot carry";
  if (Array.isArray(value)) {
    for (const item of value) {
      const why = problem(item, depth + 1);
      if (why) return why;
    }
    return undefined;
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) {
      const why = problem(item, depth + 1);
      if (why) return why;
    }
    return undefined;
  }
  return "holds a value JSON cannot carry";
}

function sorted(value: unknown): JsonValue {
  if (Array.isArray(value)) return value.map(sorted);
  if (value !== null && typeof value === "object") {
    const out: Record<string, JsonValue> = {};
    for (const key of Object.keys(value).sort()) {
      // A key named __proto__ is kept as data, never as a prototype.
      Object.defineProperty(out, key, {
        value: sorted((value as Record<string, unknown>)[key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value as JsonValue;
}

/**
 * The canonical form of a source's AuditEvent, or the reason it cannot be kept. Canonical: keys sorted
 * at every depth, so decode then encode gives the same bytes.
 */
export function canonicalSourceResource(
  value: unknown,
): { readonly resource: JsonObject } | { readonly reason: string } {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return { reason: "expected a FHIR AuditEvent (a JSON object)" };
  if ((value as { resourceType?: unknown }).resourceType !== "AuditEvent")
    return { reason: "expected a FHIR AuditEvent (resourceType AuditEvent)" };
  const why = problem(value, 1);
  if (why) return { reason: why };
  const resource = sorted(value) as JsonObject;
  if (utf8(JSON.stringify(resource)).length > MAX_SOURCE_RESOURCE_BYTES)
    return { reason: `must be at most ${MAX_SOURCE_RESOURCE_BYTES} bytes of JSON` };
  return { resource };
}
