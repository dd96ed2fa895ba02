// Filters a reader applies to opened records. The node cannot read records, so every filter beyond the
// time window runs here, after verification and decryption, over the sealed fields.

import type { AuditRecord } from "../core/record/index.js";

export interface RecordFilter {
  /** Exact user ID. */
  readonly user?: string;
  readonly action?: string;
  readonly emergency?: boolean;
  readonly purpose?: string;
  /** Exact network address (IP or host name) of the accessing client. */
  readonly networkAddress?: string;
  /** Exact resource type (e.g. "Observation") and resource ID of the accessed resource. */
  readonly resourceType?: string;
  readonly resourceId?: string;
  /** Part of the user's display name, any case ("okafor" finds "Dr. Ada Okafor"). */
  readonly userName?: string;
  /** Exact role and department, any case. */
  readonly userRole?: string;
  readonly department?: string;
}

const sameText = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();

/** True when the record passes every filter given (an absent filter passes all). */
export function matchesRecordFilter(record: AuditRecord, f: RecordFilter): boolean {
  if (f.user !== undefined && record.userId !== f.user) return false;
  if (f.action !== undefined && record.action !== f.action) return false;
  if (f.emergency !== undefined && (record.emergency === true) !== f.emergency) return false;
  if (f.purpose !== undefined && record.purposeOfUse !== f.purpose) return false;
  if (f.networkAddress !== undefined && !sameText(record.networkAddress, f.networkAddress)) return false;
  if (f.resourceType !== undefined && record.resourceType !== f.resourceType) return false;
  if (f.resourceId !== undefined && record.resourceId !== f.resourceId) return false;
  if (f.userName !== undefined && !(record.userName ?? "").toLowerCase().includes(f.userName.toLowerCase()))
    return false;
  if (f.userRole !== undefined && !sameText(record.userRole, f.userRole)) return false;
  if (f.department !== undefined && !sameText(record.department, f.department)) return false;
  return true;
}
