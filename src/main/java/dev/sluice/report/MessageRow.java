package dev.sluice.report;

/**
 * One row of the {@code messages} table (see {@link ReportDatabase} for the schema): one message
 * event of a tracking log or maillog. Fields not known for a format stay null ({@code -1} for the
 * numbers). Not thread-safe; sinks copy what they keep.
 */
final class MessageRow {
  long tsMicros;
  String server;
  String connector;
  String event;
  String source;
  String messageId;
  String queueId;
  String sessionId;
  String clientIp;
  String clientHost;
  String originalClientIp;
  String serverIp;
  String serverHost;
  String sender;
  String recipients;
  int recipientCount = -1;
  long size = -1;
  String status;
  String dsn;
  String relay;
  String subject;
  String directionality;
  long sourceLine;
  String logType;

  MessageRow copy() {
    MessageRow c = new MessageRow();
    c.tsMicros = tsMicros;
    c.server = server;
    c.connector = connector;
    c.event = event;
    c.source = source;
    c.messageId = messageId;
    c.queueId = queueId;
    c.sessionId = sessionId;
    c.clientIp = clientIp;
    c.clientHost = clientHost;
    c.originalClientIp = originalClientIp;
    c.serverIp = serverIp;
    c.serverHost = serverHost;
    c.sender = sender;
    c.recipients = recipients;
    c.recipientCount = recipientCount;
    c.size = size;
    c.status = status;
    c.dsn = dsn;
    c.relay = relay;
    c.subject = subject;
    c.directionality = directionality;
    c.sourceLine = sourceLine;
    c.logType = logType;
    return c;
  }
}
