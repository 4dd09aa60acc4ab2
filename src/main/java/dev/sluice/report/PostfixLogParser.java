package dev.sluice.report;

import java.io.BufferedReader;
import java.io.IOException;
import java.time.LocalDate;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads Postfix maillog lines (protocols.md §6) into both tables.
 *
 * <p>{@code events}: every {@code smtpd} line of a session: {@code +} for {@code connect from},
 * {@code -} for {@code disconnect from}, {@code >} for a reject reply, {@code *} for the rest
 * (including {@code reject_warning:}, which refused nothing); the
 * session id is {@code host/pid/line-of-connect}, because Postfix names sessions by process only.
 * {@code remote_ip} is the address on that line: after XCLIENT the {@code client=} and {@code
 * disconnect} lines name the forwarded client while {@code connect} names the proxy; such lines get
 * context {@code xclient}. With the PROXY protocol every line already names the real client.
 *
 * <p>{@code messages}: a {@code RECEIVE} row per message the server received: smtpd's {@code
 * client=} line (server, session, client) once qmgr has queued that queue id ({@code from=<>,
 * size=, nrcpt= (queue active)}), at qmgr's time, completed with cleanup's {@code message-id}; a
 * queue id that never reaches qmgr (the client left before the end of DATA) is no message. A {@code
 * SEND}/{@code DELIVER}/{@code DEFER}/{@code FAIL} row per delivery attempt ({@code to=}, {@code
 * relay=}, {@code dsn=}, {@code status=}), a {@code REJECT} row per smtpd {@code reject:} line at
 * any stage (MAIL as well as RCPT: a sender restriction answers at MAIL unless {@code
 * smtpd_delay_reject} moves it to RCPT), attributed to the syslog host and the client.
 * XFORWARD's {@code orig_client=} fills {@code original_client_ip}.
 *
 * <p>Classic syslog timestamps carry no year or zone: they are read as local time of {@code year},
 * stepping back a year for months after {@code referenceMonth} (a December log read in January).
 * One instance per file; not thread-safe.
 */
final class PostfixLogParser {
  private static final Pattern LINE = Pattern.compile(
      "^(?:(\\w{3}) +(\\d{1,2}) (\\d\\d):(\\d\\d):(\\d\\d)(?:\\.\\d+)?|(\\d{4}-\\d\\d-\\d\\d[T ]\\S+)) (\\S+) ([^\\[\\s:]+)(?:\\[(\\d+)\\])?: (.*)$");
  private static final String TOKEN = "([^\\[\\s]*)\\[([^\\]]*)\\](?::(\\d+))?";
  private static final Pattern TOKEN_PATTERN = Pattern.compile(TOKEN);
  private static final Pattern CONNECT = Pattern.compile("^connect from " + TOKEN);
  private static final Pattern DISCONNECT = Pattern.compile("^disconnect from " + TOKEN + "(.*)$");
  private static final Pattern CLIENT = Pattern.compile("^([0-9A-Za-z]{5,}): client=" + TOKEN + "(.*)$");
  private static final Pattern ORIG_CLIENT = Pattern.compile("orig_client=" + TOKEN);
  /**
   * smtpd's {@code log_whatsup}: {@code QUEUEID: reject: CMD from name[addr]: REPLY;} then {@code
   * from=<>} (once MAIL gave a sender), {@code to=<>} (at RCPT), {@code proto=}, {@code helo=<>}
   * when known. CMD is the stage: CONNECT, HELO, MAIL, RCPT, DATA, END-OF-MESSAGE, ETRN, VRFY…
   * The reply may hold "; " itself (RBL texts), so it ends at the last ";" followed by that tail.
   */
  private static final Pattern REJECT = Pattern.compile(
      "^([0-9A-Za-z]{5,}|NOQUEUE): reject: \\S+ from " + TOKEN
          + ": (\\d{3} .*?);(?: from=<(.*?)>)?(?: to=<(.*?)>)?(?: proto=\\S+)?(?: helo=<.*>)?$");
  private static final Pattern QUEUE_LINE = Pattern.compile("^([0-9A-Za-z]{5,}): (.*)$");
  private static final Pattern FROM = Pattern.compile("^from=<([^>]*)>, size=(\\d+), nrcpt=(\\d+).*$");
  private static final Pattern MESSAGE_ID = Pattern.compile("^message-id=<?([^>\\s]*)>?.*$");
  private static final Pattern DELIVERY = Pattern.compile(
      "^to=<([^>]*)>,(?: orig_to=<[^>]*>,)? relay=([^,]+),.*? dsn=(\\d\\.\\d+\\.\\d+), status=(\\w+)(?: \\((.*)\\))?$");
  private static final String[] MONTHS = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

