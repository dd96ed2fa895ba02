// AuditMessages as ATNA senders write them: DICOM PS3.15 A.5 spelling (csd-code / originalText) and
// the older RFC 3881 spelling (code / displayName), after the IHE ITI TF-2 examples.

export function dicomPatientRead(patient = "P1", user = "dr-lee", time = "2026-11-02T09:15:00Z"): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<AuditMessage xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <EventIdentification EventActionCode="R" EventDateTime="${time}" EventOutcomeIndicator="0">
    <EventID csd-code="110110" codeSystemName="DCM" originalText="Patient Record"/>
    <EventTypeCode csd-code="ITI-9" codeSystemName="IHE Transactions" originalText="PIX Query"/>
    <PurposeOfUse csd-code="TREAT" codeSystemName="v3-ActReason" originalText="treatment"/>
  </EventIdentification>
  <ActiveParticipant UserID="${user}" UserName="Dr Lee" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3" NetworkAccessPointTypeCode="2">
    <RoleIDCode csd-code="110153" codeSystemName="DCM" originalText="Source Role ID"/>
  </ActiveParticipant>
  <ActiveParticipant UserID="pix-manager" UserIsRequestor="false" NetworkAccessPointID="pix.example.org" NetworkAccessPointTypeCode="1"/>
  <AuditSourceIdentification AuditEnterpriseSiteID="St Mary" AuditSourceID="EHR-1">
    <AuditSourceTypeCode csd-code="4"/>
  </AuditSourceIdentification>
  <ParticipantObjectIdentification ParticipantObjectID="${patient}^^^&amp;1.2.840.99.1&amp;ISO" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">
    <ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881" originalText="Patient Number"/>
  </ParticipantObjectIdentification>
  <ParticipantObjectIdentification ParticipantObjectID="q-77" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="24">
    <ParticipantObjectIDTypeCode csd-code="ITI-9" codeSystemName="IHE Transactions"/>
  </ParticipantObjectIdentification>
</AuditMessage>`;
}

export function rfc3881Export(patient = "P2", user = "clerk-9", time = "2026-11-03T14:00:00+01:00"): string {
  return `<AuditMessage><EventIdentification EventActionCode="R" EventDateTime="${time}" EventOutcomeIndicator="4"><EventID code="110106" codeSystemName="DCM" displayName="Export"/><EventTypeCode code="110127" codeSystemName="DCM" displayName="Emergency Override Started"/></EventIdentification><ActiveParticipant UserID="${user}" NetworkAccessPointID="10.9.9.9" NetworkAccessPointTypeCode="2"><RoleIDCode code="110153" codeSystemName="DCM" displayName="Source"/></ActiveParticipant><AuditSourceIdentification AuditSourceID="PACS-2"/><ParticipantObjectIdentification ParticipantObjectID="${patient}" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"><ParticipantObjectIDTypeCode code="2"/></ParticipantObjectIdentification></AuditMessage>`;
}

export function loginFailure(user = "dr-who", time = "2026-11-04T07:00:00Z"): string {
  return `<AuditMessage><EventIdentification EventActionCode="E" EventDateTime="${time}" EventOutcomeIndicator="4"><EventID csd-code="110114" codeSystemName="DCM" originalText="User Authentication"/><EventTypeCode csd-code="110122" codeSystemName="DCM" originalText="Login"/></EventIdentification><ActiveParticipant UserID="${user}" UserIsRequestor="true" NetworkAccessPointID="10.0.0.66" NetworkAccessPointTypeCode="2"/><AuditSourceIdentification AuditSourceID="EHR-1"/></AuditMessage>`;
}

/** An RFC 5424 message carrying `xml` as ATNA senders frame it (MSGID IHE+RFC-3881). */
export function syslogMessage(xml: string, host = "ehr.example.org"): string {
  return `<85>1 2026-11-02T09:15:01.123Z ${host} EHR 4711 IHE+RFC-3881 - \uFEFF${xml}`;
}

/** RFC 5425 4.3 octet-counting: `MSG-LEN SP SYSLOG-MSG`. */
export function octetFrame(message: string): Buffer {
  const body = Buffer.from(message, "utf8");
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
