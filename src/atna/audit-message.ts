// DICOM PS3.15 A.5 AuditMessage (IHE ITI-20) -> Custos audit records. Both spellings of a coded value
// are read: DICOM's `csd-code` / `originalText` and RFC 3881's older `code` / `displayName`.
//   - the patient: each ParticipantObjectIdentification of type 1 (Person) and role 1 (Patient); the ID
//     is CX.1 of ParticipantObjectID, the assigning authority (CX.4) kept in the record's detail;
//   - the user: the ActiveParticipant with UserIsRequestor true (RFC 3881 5.3: true when absent);
//   - the action: EventID 110106 (Export) is a copy, else EventActionCode C/R/U/D/E as FHIR maps them;
//   - time, outcome (EventOutcomeIndicator 0/4/8/12), purpose of use, emergency (EventTypeCode 110127
//     Emergency Override Started), the network access point and the audit source in the detail.
// An event that names no patient (a login, a security alert) becomes a deployment security event: a
// record in the reserved trail SECURITY_EVENTS_PATIENT (docs/atna.md). Mapping never half-succeeds:
// either every record of the message is valid or the message is refused.

import { CustosError, sha256, toBase64 } from "../core/index.js";
import {
  type AuditRecord,
  LIMITS,
  type Outcome,
  parseAuditRecord,
  queryFromBase64,
} from "../core/record/index.js";
import { parseXml, type XmlElement } from "./xml-tree.js";

/**
 * The trail that holds a deployment's security events (no patient named): read by the custodian
 * (privacy office) and by audit companies granted this ID like any patient's (docs/atna.md).
 */
export const SECURITY_EVENTS_PATIENT = "custos.security-events";

const OUTCOMES: Readonly<Record<string, Outcome>> = {
  "0": "success",
  "4": "minor-failure",
  "8": "serious-failure",
  "12": "major-failure",
};
const ACTIONS = { C: "create", R: "query", U: "change", D: "delete", E: "query" } as const;
const DCM_EXPORT = "110106";
const DCM_EMERGENCY_OVERRIDE_STARTED = "110127";

export interface CodedValue {
  readonly code: string;
  readonly system?: string;
  readonly display?: string;
}

const bad = (why: string) =>
  new CustosError("INVALID_RECORD", `bad audit message (DICOM PS3.15 A.5): ${why}`);