  private final RowSink sink;
  private final int year;
  private final int referenceMonth;
  private final EventRow event = new EventRow();
  private final Map<String, Session> sessions = new HashMap<>();
  /** Messages smtpd created a queue file for, by queue id, until qmgr removes them or the file ends. */
  private final Map<String, Message> pending = new LinkedHashMap<>();

  private static final class Session {
    final String id;
    final String connectIp;
    int seq;

    Session(String id, String connectIp) {
      this.id = id;
      this.connectIp = connectIp;
    }
  }

  /** What became of a message smtpd created a queue file for, as far as the log has said. */
  enum Fate {
    /** Nothing yet: still in smtpd/cleanup, or the client left before the end of DATA. */
    OPEN,
    /** qmgr took it into the active queue: the server received it. */
    QUEUED
  }

  /**
   * What one line says about a queue id's message: a fate, or null when it only adds details (a
   * cleanup {@code message-id=} line); the details are null or -1 when the line has none.
   */
  record Verdict(Fate fate, long ts, String sender, long size, int recipientCount, String messageId) {
    static Verdict details(long ts, String messageId) {
      return new Verdict(null, ts, null, -1, -1, messageId);
    }
  }

  /**
   * A message from smtpd's {@code client=} line on: its {@code RECEIVE} row (server, session and
   * client of that line) and its fate. The row is emitted only if the server received the message,
   * with the time it did: a queue id is assigned at the first accepted RCPT, long before the
   * message is complete and queued, and the client may still disconnect before the end of DATA.
   */
  static final class Message {
    final MessageRow row;
    Fate fate = Fate.OPEN;

    Message(MessageRow row) {
      this.row = row;
    }

    /** Applies what a later line says. The first fate that means received dates the row. */
    void apply(Verdict v) {
      if (v.sender() != null && row.sender == null) {
        row.sender = v.sender();
      }
      if (v.size() >= 0 && row.size < 0) {
        row.size = v.size();
      }
      if (v.recipientCount() >= 0 && row.recipientCount < 0) {
        row.recipientCount = v.recipientCount();
      }
      if (v.messageId() != null && row.messageId == null) {
        row.messageId = v.messageId();
      }
      if (v.fate() != null && fate == Fate.OPEN) {
        fate = v.fate();
        row.tsMicros = v.ts();
      }
    }

    boolean received() {
      return fate == Fate.QUEUED;
    }
  }

  PostfixLogParser(RowSink sink, int year, int referenceMonth) {
    this.sink = sink;
    this.year = year;
    this.referenceMonth = referenceMonth;
  }

  /** Reads every line; returns how many there were. */
  long parse(BufferedReader in) throws IOException {
    long lineNo = 0;
    String line;
    while ((line = in.readLine()) != null) {
      lineNo++;
      if (line.isEmpty()) {
        sink.malformed(lineNo, "empty line", line);
        continue;
      }
      Matcher m = LINE.matcher(line);
      if (!m.matches()) {
        sink.malformed(lineNo, "not a syslog line", line);
        continue;
      }
      long ts = m.group(6) != null ? Timestamps.parseIso(m.group(6)) : classic(m);
      if (ts == Timestamps.INVALID) {
        sink.malformed(lineNo, "bad timestamp", line);
        continue;
      }
      String host = m.group(7);
      String program = m.group(8);
      String pid = m.group(9);
      String text = m.group(10);
      if (!program.startsWith("postfix")) {
        sink.ignored(lineNo);
      } else if (program.endsWith("/smtpd")) {
        smtpd(lineNo, ts, host, pid, text, line);
      } else if (program.endsWith("/qmgr") || program.endsWith("/cleanup")) {
        queueManager(lineNo, ts, text);
      } else if (program.matches(".*/(smtp|lmtp|local|virtual|pipe|error|discard)$")) {
        delivery(lineNo, ts, host, program, text, line);
      } else {
        sink.ignored(lineNo);
      }
    }
    pending.values().forEach(this::close);
    pending.clear();
    return lineNo;
  }

