// HL7 FHIR R4 AuditEvent in the IHE BALP (Basic Audit Log Patterns) shape, both ways
// (docs/fhir-mapping.md). Import accepts what real EHRs send: it needs the patient and the requesting
// user and rejects only when it cannot find them (or the resource is not an AuditEvent); it does not
// reject for a profile mismatch. Export produces a valid AuditEvent that imports back unchanged.

import { CustosError } from "../errors.js";
import { type AuditRecord, parseAuditRecord } from "./audit-record.js";
import { balpAgents, queryEntity, readParticipants, resourceEntity } from "./fhir-participants.js";
import { type Action, FHIR_OUTCOME_CODES, OUTCOMES, type Outcome } from "./vocabulary.js";

export const SYSTEMS = {
  auditEventType: "http://terminology.hl7.org/CodeSystem/audit-event-type",
  restfulInteraction: "http://hl7.org/fhir/restful-interaction",
  dicom: "http://dicom.nema.org/resources/ontology/DCM",
  entityType: "http://terminology.hl7.org/CodeSystem/audit-entity-type",
  objectRole: "http://terminology.hl7.org/CodeSystem/object-role",
  actReason: "http://terminology.hl7.org/CodeSystem/v3-ActReason",
  custosAction: "https://custos.dev/fhir/CodeSystem/access-action",
  custosSourceEventId: "https://custos.dev/fhir/StructureDefinition/source-event-id",
  dataAbsentReason: "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
  sourceType: "http://terminology.hl7.org/CodeSystem/security-source-type",
} as const;

/** Our action -> FHIR AuditEvent.action (C/R/U/D/E) and BALP restful-interaction subtype. */
const EXPORT: Readonly<Record<Action, { action: string; subtype?: string }>> = {
  create: { action: "C", subtype: "create" },
  change: { action: "U", subtype: "update" },
  delete: { action: "D", subtype: "delete" },
  query: { action: "E", subtype: "search-type" },
  print: { action: "R", subtype: "read" },
  copy: { action: "R" },
};

const RESTFUL_TO_ACTION: Readonly<Record<string, Action>> = {
  create: "create",
  read: "query",
  vread: "query",
  "history-instance": "query",
  "history-type": "query",
  "history-system": "query",
  "search-type": "query",
  "search-system": "query",
  search: "query",
  update: "change",
  patch: "change",
  delete: "delete",
};

