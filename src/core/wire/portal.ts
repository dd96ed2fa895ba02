// GET /portal/config.json (src/service/routes/portal-routes.ts): what the portal's page needs before
// anyone signs in, and `site`, what the deployment tells people (DIR/portal.json). The page reads it
// as PortalConfig (portal/src/lib/types.ts).

import { z } from "zod";

export const PORTAL_CONFIG_ROUTE = "/portal/config.json";

export const SiteSchema = z
  .object({
    hospital: z.string().optional().describe("the hospital's name, shown on every page"),
    timeZone: z.string().optional().describe("IANA time zone every time is shown and judged in"),
    workingHours: z
      .object({ start: z.string(), end: z.string(), days: z.array(z.string()) })
      .optional()
      .describe('"HH:MM" start and end, and days (sun..sat)'),
    privacyContact: z
      .object({
        name: z.string(),
        email: z.string().optional(),
        phone: z.string().optional(),
        url: z.string().optional(),
      })
      .optional(),
    witnesses: z
      .record(z.string(), z.string())
      .optional()
      .describe("witness key name or URL -> the organisation that runs it"),
  })
  .describe("what the deployment tells people (DIR/portal.json); none of it is used for verification");

export const PortalConfigReply = z.object({
  deployment: z.string(),
  node: z.string().describe("the node's identity URI; login challenges are bound to it"),
  log: z.object({ origin: z.string(), verifierKey: z.string() }),
  witnesses: z.object({
    keys: z.array(z.string()).describe("witness cosigner verifier keys"),
    quorum: z.number().int().min(0).describe("cosignatures a checkpoint needs"),
  }),
  site: SiteSchema,
});