  private long classic(Matcher m) {
    int month = -1;
    for (int i = 0; i < 12; i++) {
      if (MONTHS[i].equals(m.group(1))) {
        month = i + 1;
      }
    }
    int day = Integer.parseInt(m.group(2));
    if (month < 0 || day < 1 || day > 31) {
      return Timestamps.INVALID;
    }
    int y = month > referenceMonth ? year - 1 : year;
    try {
      long days = LocalDate.of(y, month, day).toEpochDay();
      return (days * 86_400 + Integer.parseInt(m.group(3)) * 3600L + Integer.parseInt(m.group(4)) * 60L
          + Integer.parseInt(m.group(5))) * 1_000_000;
    } catch (java.time.DateTimeException e) {
      return Timestamps.INVALID;
    }
  }

  private void smtpd(long lineNo, long ts, String host, String pid, String text, String line) {
    String key = host + '/' + pid;
    Matcher c = CONNECT.matcher(text);
    if (c.find()) {
      Session s = new Session(key + '/' + lineNo, c.group(2));
      sessions.put(key, s);
      emit(s, ts, host, lineNo, "+", c, null, null);
      return;
    }
    Session s = sessions.computeIfAbsent(key, k -> new Session(k + '/' + lineNo, null));
    Matcher d = DISCONNECT.matcher(text);
    if (d.find()) {
      sessions.remove(key);
      emit(s, ts, host, lineNo, "-", d, d.group(4).trim(), xclient(s, d.group(2)));
      return;
    }
    Matcher cl = CLIENT.matcher(text);
    if (cl.find()) {
      String queueId = cl.group(1);
      Matcher tok = TOKEN_PATTERN.matcher(text.substring(text.indexOf("client=") + 7));
      tok.lookingAt();
      emit(s, ts, host, lineNo, "*", tok, "client=" + cl.group(2) + "[" + cl.group(3) + "]" + cl.group(5), xclient(s, cl.group(3)));
      MessageRow r = new MessageRow();
      r.tsMicros = ts;
      r.server = host;
      r.event = "RECEIVE";
      r.source = "SMTP";
      r.queueId = queueId;
      r.sessionId = s.id;
      r.clientHost = cl.group(2);
      r.clientIp = cl.group(3);
      Matcher oc = ORIG_CLIENT.matcher(cl.group(5));
      r.originalClientIp = oc.find() ? oc.group(2) : null;
      r.sourceLine = lineNo;
      r.logType = "postfix";
      Message previous = pending.put(queueId, new Message(r));
      if (previous != null) {
        close(previous);
      }
      return;
    }
    Matcher rj = REJECT.matcher(text);
    if (rj.find()) {
      Matcher tok = TOKEN_PATTERN.matcher(text);
      tok.find();
      String reply = rj.group(5);
      emit(s, ts, host, lineNo, ">", tok, reply, xclient(s, rj.group(3)));
      MessageRow r = new MessageRow();
      r.tsMicros = ts;
      r.server = host;
      r.event = "REJECT";
      r.source = "SMTP";
      r.queueId = "NOQUEUE".equals(rj.group(1)) ? null : rj.group(1);
      r.sessionId = s.id;
      r.clientHost = rj.group(2);
      r.clientIp = rj.group(3);
      r.sender = rj.group(6);
      r.recipients = rj.group(7);
      r.recipientCount = r.recipients == null ? -1 : 1;
      r.status = reply;
      r.dsn = HeaderedLogParser.dsnOf(reply);
      r.sourceLine = lineNo;
      r.logType = "postfix";
      sink.message(r);
      return;
    }
    // "reject:" only: warn_if_reject logs "reject_warning:" for what it would have refused, and the
    // command goes on; that line is an ordinary event.
    if (text.startsWith("NOQUEUE: reject:") || text.contains(": client=")) {
      sink.malformed(lineNo, "unrecognised smtpd line", line);
      return;
    }
    EventRow e = base(s, ts, host, lineNo, "*");
    e.data = text;
    sink.event(e);
  }