function children(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

function one(element: XmlElement, name: string): XmlElement {
  const found = children(element, name);
  if (found.length !== 1) throw bad(`${element.name} must hold exactly one ${name}`);
  return found[0]!;
}

/** A coded value in either spelling (PS3.15 A.5.1 `csd-code`/`originalText`, RFC 3881 `code`/`displayName`). */
export function codedValue(element: XmlElement): CodedValue {
  const code = element.attributes.get("csd-code") ?? element.attributes.get("code");
  if (!code) throw bad(`${element.name} has no csd-code (or RFC 3881 code)`);
  const system = element.attributes.get("codeSystemName");
  const display = element.attributes.get("originalText") ?? element.attributes.get("displayName");
  return { code, ...(system ? { system } : {}), ...(display ? { display } : {}) };
}

const describe = (value: CodedValue) =>
  `${value.code}${value.system ? ` (${value.system})` : ""}${value.display ? ` ${value.display}` : ""}`;

/** HL7 v2 escape sequences (section 2.7.4) that can occur in a CX component. */
function unescapeHl7(text: string): string {
  const table: Readonly<Record<string, string>> = { F: "|", S: "^", T: "&", R: "~", E: "\\" };
  return text.replace(/\\([FSTRE])\\/g, (_, c: string) => table[c]!);
}

/** CX: ID ^ check digit ^ scheme ^ assigning authority (HD: namespace & universal ID & type) ^ ... */
export function parseCx(value: string): { id: string; authority?: string } {
  const parts = value.split("^");
  const id = unescapeHl7(parts[0] ?? "").trim();
  const authority = parts[3] ? unescapeHl7(parts[3]) : undefined;
  return authority ? { id, authority } : { id };
}

function isTrue(value: string | undefined, absent: boolean): boolean {
  if (value === undefined) return absent;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw bad("UserIsRequestor must be true or false");
}

/** DICOM 110150-110155: a machine's part in the exchange (application, source, destination, media). */
const MACHINE_ROLES = new Set(["110150", "110151", "110152", "110153", "110154", "110155"]);

/** A value cut to a record field's limit (an over-long name must not refuse the whole message). */
const clip = (value: string | undefined, limit: number) =>
  value === undefined || !/\S/.test(value.slice(0, limit)) ? undefined : value.slice(0, limit);

/**
 * The user's name, role and network access point, and the accessed object besides the patient (a
 * document, study or query: the first ParticipantObject not of type 1 / role 1, queries last).
 */
function participantFields(user: XmlElement, objects: readonly XmlElement[]): Record<string, string> {
  const role = children(user, "RoleIDCode")
    .map(codedValue)
    .find((r) => !MACHINE_ROLES.has(r.code));
  const others = objects.filter(
    (o) =>
      !(
        o.attributes.get("ParticipantObjectTypeCode") === "1" &&
        o.attributes.get("ParticipantObjectTypeCodeRole") === "1"
      ),
  );
  const object = others.find((o) => o.attributes.get("ParticipantObjectTypeCodeRole") !== "24") ?? others[0];
  // A search's query (role 24), base64 in ParticipantObjectQuery: BALP's query entity on export.
  const queryObject = others.find((o) => o.attributes.get("ParticipantObjectTypeCodeRole") === "24");
  const queryText = queryObject ? children(queryObject, "ParticipantObjectQuery")[0]?.text : undefined;
  const objectType = object ? children(object, "ParticipantObjectIDTypeCode").map(codedValue)[0] : undefined;
  const fields = {
    networkAddress: clip(user.attributes.get("NetworkAccessPointID"), LIMITS.networkAddress),
    userName: clip(user.attributes.get("UserName"), LIMITS.userName),
    userRole: clip(role ? (role.display ?? role.code) : undefined, LIMITS.userRole),
    resourceType: clip(objectType ? (objectType.display ?? objectType.code) : undefined, LIMITS.resourceType),
    resourceId: clip(object?.attributes.get("ParticipantObjectID"), LIMITS.id),
    query: queryText === undefined ? undefined : queryFromBase64(queryText),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
}

export interface MappedMessage {
  readonly records: readonly AuditRecord[];
  /** True when the message named no patient: its record is a deployment security event. */
  readonly securityEvent: boolean;
}

/** Maps one AuditMessage (its XML text) to validated records; throws INVALID_RECORD or BAD_ENCODING. */
export function mapAuditMessage(xml: string, source?: string): MappedMessage {
  const root = parseXml(xml);
  if (root.name !== "AuditMessage") throw bad("the root element is not AuditMessage");
  const event = one(root, "EventIdentification");
  const eventId = codedValue(one(event, "EventID"));
  const types = children(event, "EventTypeCode").map(codedValue);
  const purpose = children(event, "PurposeOfUse").map(codedValue)[0];
  const when = event.attributes.get("EventDateTime");
  if (!when) throw bad("EventIdentification has no EventDateTime");
  const outcomeCode = event.attributes.get("EventOutcomeIndicator");
  const outcome = outcomeCode === undefined ? undefined : OUTCOMES[outcomeCode];
  if (outcomeCode !== undefined && outcome === undefined)
    throw bad("EventOutcomeIndicator must be 0, 4, 8 or 12");
  const actionCode = event.attributes.get("EventActionCode");
  if (actionCode !== undefined && !Object.hasOwn(ACTIONS, actionCode))
    throw bad("EventActionCode must be C, R, U, D or E");
  const action = eventId.code === DCM_EXPORT ? "copy" : ACTIONS[(actionCode ?? "R") as keyof typeof ACTIONS];

  const participants = children(root, "ActiveParticipant");
  if (participants.length === 0) throw bad("there is no ActiveParticipant");
  const requestor = participants.find((p) => isTrue(p.attributes.get("UserIsRequestor"), true));
  const user = requestor ?? participants[0]!;
  const userId = user.attributes.get("UserID");
  if (!userId) throw bad("the requesting ActiveParticipant has no UserID");

  const who = participantFields(user, children(root, "ParticipantObjectIdentification"));

  const sources = children(root, "AuditSourceIdentification");
  const auditSource = sources[0]?.attributes.get("AuditSourceID");
  const site = sources[0]?.attributes.get("AuditEnterpriseSiteID");

  const patients = children(root, "ParticipantObjectIdentification")
    .filter(
      (o) =>
        o.attributes.get("ParticipantObjectTypeCode") === "1" &&
        o.attributes.get("ParticipantObjectTypeCodeRole") === "1",
    )
    .map((o) => {
      const raw = o.attributes.get("ParticipantObjectID");
      if (!raw) throw bad("a patient ParticipantObjectIdentification has no ParticipantObjectID");
      const cx = parseCx(raw);
      if (!cx.id) throw bad("a patient's ParticipantObjectID has an empty CX.1");
      return cx;
    });

  const detailOf = (authority: string | undefined) =>
    [
      `ATNA EventID ${describe(eventId)}`,
      ...types.map((t) => `EventTypeCode ${describe(t)}`),
      ...(actionCode ? [`EventActionCode ${actionCode}`] : []),
      ...(authority ? [`patient ID assigning authority ${authority}`] : []),
      `user ${userId}${user.attributes.get("UserName") ? ` (${user.attributes.get("UserName")})` : ""}${requestor ? "" : " (no participant marked as requestor)"}`,
      ...(user.attributes.get("NetworkAccessPointID")
        ? [
            `network access point ${user.attributes.get("NetworkAccessPointID")}${user.attributes.get("NetworkAccessPointTypeCode") ? ` (type ${user.attributes.get("NetworkAccessPointTypeCode")})` : ""}`,
          ]
        : []),
      ...(auditSource ? [`audit source ${auditSource}${site ? ` at ${site}` : ""}`] : []),
      ...(source ? [`received from ${source}`] : []),
    ]
      .join("; ")
      .slice(0, 1000);

  // Replays of the same message (a sender retrying after a lost connection) are one event: the
  // source event ID is the message's hash, so the node's idempotency keys catch the repeat.
  const digest = toBase64(sha256(new TextEncoder().encode(xml))).replace(/=+$/, "");
  const base = {
    time: when,
    userId,
    action,
    ...(outcome ? { outcome } : {}),
    ...(purpose ? { purposeOfUse: purpose.code } : {}),
    ...who,
    ...(types.some((t) => t.code === DCM_EMERGENCY_OVERRIDE_STARTED) ? { emergency: true } : {}),
  };
  const build = (patientId: string, authority: string | undefined, n: number) => {
    try {
      return parseAuditRecord({
        ...base,
        patientId,
        sourceEventId: `atna:${digest}:${n}`,
        detail: detailOf(authority),
      });
    } catch (error) {
      // The record validator names the field; the message is refused whole.
      throw bad((error as Error).message);
    }
  };
  if (patients.length === 0)
    return { records: [build(SECURITY_EVENTS_PATIENT, undefined, 0)], securityEvent: true };
  return { records: patients.map((p, n) => build(p.id, p.authority, n)), securityEvent: false };
}
