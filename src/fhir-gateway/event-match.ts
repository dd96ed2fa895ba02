// Whether one verified, decrypted record answers a search. The FHIR-level parameters (agent, entity,
// action, outcome, address) are matched on the AuditEvent the gateway would return for the record,
// so what is found is exactly what is shown.

import type { AuditRecord } from "../core/record/index.js";
import { type AuditEventSearch, bareValue } from "./search-params.js";

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const list = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);
const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** A reference matches `Type/id`, a bare id, or an absolute URL ending in either. */
function referenceMatches(reference: string | undefined, wanted: string): boolean {
  if (reference === undefined) return false;
  const id = wanted.slice(wanted.lastIndexOf("/") + 1);
  return (
    reference === wanted ||
    reference.endsWith(`/${wanted}`) ||
    (!wanted.includes("/") && reference.split("/").slice(-1)[0] === id)
  );
}

function whoMatches(who: unknown, wanted: string): boolean {
  if (!isObject(who)) return false;
  const identifier = isObject(who.identifier) ? text(who.identifier.value) : undefined;
  return referenceMatches(text(who.reference), wanted) || identifier === bareValue(wanted);
}

function anyOf(wanted: readonly string[] | undefined, test: (value: string) => boolean): boolean {
  return wanted === undefined || wanted.some(test);
}

export function eventMatches(event: Json, record: AuditRecord, search: AuditEventSearch): boolean {
  const time = Date.parse(record.time);
  if (search.from !== undefined && time < search.from) return false;
  if (search.to !== undefined && time >= search.to) return false;
  if (search.patients !== undefined && !search.patients.includes(record.patientId)) return false;
  const agents = list(event.agent);
  const entities = list(event.entity);
  return (
    anyOf(
      search.agents,
      (v) =>
        record.userId === bareValue(v).slice(bareValue(v).lastIndexOf("/") + 1) ||
        agents.some((a) => whoMatches(a.who, v)),
    ) &&
    anyOf(search.agentNames, (v) =>
      [record.userName, ...agents.map((a) => (isObject(a.who) ? text(a.who.display) : undefined))].some(
        (name) => name?.toLowerCase().includes(v.toLowerCase()),
      ),
    ) &&
    anyOf(search.addresses, (v) =>
      agents.some((a) => isObject(a.network) && text(a.network.address)?.toLowerCase() === v.toLowerCase()),
    ) &&
    anyOf(search.actions, (v) => event.action === v) &&
    anyOf(search.outcomes, (v) => event.outcome === v) &&
    anyOf(search.entities, (v) => entities.some((e) => whoMatches(e.what, v)))
  );
}
