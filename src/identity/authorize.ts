// What each role may do, decided from the log-derived registry and nothing else.
//
//   submit-records       an EHR source, in its own name, or for a device it speaks for (a FHIR event
//                        observed by a Device that is not itself an enrolled identity)
//   read-trail           a patient (own trail) or an audit company granted the patient now
//   read-query-history   the patient only (who looked at my trail)
//   manage-identities    an admin (enroll, revoke)
//   manage-grants        an admin (grant, end a grant)
//   read-key-audit       an admin or the privacy office (custodian): the log's acts on keys and access,
//                        which name no patient (src/identity/key-audit.ts)
//   read-refusals        the privacy office (custodian): every refused request sealed to it
//   read-security-events the privacy office (custodian): the deployment's security events trail
//   read-log             any enrolled identity (checkpoints, proofs, tiles); witnesses and mirrors
//                        may do nothing else
//   mirror-log           a node (a mirror): the encrypted content and the blinded keys beside the tree
//
// An admin manages but cannot read trails; nobody reads a trail by being an admin.

import type { Registry } from "./registry.js";
import type { Role } from "./roles.js";

export const OPERATIONS = [
  "submit-records",
  "read-trail",
  "read-query-history",
  "manage-identities",
  "manage-grants",
  "read-key-audit",
  "read-refusals",
  "read-security-events",
  "read-log",
  "mirror-log",
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Who is asking: from a verified certificate or token, resolved to a registry subject. */
export interface Caller {
  readonly uri: string;
  readonly role: Role;
  readonly id: string;
  /** The registry subject: the ID, or `tag:<hex>` for a patient. */
  readonly subject: string;
  /** The Ed25519 key the caller proved possession of (TLS or signed challenge). */
  readonly signingKey: Uint8Array;
}

export interface Target {
  /** The patient concerned, as a registry subject (`tag:<hex>`). */
  readonly patient?: string;
  /** For submissions: the source named in the records. */
  readonly source?: string;
  /**
   * For submissions: when the record was observed by a Device (FHIR source.observer), the names the
   * device goes by. A source speaks for a device no enrolled identity goes by.
   */
  readonly device?: readonly string[];
}

export type Decision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly code: "NOT_AUTHORIZED" | "NOT_AUTHENTICATED";
      readonly reason: string;
    };

const deny = (reason: string): Decision => ({ allowed: false, code: "NOT_AUTHORIZED", reason });

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** True when some enrolled identity (of any role but patient, whose names are not kept) has this ID. */
function isEnrolledName(registry: Registry, name: string): boolean {
  return registry.identities().some((identity) => identity.role !== "patient" && identity.subject === name);
}

export function authorize(
  registry: Registry,
  caller: Caller,
  operation: Operation,
  target: Target,
  at: number,
): Decision {
  const enrolled = registry.active(caller.role, caller.subject, at);
  if (!enrolled || !sameKey(enrolled.signingKey, caller.signingKey)) {
    return {
      allowed: false,
      code: "NOT_AUTHENTICATED",
      reason: "this identity is not enrolled in the log, or has been revoked or replaced",
    };
  }
  switch (operation) {
    case "read-log":
      return { allowed: true };
    case "mirror-log":
      return caller.role === "node"
        ? { allowed: true }
        : deny("only a node (a mirror) copies the log's content");
    case "submit-records":
      if (caller.role !== "ehr-source") return deny("only an EHR source submits records");
      if (target.source !== undefined && target.source !== caller.id) {
        if (target.device !== undefined && target.device.length > 0) {
          const enrolled = target.device.find((name) => name !== caller.id && isEnrolledName(registry, name));
          return enrolled === undefined
            ? { allowed: true }
            : deny("the observing device is an enrolled identity: it submits in its own name");
        }
        return deny("an EHR source submits records only in its own name");
      }
      return { allowed: true };
    case "read-trail":
      if (target.patient === undefined) return deny("no patient named");
      if (caller.role === "patient")
        return caller.subject === target.patient
          ? { allowed: true }
          : deny("a patient reads only their own trail");
      if (caller.role === "auditor")
        return registry.isGranted(caller.id, target.patient, at)
          ? { allowed: true }
          : deny("the audit company is not granted this patient now");
      return deny(`a ${caller.role} does not read audit trails`);
    case "read-query-history":
      if (target.patient === undefined) return deny("no patient named");
      return caller.role === "patient" && caller.subject === target.patient
        ? { allowed: true }
        : deny("only the patient reads who looked at their trail");
    case "read-key-audit":
      return caller.role === "admin" || caller.role === "custodian"
        ? { allowed: true }
        : deny("only an admin or the privacy office reads the key audit");
    case "read-refusals":
      return caller.role === "custodian"
        ? { allowed: true }
        : deny("only the privacy office reads every refused request");
    case "read-security-events":
      return caller.role === "custodian"
        ? { allowed: true }
        : deny("only the privacy office reads the deployment's security events here");
    case "manage-identities":
    case "manage-grants":
      return caller.role === "admin"
        ? { allowed: true }
        : deny("only an admin manages identities and grants");
  }
}