const ACTION_CODE_TO_ACTION: Readonly<Record<string, Action>> = {
  C: "create",
  R: "query",
  U: "change",
  D: "delete",
  E: "query",
};

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function array(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function codings(concept: unknown): Json[] {
  if (!isObject(concept)) return [];
  // A Coding itself, or a CodeableConcept holding codings.
  if (typeof concept.code === "string") return [concept];
  return array(concept.coding).filter(isObject);
}

function hasCode(concepts: unknown[], system: string | undefined, code: string): boolean {
  return concepts.some((c) =>
    codings(c).some((coding) => coding.code === code && (system === undefined || coding.system === system)),
  );
}

function referenceId(reference: unknown, type: string): string | undefined {
  const text = str(reference);
  if (!text) return undefined;
  const match = new RegExp(`(?:^|/)${type}/([^/]+)(?:/_history/[^/]+)?$`).exec(text);
  return match?.[1];
}

function fail(message: string): never {
  throw new CustosError("INVALID_RECORD", `AuditEvent: ${message}`);
}

function findPatient(event: Json): { id: string; entity: Json } {
  const entities = array(event.entity).filter(isObject);
  const candidates = [
    ...entities.filter(
      (e) => hasCode([e.role], undefined, "1") && (isObject(e.what) || isObject(e.reference)),
    ),
    ...entities.filter((e) => isObject(e.what) && referenceId(e.what.reference, "Patient") !== undefined),
  ];
  for (const entity of candidates) {
    const what = isObject(entity.what)
      ? entity.what
      : isObject(entity.reference)
        ? entity.reference
        : undefined;
    if (!what) continue;
    const id =
      referenceId(what.reference, "Patient") ??
      (isObject(what.identifier) ? str(what.identifier.value) : undefined);
    if (id) return { id, entity };
  }
  fail("no patient found: expected an entity with role 1 (Patient) or what.reference Patient/<id>");
}

function findUser(event: Json): { id: string; agent: Json } {
  const agents = array(event.agent).filter(isObject);
  const requestors = agents.filter((a) => a.requestor === true);
  for (const agent of requestors) {
    const who: Json = isObject(agent.who) ? agent.who : {};
    const identifier: Json = isObject(who.identifier) ? who.identifier : {};
    const id =
      str(identifier.value) ??
      str(str(who.reference)?.split("/").pop()) ??
      str(who.display) ??
      str(agent.altId) ??
      str(agent.name);
    if (id) return { id, agent };
  }
  fail(
    "no requesting user found: expected an agent with requestor true and who.identifier, who.reference or who.display",
  );
}

function actionOf(event: Json): Action {
  const subtypes = array(event.subtype);
  for (const coding of subtypes.flatMap(codings)) {
    if (coding.system === SYSTEMS.custosAction && typeof coding.code === "string") {
      const action = coding.code as Action;
      if (["create", "delete", "change", "query", "print", "copy"].includes(action)) return action;
    }
  }
  if (hasCode([event.type], SYSTEMS.dicom, "110106") || hasCode(subtypes, SYSTEMS.dicom, "110106"))
    return "copy";
  if (hasCode(subtypes, undefined, "print") || hasCode([event.type], undefined, "print")) return "print";
  for (const coding of subtypes.flatMap(codings)) {
    // Own keys only: a code such as "valueOf" must not find Object.prototype's.
    const mapped =
      typeof coding.code === "string" && Object.hasOwn(RESTFUL_TO_ACTION, coding.code)
        ? RESTFUL_TO_ACTION[coding.code]
        : undefined;
    if (mapped) return mapped;
  }
  const code = str(event.action);
  if (code && Object.hasOwn(ACTION_CODE_TO_ACTION, code)) return ACTION_CODE_TO_ACTION[code]!;
  fail("no action found: expected action C, R, U, D or E, or a restful-interaction subtype");
}

function purposeCodes(event: Json, agent: Json): string[] {
  return [...array(event.purposeOfEvent), ...array(agent.purposeOfUse)]
    .flatMap(codings)
    .map((c) => str(c.code))
    .filter((c): c is string => c !== undefined);
}

/** Maps a FHIR R4 AuditEvent (BALP or a plainer EHR shape) to an audit record, validated. */
export function auditEventToRecord(resource: unknown): AuditRecord {
  if (!isObject(resource) || resource.resourceType !== "AuditEvent") fail("resourceType must be AuditEvent");
  const recorded = str(resource.recorded);
  if (!recorded) fail("recorded (the time of the event) is required");
  const patient = findPatient(resource);
  const user = findUser(resource);
  const purposes = purposeCodes(resource, user.agent);
  const emergency =
    purposes.includes("BTG") ||
    (hasCode([resource.type], SYSTEMS.dicom, "110113") &&
      hasCode(array(resource.subtype), SYSTEMS.dicom, "110127"));
  const purposeOfUse = purposes.find((p) => p !== "BTG");
  const outcomeCode = str(resource.outcome);
  const outcome = OUTCOMES.find((o) => FHIR_OUTCOME_CODES[o] === outcomeCode);
  const source = isObject(resource.source) ? resource.source : {};
  const observer = isObject(source.observer) ? source.observer : {};
  const absent = array(observer.extension).some((e) => isObject(e) && e.url === SYSTEMS.dataAbsentReason);
  const sourceSystem = absent
    ? undefined
    : (str(observer.display) ??
      (isObject(observer.identifier) ? str(observer.identifier.value) : undefined) ??
      str(observer.reference) ??
      str(source.site));
  const sourceEventId =
    array(resource.extension)
      .filter(isObject)
      .find((e) => e.url === SYSTEMS.custosSourceEventId)?.valueString ?? str(resource.id);
  const detail = str(patient.entity.description);
  const record = {
    time: recorded,
    patientId: patient.id,
    userId: user.id,
    action: actionOf(resource),
    ...(sourceEventId !== undefined ? { sourceEventId } : {}),
    ...(sourceSystem !== undefined ? { sourceSystem } : {}),
    ...(purposeOfUse !== undefined ? { purposeOfUse } : {}),
    ...(outcome !== undefined ? { outcome } : {}),
    ...(emergency ? { emergency: true } : {}),
    ...(detail !== undefined ? { detail } : {}),
    ...readParticipants(resource, patient.entity, user.agent),
    // Kept whole, so an export gives back what the source sent (docs/fhir-mapping.md).
    fhir: resource,
  };
  try {
    return parseAuditRecord(record);
  } catch (error) {
    if (error instanceof CustosError) fail(error.message);
    throw error;
  }
}

/**
 * The names of the Device that observed a FHIR-sourced record (its `source.observer` is a Device:
 * reference `Device/<id>` or type `Device`), or undefined. An EHR source may submit such records for
 * devices it speaks for (docs/fhir-mapping.md).
 */
export function observerDeviceNames(record: AuditRecord): string[] | undefined {
  const source = isObject(record.fhir?.source) ? record.fhir.source : {};
  const observer = isObject(source.observer) ? source.observer : undefined;
  if (!observer) return undefined;
  const id = referenceId(observer.reference, "Device");
  if (id === undefined && observer.type !== "Device") return undefined;
  const names = [
    str(observer.display),
    isObject(observer.identifier) ? str(observer.identifier.value) : undefined,
    id,
    str(observer.reference),
  ].filter((n): n is string => n !== undefined);
  return names;
}

/** Maps a Bundle (transaction, batch, collection, searchset) of AuditEvents; names the bad entry. */
export function bundleToRecords(bundle: unknown): AuditRecord[] {
  if (!isObject(bundle) || bundle.resourceType !== "Bundle") {
    throw new CustosError("INVALID_RECORD", "Bundle: resourceType must be Bundle");
  }
  const entries = array(bundle.entry);
  if (entries.length === 0) throw new CustosError("INVALID_RECORD", "Bundle: it holds no entries");
  return entries.map((entry, i) => {
    try {
      return auditEventToRecord(isObject(entry) ? entry.resource : undefined);
    } catch (error) {
      if (error instanceof CustosError) {
        throw new CustosError("INVALID_RECORD", `Bundle entry ${i + 1}: ${error.message}`);
      }
      throw error;
    }
  });
}

export interface ExportOptions {
  /** The resource id to give the event (a search gateway's id); else the source's. */
  readonly id?: string;
  /** The EHR source the node authenticated when it took the record, for source.observer. */
  readonly source?: string;
}

/**
 * A FHIR R4 AuditEvent for one record: the one the source sent when it sent FHIR (faithful, with
 * `opts.id` as its id), else one built in the BALP shape.
 */
export function recordToAuditEvent(record: AuditRecord, opts: ExportOptions = {}): Json {
  if (record.fhir) return { ...record.fhir, ...(opts.id ? { id: opts.id } : {}) };
  return balpAuditEvent(record, opts);
}

function balpAuditEvent(record: AuditRecord, opts: ExportOptions): Json {
  const mapping = EXPORT[record.action];
  const type =
    record.action === "copy"
      ? { system: SYSTEMS.dicom, code: "110106", display: "Export" }
      : { system: SYSTEMS.auditEventType, code: "rest", display: "RESTful Operation" };
  const subtype: Json[] = [];
  if (mapping.subtype) subtype.push({ system: SYSTEMS.restfulInteraction, code: mapping.subtype });
  subtype.push({ system: SYSTEMS.custosAction, code: record.action, display: record.action });
  const purposeOfEvent: Json[] = [];
  if (record.purposeOfUse)
    purposeOfEvent.push({ coding: [{ system: SYSTEMS.actReason, code: record.purposeOfUse }] });
  if (record.emergency)
    purposeOfEvent.push({ coding: [{ system: SYSTEMS.actReason, code: "BTG", display: "break the glass" }] });
  const patientWhat = FHIR_ID.test(record.patientId)
    ? { reference: `Patient/${record.patientId}` }
    : { identifier: { value: record.patientId } };
  const id =
    opts.id ??
    (record.sourceEventId && FHIR_ID.test(record.sourceEventId) ? record.sourceEventId : undefined);
  return {
    resourceType: "AuditEvent",
    ...(id ? { id } : {}),
    ...(record.sourceEventId
      ? { extension: [{ url: SYSTEMS.custosSourceEventId, valueString: record.sourceEventId }] }
      : {}),
    type,
    subtype,
    action: mapping.action,
    recorded: record.time,
    // BALP requires an outcome; one the source did not give is said to be unknown, not success.
    ...(record.outcome
      ? { outcome: FHIR_OUTCOME_CODES[record.outcome as Outcome] }
      : { _outcome: { extension: [{ url: SYSTEMS.dataAbsentReason, valueCode: "unknown" }] } }),
    ...(purposeOfEvent.length > 0 ? { purposeOfEvent } : {}),
    agent: balpAgents(record, record.sourceSystem ?? opts.source),
    // source.observer is required (1..1); an unknown source is said so, the FHIR way.
    source: {
      observer:
        (record.sourceSystem ?? opts.source)
          ? { display: record.sourceSystem ?? opts.source }
          : { extension: [{ url: SYSTEMS.dataAbsentReason, valueCode: "unknown" }] },
      type: [{ system: SYSTEMS.sourceType, code: "4", display: "Application Server" }],
    },
    entity: [
      {
        what: patientWhat,
        type: { system: SYSTEMS.entityType, code: "1", display: "Person" },
        role: { system: SYSTEMS.objectRole, code: "1", display: "Patient" },
        ...(record.detail ? { description: record.detail } : {}),
      },
      ...[resourceEntity(record), queryEntity(record)].filter((e) => e !== undefined),
    ],
  };
}

export interface SearchsetEntry {
  readonly record: AuditRecord;
  /** The AuditEvent's id in this Bundle (e.g. the log index), and its absolute fullUrl. */
  readonly id?: string;
  readonly fullUrl?: string;
  /** The EHR source the node authenticated for the record. */
  readonly source?: string;
}

/**
 * A FHIR R4 searchset Bundle of AuditEvents (R4 3.1.1.4: total, self and next links, fullUrl beside
 * each resource's id).
 */
export function recordsToSearchsetBundle(
  entries: readonly (AuditRecord | SearchsetEntry)[],
  opts: { total?: number; selfUrl?: string; nextUrl?: string } = {},
): Json {
  const link: Json[] = [];
  if (opts.selfUrl) link.push({ relation: "self", url: opts.selfUrl });
  if (opts.nextUrl) link.push({ relation: "next", url: opts.nextUrl });
  const normal = entries.map((e): SearchsetEntry => ("record" in e ? e : { record: e }));
  return {
    resourceType: "Bundle",
    type: "searchset",
    total: opts.total ?? entries.length,
    ...(link.length > 0 ? { link } : {}),
    entry: normal.map((e) => ({
      ...(e.fullUrl ? { fullUrl: e.fullUrl } : {}),
      resource: recordToAuditEvent(e.record, {
        ...(e.id ? { id: e.id } : {}),
        ...(e.source ? { source: e.source } : {}),
      }),
      search: { mode: "match" },
    })),
  };
}
