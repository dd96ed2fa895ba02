// The ATNA area's public surface: the IHE ATNA syslog feed (RFC 5425 framing, RFC 5424 messages,
// DICOM AuditMessage mapping) that turns a hospital's audit messages into records.

export { SECURITY_EVENTS_PATIENT } from "./audit-message.js";
export { type FrameResult, type SyslogFeed, startSyslogFeed } from "./syslog-listener.js";
