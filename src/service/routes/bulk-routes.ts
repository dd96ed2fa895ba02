// POST /v1/admin/bulk-enrollments (docs/identity.md "Bulk onboarding"): bulk onboarding on a running
// node, with the semantics of the offline `custos enroll --bulk --data` (src/identity/bulk-enroll.ts):
// only identities not enrolled are enrolled, a dry run writes nothing, `force` replaces public keys
// that differ from the row's, and a request cut off (the client killed, the connection lost) is sent
// again and enrolls only what is missing, since each log append is atomic. Grants are not signed here:
// an admin signs its grants itself (the node cannot forge one), so the reply lists the grants missing
// and `custos enroll --bulk --server` signs and posts them (POST /v1/grants).

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { CustosError } from "../../core/index.js";
import {
  BulkEnrollmentBody,
  BulkEnrollmentQuery,
  BulkEnrollmentReply,
  BulkRowSchema,
  type BulkRowType,
  MAX_BULK_ROWS,
} from "../../core/wire/index.js";
import { checkBulkRows, planBulk, publicKeyBatches, registryCounts } from "../../identity/index.js";
import type { ServiceContext } from "../context.js";

/** The body's rows (a JSON array, or NDJSON text), each checked; a bad one names its row number. */
function rowsOf(body: unknown): (BulkRowType & { line: number })[] {
  let values: unknown[];
  if (typeof body === "string") {
    values = [];
    const lines = body.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === "") continue;
      try {
        values.push(JSON.parse(line));
      } catch {
        throw new CustosError("BAD_ARGUMENT", `row ${values.length + 1} (line ${i + 1}) is not JSON`);
      }
    }
  } else if (Array.isArray(body)) {
    values = body;
  } else {
    throw new CustosError(
      "BAD_ARGUMENT",
      "the body is a JSON array of rows, or NDJSON (application/x-ndjson), one row per line",
    );
  }
  if (values.length > MAX_BULK_ROWS)
    throw new CustosError(
      "BAD_ARGUMENT",
      `at most ${MAX_BULK_ROWS} rows per request (${values.length} sent): send the file in parts`,
    );
  return values.map((value, i) => {
    const parsed = BulkRowSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
      throw new CustosError("BAD_ARGUMENT", `row ${i + 1}: ${field}${issue.message}`);
    }
    return { ...parsed.data, line: i + 1 };
  });
}

export function registerBulkEnrollmentRoute(app: FastifyInstance, ctx: ServiceContext): void {
  const { deployment } = ctx;
  // One bulk request at a time: each plans against the registry the previous one left.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };

  app.withTypeProvider<ZodTypeProvider>().post(
    "/v1/admin/bulk-enrollments",
    {
      schema: {
        summary: "Bulk onboarding (admins): enroll the identities of a batch that are missing",
        description: `Rows as the bulk CSV file's (kind, id, signingKey, encryptionKey, auditor), as a JSON array or NDJSON, at most ${MAX_BULK_ROWS.toLocaleString("en-US")} per request. Identities with the holder's public keys that are not enrolled are enrolled (CA-signed registry entries without certificates, 2,000 per atomic log append); those enrolled already are left out, so a request cut off is sent again and enrolls only what is missing. \`force=true\`: an identity enrolled with other public keys gets the row's (revoked and enrolled again in one append). \`dryRun=true\`: the counts only, nothing written. Rows without keys are listed, not enrolled (the node makes bundles one at a time: POST /v1/admin/enrollments); grants missing are listed for the admin to sign (POST /v1/grants).`,
        tags: ["admin"],
        querystring: BulkEnrollmentQuery,
        body: BulkEnrollmentBody,
        response: { 200: BulkEnrollmentReply },
      },
    },
    async (request) => {
      const caller = ctx.callerOf(request);
      await ctx.allow(caller, "manage-identities", {});
      const rows = rowsOf(request.body);
      if (rows.some((r) => r.kind === "grant")) await ctx.allow(caller, "manage-grants", {});
      // Checked whole before anything is written: a bad row changes nothing.
      const file = checkBulkRows(rows, (line) => `row ${line}`);
      const dryRun = request.query.dryRun === "true";
      const force = request.query.force === "true";
      return serially(async () => {
        const before = registryCounts(deployment, file);
        const plan = planBulk(deployment, file, { force });
        const enrolled = plan.enroll.filter((i) => i.keys !== undefined).length;
        if (!dryRun) {
          for (const batch of publicKeyBatches(plan))
            await deployment.enrollPublicKeys(batch, request.query.days);
          // A patient's new key is a new reader: their next record starts a new key epoch.
          for (const i of plan.replace) if (i.role === "patient") deployment.vault.rotate(i.id);
        }
        return {
          dryRun,
          rows: rows.length,
          before,
          identities: {
            listed: file.identities.length,
            alreadyEnrolled: plan.alreadyEnrolled,
            otherKeys: plan.otherKeys,
            enrolled,
            replaced: plan.replace.length,
            withoutKeys: plan.enroll
              .filter((i) => i.keys === undefined)
              .map((i) => ({ role: i.role, id: i.id })),
          },
          grants: {
            listed: file.grants.length,
            alreadyInForce: plan.alreadyGranted,
            toSign: [...plan.grants].map(([auditor, patients]) => ({ auditor, patients })),
          },
          ...(dryRun ? {} : { after: registryCounts(deployment, file) }),
        };
      });
    },
  );
}
