// The record's "who, from where, what" fields in a FHIR R4 AuditEvent, both ways (docs/fhir-mapping.md):
// the user's name, role and department and the client's network address on the requesting agent, the
// accessed resource besides the patient as a second entity (BALP's data entity), and the query of a
// search as BALP's query entity (audit-entity-type 2, object-role 24, the query in base64).

import { fromBase64, fromUtf8, toBase64, utf8 } from "../bytes.js";
import type { AuditRecord } from "./audit-record.js";
import { LIMITS } from "./vocabulary.js";

export const PARTICIPANT_SYSTEMS = {
  entityType: "http://terminology.hl7.org/CodeSystem/audit-entity-type",
  objectRole: "http://terminology.hl7.org/CodeSystem/object-role",
  networkType: "http://hl7.org/fhir/network-type",
  dicom: "http://dicom.nema.org/resources/ontology/DCM",
  securityRoleType: "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
  custosDepartment: "https://custos.dev/fhir/StructureDefinition/department",
} as const;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const array = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
/** A string that says something (a blank display or role is no name). */
const str = (value: unknown): string | undefined =>
  typeof value === "string" && /\S/.test(value) ? value : undefined;

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const FHIR_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
/** `Type/id`, relative or absolute, optionally with a version. */
const REFERENCE = /(?:^|\/)([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const IPV4 = /^(?:\d{1,3}\.){3}\d{1,3}$/;
const IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

export type ParticipantFields = Pick<
  AuditRecord,
  "networkAddress" | "resourceType" | "resourceId" | "userName" | "userRole" | "department" | "query"
>;

/** BALP's query entity: object-role 24 (Query). */
const isQueryEntity = (entity: Json): boolean =>
  isObject(entity.role) &&
  (entity.role.code === "24" || array(entity.role.coding).some((c) => isObject(c) && c.code === "24"));

/** BALP's client agent: DICOM 110153 Source Role ID. */
function isClientAgent(agent: Json): boolean {
  // R4 agent.type is one CodeableConcept; some senders send a list.
  return (Array.isArray(agent.type) ? agent.type : [agent.type])
    .flatMap((t) => (isObject(t) ? [t, ...array(t.coding)] : []))
    .some((c) => isObject(c) && c.code === "110153");
}

function roleText(agent: Json): string | undefined {
  for (const role of array(agent.role).filter(isObject)) {
    const coding = array(role.coding).find(isObject);
    const text = str(role.text) ?? (coding ? (str(coding.display) ?? str(coding.code)) : undefined);
    if (text) return text;
  }
  return undefined;
}

/** The accessed resource besides the patient: the first other entity naming one. */
function resourceOf(entities: readonly Json[], patient: Json): { type?: string; id?: string } {
  for (const entity of entities) {
    if (entity === patient || !isObject(entity.what) || isQueryEntity(entity)) continue;
    const what = entity.what;
    const match = str(what.reference) ? REFERENCE.exec(str(what.reference)!) : null;
    if (match) return { type: match[1]!, id: match[2]! };
    const type = str(what.type);
    const id = isObject(what.identifier) ? str(what.identifier.value) : undefined;
    if (type || id) return { ...(type ? { type } : {}), ...(id ? { id } : {}) };
  }
  return {};
}

/** Reads the participant fields from an AuditEvent, given its patient entity and requesting agent. */
export function readParticipants(event: Json, patient: Json, user: Json): ParticipantFields {
  const agents = array(event.agent).filter(isObject);
  const who = isObject(user.who) ? user.who : {};
  const userIdText = isObject(who.identifier) ? str(who.identifier.value) : undefined;
  // who.display is the user's ID only when nothing else named them (auditEventToRecord's fallback).
  const userName = userIdText || str(who.reference) ? (str(who.display) ?? str(user.name)) : str(user.name);
  const network = [user, ...agents.filter(isClientAgent)]
    .map((a) => (isObject(a.network) ? str(a.network.address) : undefined))
    .find((a) => a !== undefined);
  const department =
    array(user.extension)
      .filter(isObject)
      .map((e) => (e.url === PARTICIPANT_SYSTEMS.custosDepartment ? str(e.valueString) : undefined))
      .find((d) => d !== undefined) ?? (isObject(user.location) ? str(user.location.display) : undefined);
  const resource = resourceOf(array(event.entity).filter(isObject), patient);
  const userRole = roleText(user);
  const query = queryOf(array(event.entity).filter(isObject));
  return {
    ...(network !== undefined ? { networkAddress: network } : {}),
    ...(resource.type !== undefined ? { resourceType: resource.type } : {}),
    ...(resource.id !== undefined ? { resourceId: resource.id } : {}),
    ...(userName !== undefined ? { userName } : {}),
    ...(userRole !== undefined ? { userRole } : {}),
    ...(department !== undefined ? { department } : {}),
    ...(query !== undefined ? { query } : {}),
  };
}

/**
 * The query of BALP's query entity (its `query`, base64), when it is text a record can keep: strict
 * UTF-8 and base64, within the limit, no control characters but tab and newline, not blank. Otherwise
 * the record has none (a FHIR event keeps its entity as sent all the same).
 */
function queryOf(entities: readonly Json[]): string | undefined {
  const entity = entities.find((e) => isQueryEntity(e) && typeof e.query === "string");
  return entity ? queryFromBase64(entity.query as string) : undefined;
}

/**
 * A query sent in base64 (FHIR's entity.query, DICOM's ParticipantObjectQuery) as a record keeps it:
 * strict base64 and UTF-8, within the limit, no control characters but tab and newline, not blank;
 * otherwise undefined (the record then has no query; nothing is refused for it).
 */
export function queryFromBase64(encoded: string): string | undefined {
  let text: string;
  try {
    text = fromUtf8(fromBase64(encoded.trim()));
  } catch {
    return undefined;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters other than tab/newline are refused
  const control = /[\u0000-\u0008\u000b-\u001f\u007f]/;
  return text.length <= LIMITS.query && /\S/.test(text) && !control.test(text) ? text : undefined;
}

/** The query of a search as BALP's query entity (type 2 System Object, role 24 Query), if recorded. */
export function queryEntity(record: AuditRecord): Json | undefined {
  if (record.query === undefined) return undefined;
  return {
    type: { system: PARTICIPANT_SYSTEMS.entityType, code: "2", display: "System Object" },
    role: { system: PARTICIPANT_SYSTEMS.objectRole, code: "24", display: "Query" },
    query: toBase64(utf8(record.query)),
  };
}

/** FHIR network-type: 2 for an IP address, 1 for a machine name. */
export function networkOf(address: string): Json {
  return { address, type: IPV4.test(address) || IPV6.test(address) ? "2" : "1" };
}

/**
 * BALP's agents (IHE BALP 3.3): the user (typed humanuser, the requestor), the client it worked at
 * (DICOM 110153 Source Role ID, with its network address) when the record has one, and the server
 * that reported the access (110152 Destination Role ID): the EHR source.
 */
export function balpAgents(record: AuditRecord, server: string | undefined): Json[] {
  const dicom = (code: string, display: string) => ({
    coding: [{ system: PARTICIPANT_SYSTEMS.dicom, code, display }],
  });
  return [
    userAgent(record),
    ...(record.networkAddress
      ? [
          {
            type: dicom("110153", "Source Role ID"),
            who: { display: record.networkAddress },
            requestor: false,
            network: networkOf(record.networkAddress),
          },
        ]
      : []),
    ...(server
      ? [{ type: dicom("110152", "Destination Role ID"), who: { display: server }, requestor: false }]
      : []),
  ];
}

/** The requesting user as a BALP user agent (the client agent carries the network address). */
function userAgent(record: AuditRecord): Json {
  return {
    type: {
      coding: [{ system: PARTICIPANT_SYSTEMS.securityRoleType, code: "humanuser", display: "human user" }],
    },
    ...(record.userRole ? { role: [{ text: record.userRole }] } : {}),
    who: { identifier: { value: record.userId }, ...(record.userName ? { display: record.userName } : {}) },
    requestor: true,
    ...(record.department
      ? { extension: [{ url: PARTICIPANT_SYSTEMS.custosDepartment, valueString: record.department }] }
      : {}),
  };
}

/** The accessed resource as BALP's data entity (object-role 4 Domain Resource), if the record names one. */
export function resourceEntity(record: AuditRecord): Json | undefined {
  const { resourceType: type, resourceId: id } = record;
  if (type === undefined && id === undefined) return undefined;
  const what =
    type !== undefined && id !== undefined && FHIR_TYPE.test(type) && FHIR_ID.test(id)
      ? { reference: `${type}/${id}` }
      : {
          ...(type !== undefined ? { type } : {}),
          ...(id !== undefined ? { identifier: { value: id } } : {}),
        };
  return {
    what,
    type: { system: PARTICIPANT_SYSTEMS.entityType, code: "2", display: "System Object" },
    role: { system: PARTICIPANT_SYSTEMS.objectRole, code: "4", display: "Domain Resource" },
  };
}
