// The gateway's FHIR R4 CapabilityStatement (GET /metadata): what FHIR tools read before they search.

const PARAMS: readonly { name: string; type: string; documentation: string }[] = [
  { name: "patient", type: "reference", documentation: "the patient (Patient/<id> or <id>); comma = any of" },
  { name: "date", type: "date", documentation: "recorded; prefixes ge, gt, le, lt, eq; repeat for a range" },
  {
    name: "agent",
    type: "reference",
    documentation: "a participant: who.reference, who.identifier or the user ID",
  },
  { name: "agent-name", type: "string", documentation: "part of a participant's display name, any case" },
  { name: "address", type: "token", documentation: "a participant's network address" },
  { name: "action", type: "token", documentation: "C, R, U, D or E" },
  { name: "entity", type: "reference", documentation: "an entity's what (reference or identifier)" },
  { name: "outcome", type: "token", documentation: "0, 4, 8 or 12" },
  { name: "_sort", type: "string", documentation: "-date (default, newest first) or date" },
  { name: "_count", type: "number", documentation: "entries per page, 1-1000 (default 50)" },
  { name: "_offset", type: "number", documentation: "paging: the next link carries it" },
];

export function capabilityStatement(baseUrl: string, software: { version: string }): Record<string, unknown> {
  return {
    resourceType: "CapabilityStatement",
    status: "active",
    date: new Date().toISOString(),
    kind: "instance",
    software: { name: "Custos FHIR gateway", version: software.version },
    implementation: {
      description:
        "A local verifying gateway: every reply of the Custos node is verified (inclusion and consistency proofs, witness cosignatures) and decrypted with the holder's keys before it is answered.",
      url: baseUrl,
    },
    fhirVersion: "4.0.1",
    format: ["json"],
    rest: [
      {
        mode: "server",
        documentation: "IHE ITI-81 Retrieve ATNA Audit Event, over the holder's own verified trail(s).",
        resource: [
          {
            type: "AuditEvent",
            profile: "http://hl7.org/fhir/StructureDefinition/AuditEvent",
            interaction: [{ code: "read" }, { code: "search-type" }],
            searchParam: PARAMS.filter((p) => !p.name.startsWith("_")).map((p) => ({
              name: p.name,
              definition: `http://hl7.org/fhir/SearchParameter/AuditEvent-${p.name}`,
              type: p.type,
              documentation: p.documentation,
            })),
          },
        ],
      },
    ],
  };
}
