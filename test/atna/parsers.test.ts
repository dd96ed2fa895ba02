// The ATNA parsers on their own: RFC 5425 framing, RFC 5424 headers, DICOM AuditMessage mapping in both
// spellings; and fast-check properties that hostile input only ever raises a CustosError.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mapAuditMessage, parseCx, SECURITY_EVENTS_PATIENT } from "../../src/atna/audit-message.js";
import { FrameReader } from "../../src/atna/frame-reader.js";
import { mapFrame } from "../../src/atna/syslog-listener.js";
import { parseSyslogMessage } from "../../src/atna/syslog-message.js";
import { parseXml } from "../../src/atna/xml-tree.js";
import { CustosError } from "../../src/core/errors.js";
import { recordToAuditEvent } from "../../src/core/record/index.js";
import { dicomPatientRead, loginFailure, octetFrame, rfc3881Export, syslogMessage } from "./fixtures.js";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");

function frames(reader: FrameReader): string[] {
  const out: string[] = [];
  for (let f = reader.next(); f; f = reader.next())
    out.push(f.kind === "message" ? text(f.bytes) : `oversize ${f.length}`);
  return out;
}

describe("RFC 5425 framing", () => {
  it("splits octet-counted frames however the stream is chunked", () => {
    const stream = Buffer.concat([octetFrame("<13>1 - - - - - - one"), octetFrame("<13>1 - - - - - - twö")]);
    for (let cut = 1; cut < stream.length; cut++) {
      const reader = new FrameReader(4096);
      const seen: string[] = [];
      reader.push(stream.subarray(0, cut));
      seen.push(...frames(reader));
      reader.push(stream.subarray(cut));
      seen.push(...frames(reader));
      expect(seen).toEqual(["<13>1 - - - - - - one", "<13>1 - - - - - - twö"]);
    }
  });

  it("tolerates non-transparent LF framing and stray line ends", () => {
    const reader = new FrameReader(4096);
    reader.push(Buffer.from("<13>1 - - - - - - a\n<13>1 - - - - - - b\r\n\n9 <13>1 x y"));
    expect(frames(reader)).toEqual(["<13>1 - - - - - - a", "<13>1 - - - - - - b", "<13>1 x y"]);
  });

  it("skips an oversize frame whole and goes on with the next", () => {
    const reader = new FrameReader(2048);
    const big = `<13>1 - - - - - - ${"x".repeat(3000)}`;
    const stream = Buffer.concat([octetFrame(big), octetFrame("<13>1 - - - - - - after")]);
    reader.push(stream.subarray(0, 100));
    expect(frames(reader)).toEqual([`oversize ${Buffer.byteLength(big)}`]);
    reader.push(stream.subarray(100, 2000));
    expect(frames(reader)).toEqual([]);
    reader.push(stream.subarray(2000));
    expect(frames(reader)).toEqual(["<13>1 - - - - - - after"]);
  });

  it("refuses a stream that is not syslog framing", () => {
    for (const bad of ["GET / HTTP/1.1\r\n", "0 x", "12x<13>", "1234567890 x"]) {
      const reader = new FrameReader(4096);
      reader.push(Buffer.from(bad));
      expect(() => reader.next(), bad).toThrow(CustosError);
    }
  });

  it("never throws anything but a CustosError and never returns more bytes than it was given", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const reader = new FrameReader(2048);
        let given = 0;
        let returned = 0;
        try {
          for (const chunk of chunks) {
            reader.push(chunk);
            given += chunk.length;
            for (let f = reader.next(); f; f = reader.next())
              if (f.kind === "message") returned += f.bytes.length;
          }
        } catch (error) {
          expect(error).toBeInstanceOf(CustosError);
        }
        expect(returned).toBeLessThanOrEqual(given);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("RFC 5424 messages", () => {
  it("parses the header, structured data with escapes, and strips the BOM", () => {
    const message = parseSyslogMessage(
      Buffer.from(
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appl\\"ication" eventID="1011\\]"][x@1 a="é"] \uFEFFAn application event',
      ),
    );
    expect(message).toMatchObject({
      facility: 20,
      severity: 5,
      time: Date.UTC(2003, 9, 11, 22, 14, 15, 3),
      hostname: "mymachine.example.com",
      appName: "evntslog",
      procId: undefined,
      msgId: "ID47",
      structuredData: [
        {
          id: "exampleSDID@32473",
          params: [
            ["iut", "3"],
            ["eventSource", 'Appl"ication'],
            ["eventID", "1011]"],
          ],
        },
        { id: "x@1", params: [["a", "é"]] },
      ],
    });
    expect(text(message.msg)).toBe("An application event");
    expect(text(parseSyslogMessage(Buffer.from("<0>1 - - - - - -")).msg)).toBe("");
  });

  it("refuses malformed headers, naming the field", () => {
    const cases: [string, RegExp][] = [
      ["<192>1 - - - - - -", /PRI/],
      ["<013>1 - - - - - -", /PRI/],
      ["<13>2 - - - - - -", /VERSION/],
      ["<13>1 2003-10-11 - - - - -", /timestamp/],
      ["<13>1 2003-10-11T22:14:15.0000001Z - - - - -", /timestamp/],
      [`<13>1 - - ${"a".repeat(49)} - - -`, /APP-NAME/],
      ["<13>1 - - - - - [a b=c]", /name="value"/],
      ["<13>1 - - - - -", /structured data/],
      ["<13>1 - - - - - [a", /not closed/],
      ["<13>1 - - - - - -x", /space/],
    ];
    for (const [message, reason] of cases) {
      expect(() => parseSyslogMessage(Buffer.from(message)), message).toThrow(reason);
    }
  });

  it("never throws anything but a CustosError", () => {
    const header = fc.constantFrom("<13>1 ", "<0>1 - - - - - ", "<85>1 2026-01-01T00:00:00Z h a p m ", "");
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 200 }), (prefix, tail) => {
        try {
          parseSyslogMessage(Buffer.concat([Buffer.from(prefix), tail]));
        } catch (error) {
          expect(error).toBeInstanceOf(CustosError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe("DICOM PS3.15 A.5 audit messages", () => {
  it("maps the DICOM spelling: patient from CX.1, the requestor, the action, outcome and purpose", () => {
    const { records, securityEvent } = mapAuditMessage(dicomPatientRead(), "emr");
    expect(securityEvent).toBe(false);
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record).toMatchObject({
      time: "2026-11-02T09:15:00.000Z",
      patientId: "P1",
      userId: "dr-lee",
      action: "query",
      outcome: "success",
      purposeOfUse: "TREAT",
    });
    expect(record!.sourceEventId).toMatch(/^atna:[A-Za-z0-9+/]{43}:0$/);
    expect(record!.detail).toContain("patient ID assigning authority &1.2.840.99.1&ISO");
    expect(record!.detail).toContain("network access point 10.1.2.3 (type 2)");
    expect(record!.detail).toContain("audit source EHR-1 at St Mary");
    expect(record!.detail).toContain("EventID 110110 (DCM) Patient Record");
    // Who in words and from where; the query object is the accessed object besides the patient.
    expect(record).toMatchObject({
      networkAddress: "10.1.2.3",
      userName: "Dr Lee",
      resourceType: "ITI-9",
      resourceId: "q-77",
    });
    // 110153 Source Role ID is the machine's part, not the user's role.
    expect(record!.userRole).toBeUndefined();
  });

  it("keeps a search's query (ParticipantObjectQuery, base64), and none that is not text", () => {
    const query = "Patient?identifier=urn:oid:1.2.840.99.1|P1&_format=json";
    const withQuery = (base64: string) =>
      dicomPatientRead().replace(
        '<ParticipantObjectIDTypeCode csd-code="ITI-9" codeSystemName="IHE Transactions"/>',
        `<ParticipantObjectIDTypeCode csd-code="ITI-9" codeSystemName="IHE Transactions"/><ParticipantObjectQuery>${base64}</ParticipantObjectQuery>`,
      );
    const [record] = mapAuditMessage(withQuery(Buffer.from(query).toString("base64"))).records;
    expect(record!.query).toBe(query);
    // Exported as BALP's query entity: type 2, role 24, the query in base64.
    const entity = (recordToAuditEvent(record!).entity as { role: { code: string }; query?: string }[]).find(
      (e) => e.role.code === "24",
    );
    expect(Buffer.from(entity!.query!, "base64").toString()).toBe(query);
    // Not base64 of UTF-8 text: the record has no query, and the message is still stored.
    for (const bad of ["not base64!", Buffer.from([0xff, 0xfe, 0x00]).toString("base64")])
      expect(mapAuditMessage(withQuery(bad)).records[0]!.query).toBeUndefined();
    expect(mapAuditMessage(dicomPatientRead()).records[0]!.query).toBeUndefined();
  });

  it("reads the user's role code and a document besides the patient before a query object", () => {
    const xml = dicomPatientRead()
      .replace(
        '<RoleIDCode csd-code="110153" codeSystemName="DCM" originalText="Source Role ID"/>',
        '<RoleIDCode csd-code="110153" codeSystemName="DCM"/><RoleIDCode code="309343006" codeSystemName="SNOMED-CT" displayName="Physician"/>',
      )
      .replace(
        "</AuditMessage>",
        '<ParticipantObjectIdentification ParticipantObjectID="1.2.3.4.5" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3"><ParticipantObjectIDTypeCode csd-code="110180" codeSystemName="DCM" originalText="Study Instance UID"/></ParticipantObjectIdentification></AuditMessage>',
      );
    const [record] = mapAuditMessage(xml).records;
    expect(record).toMatchObject({
      userRole: "Physician",
      resourceType: "Study Instance UID",
      resourceId: "1.2.3.4.5",
    });
    const long = dicomPatientRead().replace('UserName="Dr Lee"', `UserName="${"n".repeat(300)}"`);
    expect(mapAuditMessage(long).records[0]!.userName).toHaveLength(200);
  });

  it("maps the RFC 3881 spelling: export as copy, emergency override, the requestor by default", () => {
    const { records } = mapAuditMessage(rfc3881Export());
    expect(records[0]).toMatchObject({
      time: "2026-11-03T13:00:00.000Z",
      patientId: "P2",
      userId: "clerk-9",
      action: "copy",
      outcome: "minor-failure",
      emergency: true,
    });
  });

  it("keeps an event without a patient as a deployment security event", () => {
    const { records, securityEvent } = mapAuditMessage(loginFailure());
    expect(securityEvent).toBe(true);
    expect(records[0]).toMatchObject({
      patientId: SECURITY_EVENTS_PATIENT,
      userId: "dr-who",
      outcome: "minor-failure",
    });
    expect(records[0]!.detail).toContain("EventID 110114 (DCM) User Authentication");
  });

  it("gives one record per patient, and the same source event IDs for a repeated message", () => {
    const two = dicomPatientRead().replace(
      "</AuditMessage>",
      '<ParticipantObjectIdentification ParticipantObjectID="P9" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/></AuditMessage>',
    );
    const first = mapAuditMessage(two).records;
    expect(first.map((r) => r.patientId)).toEqual(["P1", "P9"]);
    expect(new Set(first.map((r) => r.sourceEventId)).size).toBe(2);
    expect(mapAuditMessage(two).records.map((r) => r.sourceEventId)).toEqual(
      first.map((r) => r.sourceEventId),
    );
  });

  it("reads CX with HL7 escapes and an assigning authority", () => {
    expect(parseCx("12\\S\\3^^^HOSP&1.2.3&ISO^MR")).toEqual({ id: "12^3", authority: "HOSP&1.2.3&ISO" });
    expect(parseCx("77")).toEqual({ id: "77" });
  });

  it("refuses a message it cannot map whole, saying why but not the content", () => {
    const cases: [string, RegExp][] = [
      [dicomPatientRead().replace('EventDateTime="2026-11-02T09:15:00Z"', ""), /EventDateTime/],
      [
        dicomPatientRead().replace('EventOutcomeIndicator="0"', 'EventOutcomeIndicator="3"'),
        /EventOutcomeIndicator/,
      ],
      [dicomPatientRead().replace('EventActionCode="R"', 'EventActionCode="X"'), /EventActionCode/],
      [dicomPatientRead().replace(/UserID="dr-lee"/, ""), /UserID/],
      [dicomPatientRead().replace("P1^^^", "^^^"), /CX\.1/],
      [dicomPatientRead().replace("2026-11-02T09:15:00Z", "yesterday"), /time/],
      ["<Other/>", /AuditMessage/],
      [`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><AuditMessage>&e;</AuditMessage>`, /DOCTYPE/],
      ["<AuditMessage><EventIdentification>", /well-formed/],
      ["<AuditMessage a='1' a='2'/>", /well-formed/],
      [`${"<a>".repeat(40)}${"</a>".repeat(40)}`, /deeper/],
    ];
    for (const [xml, reason] of cases) {
      let error: unknown;
      try {
        mapAuditMessage(xml);
      } catch (e) {
        error = e;
      }
      expect(error, xml.slice(0, 60)).toBeInstanceOf(CustosError);
      expect((error as Error).message).toMatch(reason);
      expect((error as Error).message).not.toContain("dr-lee");
    }
  });

  it("never throws anything but a CustosError on hostile XML or frames", () => {
    const pieces = fc.constantFrom(
      "<AuditMessage>",
      "</AuditMessage>",
      "<EventIdentification ",
      'EventDateTime="2026-01-01T00:00:00Z" ',
      'EventOutcomeIndicator="0">',
      "</EventIdentification>",
      '<EventID csd-code="110110"/>',
      '<EventID code="1"/>',
      '<ActiveParticipant UserID="u"/>',
      '<ParticipantObjectIdentification ParticipantObjectID="p^^^a" ',
      'ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/>',
      "<!DOCTYPE a>",
      "&amp;",
      "&bogus;",
      "<![CDATA[x]]>",
      "<?pi x?>",
      "<!-- c -->",
      '"',
      "<",
      ">",
      "\u0000",
      "\uFFFF",
      "\uD800",
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(pieces, fc.string({ maxLength: 8 })), { maxLength: 30 }), (parts) => {
        const xml = parts.join("");
        for (const run of [() => mapAuditMessage(xml), () => parseXml(xml)]) {
          try {
            run();
          } catch (error) {
            expect(error).toBeInstanceOf(CustosError);
          }
        }
        const mapped = mapFrame(Buffer.from(syslogMessage(xml)), "emr");
        expect("records" in mapped || "rejected" in mapped).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