  /** {@code xclient} when a line names another client than the session's {@code connect from}. */
  private static String xclient(Session s, String ip) {
    return s.connectIp != null && ip != null && !s.connectIp.equals(ip) ? "xclient" : null;
  }

  private void emit(Session s, long ts, String host, long lineNo, String kind, Matcher token, String data, String context) {
    EventRow e = base(s, ts, host, lineNo, kind);
    e.remoteIp = EventRow.emptyToNull(token.group(2));
    e.remotePort = token.group(3) == null ? -1 : HeaderedLogParser.parseIntOr(token.group(3), -1);
    e.data = data;
    e.context = context;
    sink.event(e);
  }

  private EventRow base(Session s, long ts, String host, long lineNo, String kind) {
    EventRow e = event;
    e.tsMicros = ts;
    e.server = host;
    e.connector = host + "/smtpd";
    e.sessionId = s.id;
    e.seq = s.seq++;
    e.localIp = null;
    e.localPort = -1;
    e.remoteIp = null;
    e.remotePort = -1;
    e.event = kind;
    e.data = null;
    e.context = null;
    e.sourceLine = lineNo;
    e.logType = "postfix";
    return e;
  }

  /**
   * qmgr and cleanup lines complete a message's row and decide its fate; they yield no row of their
   * own (the {@code RECEIVE} row is the {@code client=} line's), so they count as ignored.
   */
  private void queueManager(long lineNo, long ts, String text) {
    sink.ignored(lineNo);
    Matcher q = QUEUE_LINE.matcher(text);
    if (!q.matches()) {
      return;
    }
    String queueId = q.group(1);
    String rest = q.group(2);
    Matcher f = FROM.matcher(rest);
    Matcher id = MESSAGE_ID.matcher(rest);
    if (f.matches()) {
      // qmgr logs this each time the message enters the active queue (again after a deferral);
      // the first time is when the server received it.
      verdict(queueId, new Verdict(Fate.QUEUED, ts, f.group(1), Long.parseLong(f.group(2)),
          Integer.parseInt(f.group(3)), null));
    } else if (id.matches()) {
      verdict(queueId, Verdict.details(ts, id.group(1)));
    } else if (rest.equals("removed")) {
      Message m = pending.remove(queueId);
      if (m != null) {
        close(m);
      }
    }
  }

  private void verdict(String queueId, Verdict v) {
    Message m = pending.get(queueId);
    if (m != null) {
      m.apply(v);
    }
  }

  /** A message leaves {@link #pending}: its row is loaded if the server received it. */
  private void close(Message m) {
    if (m.received()) {
      sink.message(m.row);
    }
  }

  private void delivery(long lineNo, long ts, String host, String program, String text, String line) {
    Matcher q = QUEUE_LINE.matcher(text);
    if (!q.matches() || !q.group(2).startsWith("to=<")) {
      sink.ignored(lineNo);
      return;
    }
    Matcher d = DELIVERY.matcher(q.group(2));
    if (!d.matches()) {
      sink.malformed(lineNo, "unrecognised delivery line", line);
      return;
    }
    Message known = pending.get(q.group(1));
    MessageRow r = known == null ? new MessageRow() : known.row.copy();
    r.tsMicros = ts;
    r.server = host;
    r.queueId = q.group(1);
    r.recipients = d.group(1);
    r.recipientCount = 1;
    r.relay = d.group(2);
    r.dsn = d.group(3);
    r.status = d.group(4);
    r.source = program.substring(program.lastIndexOf('/') + 1).toUpperCase(java.util.Locale.ROOT);
    r.event = switch (r.status) {
      case "sent" -> r.source.equals("LOCAL") || r.source.equals("VIRTUAL") ? "DELIVER" : "SEND";
      case "deferred" -> "DEFER";
      default -> "FAIL";
    };
    r.sourceLine = lineNo;
    r.logType = "postfix";
    sink.message(r);
  }
}
