package dev.sluice.report;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.zip.GZIPOutputStream;

/**
 * Writes logs of every supported format following the documented field lists (protocols.md §4–§6,
 * DESIGN §8), from a seeded {@link Random}, and records the truth: sessions/messages by server,
 * client IP, connector and hour, and back-pressure replies. Test-only.
 */
final class LogGenerator {
  static final String V2010_TRACKING = "date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
      + "connector-id,source,event-id,internal-message-id,message-id,recipient-address,recipient-status,total-bytes,"
      + "recipient-count,related-recipient-address,reference,message-subject,sender-address,return-path,message-info,"
      + "directionality,tenant-id,original-client-ip,original-server-ip,custom-data";
  static final String V2013_TRACKING = V2010_TRACKING.replace("message-id,recipient-address", "message-id,network-message-id,recipient-address");
  static final String V2016_TRACKING = V2013_TRACKING + ",transport-traffic-type,log-id,schema-version";
  static final String EXCHANGE_PROTOCOL_FIELDS =
      "date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context";
  static final String SLUICE_FIELDS =
      "date-time,listener,session-id,sequence-number,local-endpoint,remote-endpoint,backend,event,data,context";

  /**
   * A Sluice protocol log, as Sluice writes it: its header (dated {@code date}, an ISO instant) and
   * {@code rows} (CSV in {@link #SLUICE_FIELDS} order), lines ending in {@code eol}.
   */
  static String sluiceLog(String eol, String date, String... rows) {
    List<String> lines = new ArrayList<>(List.of("#Software: Sluice", "#Version: 0.1.0", "#Log-type: Sluice Protocol Log",
        "#Date: " + date, "#Fields: " + SLUICE_FIELDS));
    lines.addAll(List.of(rows));
    lines.add("");
    return String.join(eol, lines);
  }
  private static final DateTimeFormatter ISO = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'");
  private static final DateTimeFormatter SYSLOG = DateTimeFormatter.ofPattern("MMM ppd HH:mm:ss", Locale.ROOT);

  /** Known counts; keys are server, client IP, connector, {@code server|yyyy-MM-dd HH:00}. */
  static final class Truth {
    final Map<String, Long> sessionsByServer = new TreeMap<>();
    final Map<String, Long> sessionsByIp = new TreeMap<>();
    final Map<String, Long> linesByConnector = new TreeMap<>();
    final Map<String, Long> sessionsByServerHour = new TreeMap<>();
    final Map<String, Long> messagesByServer = new TreeMap<>();
    final Map<String, Long> backPressureByServer = new TreeMap<>();
    long lines;

    void session(String server, String ip, LocalDateTime t) {
      sessionsByServer.merge(server, 1L, Long::sum);
      sessionsByIp.merge(ip, 1L, Long::sum);
      sessionsByServerHour.merge(server + "|" + hour(t), 1L, Long::sum);
    }

    static String hour(LocalDateTime t) {
      return t.toString().substring(0, 13).replace('T', ' ') + ":00";
    }
  }

  /** A picker of client addresses: {@code natShare} of sessions from one address, the rest spread. */
  record Clients(String natAddress, double natShare, int others) {
    String pick(Random r) {
      return r.nextDouble() < natShare ? natAddress : "192.0.2." + (1 + r.nextInt(others));
    }
  }

  private final Random random;

  LogGenerator(long seed) {
    this.random = new Random(seed);
  }

