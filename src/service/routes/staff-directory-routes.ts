// The hospital's staff directory (docs/portal.md "Staff directory"): an admin uploads who each user ID
// is (name, role, department) over mutual TLS; the node seals it to every reader enrolled now (patients,
// audit companies, the privacy office) and appends it to the log, keeping it in clear nowhere. A reader
// fetches the newest directory sealed to them, with an inclusion proof, and opens it itself, so records
// that carry only a user ID read with a name.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { STAFF_DIRECTORY_LOOKUP_KEY } from "../../core/entry/index.js";
import { CustosError } from "../../core/index.js";
import {
  NoticesReply,
  NoticesRequest,
  QuorumQuery,
  StaffDirectoryUpload,
  StaffDirectoryUploadReply,
} from "../../core/wire/index.js";
import {
  checkStaff,
  type Recipient,
  recipientFingerprint,
  sealStaffDirectory,
  staffDirectorySealedTo,
} from "../../records/index.js";
import type { ServiceContext } from "../context.js";
import { provenNotices } from "../notice-scan.js";
import { consistencyFrom } from "../trail-query.js";

/** Directories looked at, newest first, for one sealed to the reader (a reader enrolled after many). */
const DIRECTORY_SCAN_LIMIT = 64;
/** Read a few at a time: each holds a wrapped key per reader. */
const DIRECTORY_CHUNK = 4;
/** The roles a directory is sealed to: whoever reads records. */
const READER_ROLES = ["patient", "auditor", "custodian"] as const;

export function registerStaffDirectoryRoutes(
  app: FastifyInstance,
  ctx: ServiceContext,
  mode: "mtls" | "portal",
): void {
  const { deployment, ledger, now } = ctx;
  const r = app.withTypeProvider<ZodTypeProvider>();

  if (mode === "mtls")
    r.post(
      "/v1/admin/staff-directory",
      {
        schema: {
          summary:
            "Upload the hospital's staff directory (admins): names for user IDs, sealed to the readers",
          description:
            "Who each user ID in the records is: name, and optionally role and department. The node seals the directory to every patient, audit company and privacy office enrolled now (AES-256-GCM under a fresh key, wrapped with HPKE for each) and appends it as one log entry; it is stored in clear nowhere. Readers use the newest one sealed to them, also for records written before it. Upload it again to reach readers enrolled since.",
          tags: ["admin"],
          body: StaffDirectoryUpload,
          response: { 200: StaffDirectoryUploadReply },
        },
      },
      async (request) => {
        const caller = ctx.callerOf(request);
        await ctx.allow(caller, "manage-identities", {});
        const people = checkStaff(request.body.people);
        const at = now();
        const readers: Recipient[] = [];
        const counts = { patient: 0, auditor: 0, custodian: 0 };
        for (const role of READER_ROLES) {
          for (const identity of deployment.registry.withRole(role)) {
            if (!active(identity, at)) continue;
            readers.push({ id: identity.subject, role, encryptionKey: identity.encryptionKey });
            counts[role]++;
          }
        }
        if (readers.length === 0)
          throw new CustosError("KEY_MISSING", "nobody is enrolled to read a staff directory yet");
        const item = sealStaffDirectory(at, caller.uri, people, readers);
        const [result] = await deployment.vault.ledger.append([item]);
        request.log.info(
          { index: result!.index, people: people.length, readers: readers.length },
          "staff directory uploaded",
        );
        return { index: result!.index, people: people.length, readers: counts };
      },
    );

  r.post(
    "/v1/staff-directory",
    {
      schema: {
        summary: "The newest staff directory sealed to the caller, with an inclusion proof",
        description: `Patients, audit companies and the privacy office: the newest of the hospital's staff directories that is sealed to the caller's key (at most one item; none when no directory reaches this reader), with an inclusion proof against \`checkpoint\`, in the shape of /v1/query-history. The client checks it and opens it with its own key. The newest ${DIRECTORY_SCAN_LIMIT} directories are looked at. Not itself recorded.`,
        tags: ["trails"],
        body: NoticesRequest,
        querystring: QuorumQuery,
        response: { 200: NoticesReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "read-log", {});
      const enrolled = deployment.registry.active(caller.role, caller.subject, now());
      if (!enrolled || !(READER_ROLES as readonly string[]).includes(caller.role))
        throw new CustosError(
          "NOT_AUTHORIZED",
          "only patients, audit companies and the privacy office read the staff directory",
        );
      const reader = recipientFingerprint(enrolled.encryptionKey);
      const checkpoint = await ctx.checkpoint(request.query.quorum);
      const consistency = await consistencyFrom(ledger, request.body?.trustedSize, checkpoint.size);
      let found: { index: number; data: Uint8Array; content?: Uint8Array | undefined } | undefined;
      let before = checkpoint.size;
      for (let scanned = 0; scanned < DIRECTORY_SCAN_LIMIT && !found; scanned += DIRECTORY_CHUNK) {
        const rows = await ledger.store.entriesWithContentsByLookupKey({
          key: STAFF_DIRECTORY_LOOKUP_KEY,
          toIndex: before,
          descending: true,
          limit: DIRECTORY_CHUNK,
        });
        found = rows.find((row) => row.content !== undefined && staffDirectorySealedTo(row.content, reader));
        if (rows.length < DIRECTORY_CHUNK) break;
        before = rows[rows.length - 1]!.index;
      }
      const items = found
        ? await provenNotices(
            ledger,
            [{ index: found.index, kind: found.data[1]!, entry: found.data, content: found.content }],
            checkpoint.size,
          )
        : [];
      return {
        checkpoint: checkpoint.note,
        consistency,
        ...(checkpoint.behind === undefined ? {} : { behind: checkpoint.behind }),
        items,
      };
    },
  );
}

function active(identity: { readonly revokedAt?: number; readonly notAfter: number }, at: number): boolean {
  return identity.revokedAt === undefined && at <= identity.notAfter;
}
