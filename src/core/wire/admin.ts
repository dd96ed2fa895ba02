// Live administration (src/service/routes/admin-routes.ts, docs/identity.md#live-administration):
// enrollment with a holder's signed request or a bundle the node makes, key replacement, patient tags
// for the grants an admin signs, and the node's epoch-key cache.

import { z } from "zod";
import { ID_PATTERN, ROLES } from "./names.js";

/** The `format` of a holder's enrollment request (src/identity/enrollment-request.ts). */
export const ENROLLMENT_REQUEST_FORMAT = "custos-enrollment-request";
/** Patients per tag request: a grant entry names at most 1500 (MAX_PATIENTS_PER_GRANT). */
export const MAX_PATIENT_TAGS = 1500;

const Base64Key = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");
const Host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:-]+$/, "a DNS name or an IP address");

export const EnrollmentRequestSchema = z
  .object({
    format: z.literal(ENROLLMENT_REQUEST_FORMAT),
    version: z.literal(1),
    deployment: z.string().max(63),
    role: z.enum(ROLES),
    id: z.string().regex(ID_PATTERN),
    signingKey: Base64Key,
    encryptionKey: Base64Key,
    createdAt: z.number().int(),
    signature: Base64Key,
  })
  .strict();

const Certificates = z.object({
  uri: z.string(),
  signingCertificate: z.string(),
  encryptionCertificate: z.string(),
  caCertificate: z.string(),
  log: z.object({ origin: z.string(), verifierKey: z.string() }).optional(),
});

const Enrolled = z.object({ index: z.number(), uri: z.string(), notAfter: z.number() });

/** Body of POST /v1/admin/enrollments: a holder's request, or (without one) a bundle the node makes. */
export const EnrollmentBody = z
  .object({
    request: EnrollmentRequestSchema.optional(),
    role: z.enum(ROLES).optional(),
    id: z.string().regex(ID_PATTERN).optional(),
    /** The new bundle's passphrase (operator-generated keys only); it never leaves this request. */
    passphrase: z.string().min(8).max(1024).optional(),
    days: z.number().int().min(1).max(3650).optional(),
    hosts: z.array(Host).max(32).optional(),
  })
  .strict();
export type EnrollmentBodyType = z.infer<typeof EnrollmentBody>;

export const EnrollmentReply = Enrolled.extend({
  certificates: Certificates.optional(),
  bundle: z.record(z.string(), z.unknown()).optional(),
});
export const KeyReplacementReply = Enrolled.extend({
  revoked: z.number(),
  certificates: Certificates.optional(),
  bundle: z.record(z.string(), z.unknown()).optional(),
});

export const PatientTagsRequest = z
  .object({ patients: z.array(z.string().regex(ID_PATTERN)).min(1).max(MAX_PATIENT_TAGS) })
  .strict();
export const PatientTagsReply = z.object({ tags: z.array(z.string()) });

export const EpochKeyStats = z.object({
  hits: z.number(),
  misses: z.number(),
  epochsStarted: z.number(),
  epochsEnded: z.number(),
  swept: z.number(),
  active: z.number(),
});
export const EndEpochsRequest = z.object({}).strict().optional();
export const EndEpochsReply = z.object({ ended: z.number(), stats: EpochKeyStats });

/** Rows per POST /v1/admin/bulk-enrollments (each request's enrollments are a few atomic appends). */
export const MAX_BULK_ROWS = 10_000;
export const BULK_KINDS = ["patient", "auditor", "ehr-source", "custodian", "grant"] as const;

/** One row of a bulk enrollment: the CSV file's columns (docs/identity.md "Bulk onboarding"). */
export const BulkRowSchema = z
  .object({
    kind: z.enum(BULK_KINDS),
    id: z.string().max(128),
    /** The holder's own public keys (raw Ed25519 and X25519, base64); both or neither. */
    signingKey: Base64Key.optional(),
    encryptionKey: Base64Key.optional(),
    /** A grant's audit company. */
    auditor: z.string().max(128).optional(),
  })
  .strict();
export type BulkRowType = z.infer<typeof BulkRowSchema>;

/** The body: a JSON array of rows, or NDJSON (one row per line); checked row by row in the handler. */
export const BulkEnrollmentBody = z.unknown();
const Flag = z.enum(["true", "false"]).optional();
export const BulkEnrollmentQuery = z
  .object({
    /** Plan only: the counts, nothing written. */
    dryRun: Flag,
    /** Identities enrolled with other public keys than their row's get the row's keys. */
    force: Flag,
    /** Validity of what is enrolled, in days (default 365). */
    days: z.coerce.number().int().min(1).max(3650).optional(),
  })
  .strict();

const BulkCountsSchema = z.object({
  patients: z.number(),
  auditors: z.number(),
  /** Of this request's grant rows, those in force. */
  grantedPairs: z.number(),
});
export const BulkEnrollmentReply = z.object({
  dryRun: z.boolean(),
  rows: z.number(),
  before: BulkCountsSchema,
  identities: z.object({
    listed: z.number(),
    alreadyEnrolled: z.number(),
    /** Enrolled with other keys than the row's and left so (no `force`). */
    otherKeys: z.number(),
    /** Enrolled from their public keys (or, in a dry run, to be). */
    enrolled: z.number(),
    /** Keys replaced with the row's (`force`). */
    replaced: z.number(),
    /** Rows without public keys not enrolled yet: the node makes no bundles in bulk (enroll them one by one). */
    withoutKeys: z.array(z.object({ role: z.string(), id: z.string() })),
  }),
  grants: z.object({
    listed: z.number(),
    alreadyInForce: z.number(),
    /** Grants to sign (an admin signs grants itself: POST /v1/admin/patient-tags, then /v1/grants). */
    toSign: z.array(z.object({ auditor: z.string(), patients: z.array(z.string()) })),
  }),
  /** After this request's enrollments (absent in a dry run). */
  after: BulkCountsSchema.optional(),
});

/** The hospital's staff directory an admin uploads (POST /v1/admin/staff-directory). */
export const MAX_STAFF_PEOPLE = 100_000;
const StaffText = z.string().max(200);
export const StaffDirectoryUpload = z
  .object({
    people: z
      .array(
        z
          .object({
            id: StaffText.min(1),
            name: StaffText.min(1),
            role: StaffText.optional(),
            department: StaffText.optional(),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_STAFF_PEOPLE),
  })
  .strict();
export const StaffDirectoryUploadReply = z.object({
  /** The directory's log entry. */
  index: z.number(),
  /** People listed. */
  people: z.number(),
  /** Readers it is sealed to (patients, audit companies, the privacy office), by role. */
  readers: z.object({ patient: z.number(), auditor: z.number(), custodian: z.number() }),
});