  /**
   * Exchange SMTP Receive protocol logs: one hourly file per server and hour under {@code dir},
   * {@code sessionsPerHour} sessions each, connectors chosen from {@code connectors} (names without
   * server, "{server}" replaced), one session in {@code 1/backPressureEvery} answered 452 4.3.1.
   */
  Truth exchangeProtocol(Path dir, List<String> servers, List<String> connectors, Clients clients,
      LocalDateTime start, int hours, int sessionsPerHour, int backPressureEvery) throws IOException {
    Truth truth = new Truth();
    long sid = 0x08DD5A1B00000000L;
    for (String server : servers) {
      for (int h = 0; h < hours; h++) {
        LocalDateTime hourStart = start.plusHours(h);
        Path file = dir.resolve(server + "/RECV" + hourStart.format(DateTimeFormatter.ofPattern("yyyyMMddHH")) + "-1.LOG");
        Files.createDirectories(file.getParent());
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8))) {
          header(w, "Microsoft Exchange Server", "15.01.2375.007", "SMTP Receive Protocol Log", hourStart,
              EXCHANGE_PROTOCOL_FIELDS);
          for (int s = 0; s < sessionsPerHour; s++) {
            LocalDateTime t = hourStart.plusSeconds((long) s * 3600 / sessionsPerHour);
            String connector = server + "\\" + connectors.get(random.nextInt(connectors.size())).replace("{server}", server);
            String ip = clients.pick(random);
            boolean pressure = backPressureEvery > 0 && random.nextInt(backPressureEvery) == 0;
            List<String[]> lines = session(server, ip, t, pressure);
            String id = String.format("%016X", sid++);
            for (int i = 0; i < lines.size(); i++) {
              w.println(String.join(",", t.plusNanos(i * 1_000_000L).format(ISO), connector, id, String.valueOf(i),
                  "10.0.0.21:25", ip + ":" + (40000 + s), lines.get(i)[0], quote(lines.get(i)[1]), lines.get(i)[2]));
            }
            truth.session(server, ip, t);
            truth.linesByConnector.merge(connector, (long) lines.size(), Long::sum);
            truth.lines += lines.size();
            if (pressure) {
              truth.backPressureByServer.merge(server, 1L, Long::sum);
            }
          }
        }
      }
    }
    return truth;
  }

  /** A Sluice protocol log (DESIGN §8): one file, backend chosen per session from {@code backends}. */
  Truth sluice(Path file, List<String> listeners, List<String> backends, Clients clients, LocalDateTime start,
      int sessions) throws IOException {
    Truth truth = new Truth();
    Files.createDirectories(file.getParent());
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8))) {
      header(w, "Sluice", "0.1.0", "Sluice Protocol Log", start, SLUICE_FIELDS);
      for (int s = 0; s < sessions; s++) {
        LocalDateTime t = start.plusSeconds(s * 7L);
        String listener = listeners.get(random.nextInt(listeners.size()));
        String backend = backends.get(random.nextInt(backends.size()));
        String ip = clients.pick(random);
        List<String[]> lines = session(backend, ip, t, false);
        for (int i = 0; i < lines.size(); i++) {
          // The connect line comes before a backend is chosen, as in smtp mode.
          w.println(String.join(",", t.plusNanos(i * 1_000_000L).format(ISO), listener, "S" + s, String.valueOf(i),
              "10.0.0.5:25", ip + ":" + (30000 + s), i == 0 ? "" : backend, lines.get(i)[0], quote(lines.get(i)[1]),
              lines.get(i)[2]));
        }
        truth.session(backend, ip, t);
        truth.linesByConnector.merge(listener, (long) lines.size(), Long::sum);
        truth.lines += lines.size();
      }
    }
    return truth;
  }

  private List<String[]> session(String server, String ip, LocalDateTime t, boolean pressure) {
    List<String[]> l = new ArrayList<>();
    l.add(new String[] {"+", "", ""});
    l.add(new String[] {">", "220 " + server + ".example.net Microsoft ESMTP MAIL Service ready at "
        + t.format(DateTimeFormatter.ofPattern("EEE, d MMM yyyy HH:mm:ss", Locale.ROOT)) + " +0000", ""});
    l.add(new String[] {"<", "EHLO client-" + ip, ""});
    l.add(new String[] {"<", "MAIL FROM:<a@example.org>", ""});
    l.add(new String[] {">", pressure ? "452 4.3.1 Insufficient system resources" : "250 2.1.0 Sender OK", ""});
    l.add(new String[] {"-", "", "Local"});
    return l;
  }

  /**
   * Exchange message tracking log in one of the three layouts: {@code RECEIVE} (source SMTP) per
   * message on {@code servers}, plus a {@code SEND} per message that is not counted as received.
   */
  Truth tracking(Path file, String fields, List<String> servers, Clients clients, LocalDateTime start, int messages,
      boolean gzip) throws IOException {
    Truth truth = new Truth();
    List<String> names = List.of(fields.split(","));
    Files.createDirectories(file.getParent());
    try (OutputStream raw = Files.newOutputStream(file);
        OutputStream os = gzip ? new GZIPOutputStream(raw) : raw;
        PrintWriter w = new PrintWriter(new java.io.OutputStreamWriter(os, StandardCharsets.UTF_8))) {
      w.print('\uFEFF');
      header(w, "Microsoft Exchange Server", "15.01.2375.007", "Message Tracking Log", start, fields);
      for (int m = 0; m < messages; m++) {
        LocalDateTime t = start.plusSeconds(m * 11L);
        String server = servers.get(random.nextInt(servers.size()));
        String ip = clients.pick(random);
        for (String event : List.of("RECEIVE", "SEND")) {
          Map<String, String> v = new java.util.HashMap<>();
          v.put("date-time", t.format(ISO));
          v.put("client-ip", event.equals("RECEIVE") ? ip : "10.0.0.21");
          v.put("client-hostname", event.equals("RECEIVE") ? "client" : server);
          v.put("server-ip", "10.0.0.21");
          v.put("server-hostname", event.equals("RECEIVE") ? server : "mx.example.net");
          v.put("connector-id", event.equals("RECEIVE") ? server + "\\Default " + server : "Internet Send");
          v.put("source", "SMTP");
          v.put("event-id", event);
          v.put("internal-message-id", String.valueOf(1000 + m));
          v.put("message-id", "<m" + m + "@example.org>");
          v.put("recipient-address", "bob@example.net;carol@example.net");
          v.put("recipient-status", event.equals("SEND") ? "250 2.6.0 Queued mail for delivery" : "");
          v.put("total-bytes", String.valueOf(2000 + m));
          v.put("recipient-count", "2");
          v.put("message-subject", "Report, part " + m + " \"final\"");
          v.put("sender-address", "alice@example.org");
          v.put("directionality", "Incoming");
          v.put("original-client-ip", ip);
          List<String> row = new ArrayList<>();
          names.forEach(n -> row.add(quote(v.getOrDefault(n, ""))));
          w.println(String.join(",", row));
          truth.lines++;
        }
        truth.messagesByServer.merge(server, 1L, Long::sum);
      }
    }
    return truth;
  }

  /**
   * A Postfix maillog for {@code host}: per session connect, client=, cleanup, qmgr, one delivery,
   * removed, disconnect. With {@code xclientFrom} set, connect names that proxy and the rest the
   * forwarded client (XCLIENT). Every {@code rejectEvery}-th session ends in a 451 4.3.0 NOQUEUE reject.
   */
  Truth postfix(Path file, String host, Clients clients, String xclientFrom, LocalDateTime start, int sessions,
      int rejectEvery) throws IOException {
    Truth truth = new Truth();
    Files.createDirectories(file.getParent());
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8))) {
      for (int s = 0; s < sessions; s++) {
        LocalDateTime t = start.plusSeconds(s * 13L);
        String ts = t.format(SYSLOG);
        String ip = clients.pick(random);
        int pid = 2000 + s % 7;
        String prefix = ts + " " + host + " postfix/smtpd[" + pid + "]: ";
        String connectIp = xclientFrom != null ? xclientFrom : ip;
        w.println(prefix + "connect from unknown[" + connectIp + "]");
        truth.lines++;
        if (rejectEvery > 0 && s % rejectEvery == 0) {
          w.println(prefix + "NOQUEUE: reject: RCPT from unknown[" + ip + "]: 451 4.3.0 <b@example.net>: Temporary"
              + " lookup failure; from=<a@example.org> to=<b@example.net> proto=ESMTP helo=<c>");
          truth.backPressureByServer.merge(host, 1L, Long::sum);
          truth.lines++;
        } else {
          String q = String.format("%010X", 0x3F2A1C0000L + s);
          w.println(prefix + q + ": client=unknown[" + ip + "]");
          w.println(ts + " " + host + " postfix/cleanup[3000]: " + q + ": message-id=<p" + s + "@example.org>");
          w.println(ts + " " + host + " postfix/qmgr[900]: " + q + ": from=<a@example.org>, size=" + (100 + s)
              + ", nrcpt=1 (queue active)");
          w.println(ts + " " + host + " postfix/smtp[4000]: " + q + ": to=<b@example.net>, relay=mx.example.net"
              + "[198.51.100.7]:25, delay=1.1, delays=0.1/0.01/0.4/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F1C2)");
          w.println(ts + " " + host + " postfix/qmgr[900]: " + q + ": removed");
          truth.messagesByServer.merge(host, 1L, Long::sum);
          truth.lines += 5;
        }
        w.println(prefix + "disconnect from unknown[" + ip + "] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5");
        truth.lines++;
        truth.session(host, ip, t);
      }
    }
    return truth;
  }

  private static void header(PrintWriter w, String software, String version, String type, LocalDateTime date,
      String fields) {
    w.println("#Software: " + software);
    w.println("#Version: " + version);
    w.println("#Log-type: " + type);
    w.println("#Date: " + date.format(ISO));
    w.println("#Fields: " + fields);
  }

  static String quote(String v) {
    return v.contains(",") || v.contains("\"") ? '"' + v.replace("\"", "\"\"") + '"' : v;
  }
}
