package dev.sluice.report;

import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the Exchange-style headered CSV logs: Exchange protocol logs, Exchange message tracking logs
 * and Sluice protocol logs. Columns are mapped by name from the most recent {@code #Fields} line,
 * never by position, so the 2010/2013/2016 layouts and a header that changes mid-file (a service
 * restart after an upgrade appends a new header block) are read alike. One instance per file; not
 * thread-safe.
 */
final class HeaderedLogParser {
  private final LogFormat format;
  private final RowSink sink;
  private final EventRow event = new EventRow();
  private final MessageRow message = new MessageRow();
  private final List<String> fields = new ArrayList<>(32);
  private Map<String, Integer> columns;
  private int width;
  private String logType;
  // Column indexes of the current header (-1 when absent), resolved once per #Fields line.
  private int cTime, cConnector, cListener, cBackend, cSession, cSeq, cLocal, cRemote, cEvent, cData, cContext;
  private int cClientIp, cClientHost, cServerIp, cServerHost, cSource, cEventId, cInternalId, cMessageId,
      cRecipients, cRecipientStatus, cBytes, cRecipientCount, cSubject, cSender, cDirectionality, cOrigClientIp;

  HeaderedLogParser(LogFormat format, RowSink sink) {
    this.format = format;
    this.sink = sink;
    this.logType = format == LogFormat.SLUICE ? "sluice" : format == LogFormat.EXCHANGE_TRACKING ? "tracking" : "receive";
  }

  /** Reads every line; returns how many there were. */
  long parse(BufferedReader in) throws IOException {
    long lineNo = 0;
    String line;
    while ((line = in.readLine()) != null) {
      lineNo++;
      if (lineNo == 1 && !line.isEmpty() && line.charAt(0) == '\uFEFF') {
        line = line.substring(1);
      }
      if (line.isEmpty()) {
        sink.malformed(lineNo, "empty line", line);
      } else if (line.charAt(0) == '#') {
        header(line);
        sink.ignored(lineNo);
      } else if (columns == null) {
        sink.malformed(lineNo, "data before any #Fields header", line);
      } else {
        row(lineNo, line);
      }
    }
    return lineNo;
  }

  private void header(String line) {
    if (line.startsWith("#Log-type:")) {
      if (format == LogFormat.EXCHANGE_PROTOCOL) {
        logType = line.contains("Send") ? "send" : "receive";
      }
    } else if (line.startsWith("#Fields:")) {
      List<String> names = Csv.split(line.substring("#Fields:".length()).trim());
      columns = new HashMap<>();
      for (int i = 0; i < names.size(); i++) {
        columns.put(names.get(i).trim().toLowerCase(java.util.Locale.ROOT), i);
      }
      width = names.size();
      cTime = col("date-time");
      cConnector = col("connector-id");
      cListener = col("listener");
      cBackend = col("backend");
      cSession = col("session-id");
      cSeq = col("sequence-number");
      cLocal = col("local-endpoint");
      cRemote = col("remote-endpoint");
      cEvent = col("event");
      cData = col("data");
      cContext = col("context");
      cClientIp = col("client-ip");
      cClientHost = col("client-hostname");
      cServerIp = col("server-ip");
      cServerHost = col("server-hostname");
      cSource = col("source");
      cEventId = col("event-id");
      cInternalId = col("internal-message-id");
      cMessageId = col("message-id");
      cRecipients = col("recipient-address");
      cRecipientStatus = col("recipient-status");
      cBytes = col("total-bytes");
      cRecipientCount = col("recipient-count");
      cSubject = col("message-subject");
      cSender = col("sender-address");
      cDirectionality = col("directionality");
      cOrigClientIp = col("original-client-ip");
    }
  }

  private int col(String name) {
    return columns.getOrDefault(name, -1);
  }

  private String get(int column) {
    return column < 0 ? null : EventRow.emptyToNull(fields.get(column));
  }

  private void row(long lineNo, String line) {
    if (!Csv.split(line, fields)) {
      sink.malformed(lineNo, "unterminated quote (truncated line?)", line);
      return;
    }
    if (fields.size() != width) {
      sink.malformed(lineNo, "expected " + width + " fields, found " + fields.size(), line);
      return;
    }
    long ts = cTime < 0 ? Timestamps.INVALID : Timestamps.parseIso(fields.get(cTime));
    if (ts == Timestamps.INVALID) {
      sink.malformed(lineNo, "bad date-time", line);
      return;
    }
    if (format == LogFormat.EXCHANGE_TRACKING) {
      tracking(lineNo, ts);
    } else {
      protocol(lineNo, ts, line);
    }
  }

  private void protocol(long lineNo, long ts, String line) {
    EventRow e = event;
    e.tsMicros = ts;
    e.sourceLine = lineNo;
    e.logType = logType;
    if (format == LogFormat.SLUICE) {
      e.connector = get(cListener);
      e.server = get(cBackend);
    } else {
      e.connector = get(cConnector);
      String c = e.connector;
      int slash = c == null ? -1 : c.indexOf('\\');
      e.server = slash < 0 ? null : c.substring(0, slash);
    }
    e.sessionId = get(cSession);
    String seq = get(cSeq);
    e.seq = seq == null ? -1 : parseIntOr(seq, Integer.MIN_VALUE);
    e.event = get(cEvent);
    if (e.sessionId == null && format == LogFormat.SLUICE && "*".equals(e.event)) {
      sink.ignored(lineNo); // not a session's event: a backend's state change, or a note of dropped events
      return;
    }
    if (e.sessionId == null || e.event == null || e.seq == Integer.MIN_VALUE) {
      sink.malformed(lineNo, e.sessionId == null ? "missing session-id" : e.event == null ? "missing event" : "bad sequence-number", line);
      return;
    }
    e.endpoints(get(cLocal), get(cRemote));
    e.data = get(cData);
    e.context = get(cContext);
    sink.event(e);
  }

  private void tracking(long lineNo, long ts) {
    MessageRow m = message;
    m.tsMicros = ts;
    m.sourceLine = lineNo;
    m.logType = logType;
    m.event = get(cEventId);
    m.source = get(cSource);
    m.connector = get(cConnector);
    m.clientIp = get(cClientIp);
    m.clientHost = get(cClientHost);
    m.serverIp = get(cServerIp);
    m.serverHost = get(cServerHost);
    // The log belongs to the server that wrote it: the receiving side of a RECEIVE/DELIVER, the
    // sending side (client-hostname) of a SEND.
    m.server = "SEND".equals(m.event) ? m.clientHost : m.serverHost;
    m.queueId = get(cInternalId);
    m.messageId = get(cMessageId);
    m.sessionId = null;
    m.recipients = get(cRecipients);
    String status = get(cRecipientStatus);
    m.status = status;
    m.dsn = ReplyDsn.ofRecipientStatus(status);
    m.size = parseLongOr(get(cBytes), -1);
    m.recipientCount = (int) parseLongOr(get(cRecipientCount), -1);
    m.subject = get(cSubject);
    m.sender = get(cSender);
    m.directionality = get(cDirectionality);
    m.originalClientIp = get(cOrigClientIp);
    m.relay = null;
    sink.message(m);
  }

  static int parseIntOr(String s, int fallback) {
    long v = parseLongOr(s, Long.MIN_VALUE);
    return v == Long.MIN_VALUE || v > Integer.MAX_VALUE || v < Integer.MIN_VALUE ? fallback : (int) v;
  }

  static long parseLongOr(String s, long fallback) {
    if (s == null || s.isEmpty() || s.length() > 18) {
      return fallback;
    }
    long v = 0;
    int i = s.charAt(0) == '-' ? 1 : 0;
    if (i == s.length()) {
      return fallback;
    }
    for (int k = i; k < s.length(); k++) {
      char c = s.charAt(k);
      if (c < '0' || c > '9') {
        return fallback;
      }
      v = v * 10 + (c - '0');
    }
    return i == 1 ? -v : v;
  }
}
