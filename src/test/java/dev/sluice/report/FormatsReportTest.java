package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.counts;
import static dev.sluice.report.ReportTestSupport.load;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.Year;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sluice protocol logs, tracking logs of three Exchange versions, Postfix with and without XCLIENT. */
class FormatsReportTest {
  @TempDir Path dir;

  @Test
  void sluiceLogCountsByBackendListenerAndIp() throws Exception {
    LogGenerator.Truth truth = new LogGenerator(7).sluice(dir.resolve("sluice-20250304.log"),
        List.of("external", "internal"), List.of("mx1", "mx2", "mx3"), new LogGenerator.Clients("x", 0, 30),
        LocalDateTime.of(2025, 3, 4, 0, 0), 500);
    assertThat(LogLoader.detect(dir.resolve("sluice-20250304.log"))).contains(LogFormat.SLUICE);
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(counts(db, "SELECT server, count(*) FROM sessions GROUP BY 1")).isEqualTo(truth.sessionsByServer);
      assertThat(counts(db, "SELECT client_ip, count(*) FROM sessions GROUP BY 1")).isEqualTo(truth.sessionsByIp);
      assertThat(counts(db, "SELECT connector, count(*) FROM events GROUP BY 1")).isEqualTo(truth.linesByConnector);
      assertThat(counts(db, "SELECT server || '|' || strftime(date_trunc('hour', started), '%Y-%m-%d %H:00'), count(*)"
          + " FROM sessions GROUP BY 1")).isEqualTo(truth.sessionsByServerHour);
    }
  }

  @Test
  void sluiceTransactionsAreMessagesAndSluiceOwnRepliesAreNoServersBackPressure() throws Exception {
    // One session: a message mx1 accepted, one mx2 deferred with back pressure, and Sluice's own
    // 451 when no server was left (no backend on that line).
    Files.writeString(dir.resolve("sluice-20250304.log"), LogGenerator.sluiceLog("\n", "2025-03-04T08:00:00.000Z",
        "2025-03-04T08:00:00.000Z,mx,S1,0,10.0.0.5:25,192.0.2.7:40000,,+,,",
        "2025-03-04T08:00:00.010Z,mx,S1,1,10.0.0.5:25,192.0.2.7:40000,mx1,*,mx1 10.1.1.21:25,backend",
        "2025-03-04T08:00:00.020Z,mx,S1,2,10.0.0.5:25,192.0.2.7:40000,mx1,>,250 2.0.0 Ok: queued as A1,",
        "2025-03-04T08:00:00.021Z,mx,S1,3,10.0.0.5:25,192.0.2.7:40000,mx1,*,accepted 1234 bytes,transaction",
        "2025-03-04T08:00:01.000Z,mx,S1,4,10.0.0.5:25,192.0.2.7:40000,mx2,*,mx2 10.1.1.22:25,backend",
        "2025-03-04T08:00:01.010Z,mx,S1,5,10.0.0.5:25,192.0.2.7:40000,mx2,>,452 4.3.1 Insufficient system resources,",
        "2025-03-04T08:00:01.011Z,mx,S1,6,10.0.0.5:25,192.0.2.7:40000,mx2,*,deferred 0 bytes,transaction",
        "2025-03-04T08:00:02.000Z,mx,S1,7,10.0.0.5:25,192.0.2.7:40000,,>,451 4.3.0 mx.test no mail server available; try again later,",
        "2025-03-04T08:00:02.001Z,mx,S1,8,10.0.0.5:25,192.0.2.7:40000,,-,,"));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3))
          .containsExactly("mx1=1", "mx2=0");
      assertThat(r.section("back_pressure").rows()).extracting(row -> row.get(1) + "=" + row.get(2))
          .containsExactly("mx2=1");
      assertThat(r.findings()).extracting(Finding::subject).doesNotContainNull();
      // One session fed both servers; the balance is judged on the messages they accepted.
      assertThat(r.section("balance").title()).isEqualTo("Balance index (messages per server)");
      assertThat(r.section("balance").value(0, "messages")).isEqualTo(1L);
    }
  }

  @Test
  void aSessionThatUsedSeveralBackendsIsOneSessionOfItsTopClient() throws Exception {
    // Session S1 from 192.0.2.7 sent one message each to mx1, mx2 and mx3; S2 from 192.0.2.8 one to mx1.
    Files.writeString(dir.resolve("sluice-20250304.log"), LogGenerator.sluiceLog("\n", "2025-03-04T08:00:00.000Z",
        "2025-03-04T08:00:00.000Z,mx,S1,0,10.0.0.5:25,192.0.2.7:40000,,+,,",
        "2025-03-04T08:00:01.000Z,mx,S1,1,10.0.0.5:25,192.0.2.7:40000,mx1,*,mx1 10.1.1.21:25,backend",
        "2025-03-04T08:00:01.100Z,mx,S1,2,10.0.0.5:25,192.0.2.7:40000,mx1,*,accepted 100 bytes,transaction",
        "2025-03-04T08:00:02.000Z,mx,S1,3,10.0.0.5:25,192.0.2.7:40000,mx2,*,mx2 10.1.1.22:25,backend",
        "2025-03-04T08:00:02.100Z,mx,S1,4,10.0.0.5:25,192.0.2.7:40000,mx2,*,accepted 100 bytes,transaction",
        "2025-03-04T08:00:03.000Z,mx,S1,5,10.0.0.5:25,192.0.2.7:40000,mx3,*,mx3 10.1.1.23:25,backend",
        "2025-03-04T08:00:03.100Z,mx,S1,6,10.0.0.5:25,192.0.2.7:40000,mx3,*,accepted 100 bytes,transaction",
        "2025-03-04T08:00:04.000Z,mx,S1,7,10.0.0.5:25,192.0.2.7:40000,mx3,-,,",
        "2025-03-04T08:01:00.000Z,mx,S2,0,10.0.0.5:25,192.0.2.8:40001,,+,,",
        "2025-03-04T08:01:00.010Z,mx,S2,1,10.0.0.5:25,192.0.2.8:40001,mx1,*,mx1 10.1.1.21:25,backend",
        "2025-03-04T08:01:00.020Z,mx,S2,2,10.0.0.5:25,192.0.2.8:40001,mx1,*,accepted 100 bytes,transaction",
        "2025-03-04T08:01:00.030Z,mx,S2,3,10.0.0.5:25,192.0.2.8:40001,mx1,-,,"));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("top_clients").rows()).extracting(Object::toString)
          .containsExactly("[192.0.2.7, 1, 3, 50.0, null]", "[192.0.2.8, 1, 1, 50.0, null]");
      // Per server the session still counts once for each backend it used.
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(1) + "/" + row.get(3))
          .containsExactly("mx1=2/2", "mx2=1/1", "mx3=1/1");
    }
  }

  /** A verified name Sluice logged (resolver:) names its client among the top clients; "unknown" names none. */
  @Test
  void topClientsShowTheNameSluiceVerified() throws Exception {
    Files.writeString(dir.resolve("sluice-20250304.log"), LogGenerator.sluiceLog("\n", "2025-03-04T08:00:00.000Z",
        "2025-03-04T08:00:00.000Z,mx,S1,0,10.0.0.5:25,192.0.2.7:40000,,+,,",
        "2025-03-04T08:00:00.001Z,mx,S1,1,10.0.0.5:25,192.0.2.7:40000,,*,client name mx.gateway.example,info",
        "2025-03-04T08:00:01.000Z,mx,S1,2,10.0.0.5:25,192.0.2.7:40000,mx1,*,mx1 10.1.1.21:25,backend",
        "2025-03-04T08:00:02.000Z,mx,S1,3,10.0.0.5:25,192.0.2.7:40000,mx1,-,,",
        "2025-03-04T08:01:00.000Z,mx,S2,0,10.0.0.5:25,192.0.2.8:40001,,+,,",
        "2025-03-04T08:01:00.001Z,mx,S2,1,10.0.0.5:25,192.0.2.8:40001,,*,client name unknown (PTR forged.example): "
            + "forged.example does not resolve to 192.0.2.8,info",
        "2025-03-04T08:01:00.010Z,mx,S2,2,10.0.0.5:25,192.0.2.8:40001,mx1,*,mx1 10.1.1.21:25,backend",
        "2025-03-04T08:01:00.030Z,mx,S2,3,10.0.0.5:25,192.0.2.8:40001,mx1,-,,"));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("top_clients").rows()).extracting(Object::toString)
          .containsExactly("[192.0.2.7, 1, 1, 50.0, mx.gateway.example]", "[192.0.2.8, 1, 1, 50.0, null]");
    }
  }

  @Test
  void sessionsThatNeverReachedABackendStillCountForTheirClient() throws Exception {
    // S2 was refused at admission (Sluice logs only the refusal), S3 got Sluice's own 451 when no
    // server was eligible: neither has a backend, both are traffic of 192.0.2.9.
    Files.writeString(dir.resolve("sluice-20250304.log"), LogGenerator.sluiceLog("\n", "2025-03-04T08:00:00.000Z",
        "2025-03-04T08:00:00.000Z,mx,S1,0,10.0.0.5:25,192.0.2.7:40000,,+,,",
        "2025-03-04T08:00:01.000Z,mx,S1,1,10.0.0.5:25,192.0.2.7:40000,mx1,*,mx1 10.1.1.21:25,backend",
        "2025-03-04T08:00:01.100Z,mx,S1,2,10.0.0.5:25,192.0.2.7:40000,mx1,*,accepted 100 bytes,transaction",
        "2025-03-04T08:00:02.000Z,mx,S1,3,10.0.0.5:25,192.0.2.7:40000,mx1,-,,",
        "2025-03-04T08:01:00.000Z,mx,S2,0,10.0.0.5:25,192.0.2.9:40001,,*,too_many_from_client,rejected",
        "2025-03-04T08:02:00.000Z,mx,S3,0,10.0.0.5:25,192.0.2.9:40002,,+,,",
        "2025-03-04T08:02:00.010Z,mx,S3,1,10.0.0.5:25,192.0.2.9:40002,,*,mx1: connect failed: connection refused (no other backend to try),retry",
        "2025-03-04T08:02:00.020Z,mx,S3,2,10.0.0.5:25,192.0.2.9:40002,,*,deferred 0 bytes,transaction",
        "2025-03-04T08:02:00.030Z,mx,S3,3,10.0.0.5:25,192.0.2.9:40002,,-,,"));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM sessions WHERE server IS NULL")).isEqualTo(2);
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("top_clients").rows()).extracting(Object::toString)
          .containsExactly("[192.0.2.9, 2, 0, 66.7, null]", "[192.0.2.7, 1, 1, 33.3, null]");
      // They are no server's sessions: the per-server tables and the balance leave them out.
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(1) + "/" + row.get(3))
          .containsExactly("mx1=1/1");
      assertThat(r.section("hourly").rows()).extracting(row -> row.get(1)).containsExactly("mx1");
      assertThat(r.section("balance").value(0, "servers")).isEqualTo(1L);
      assertThat(r.findings()).isEmpty();
    }
  }

  @Test
  void trackingLogsOfMixedVersionsAndGzipCountReceivedMessagesPerServer() throws Exception {
    LocalDateTime t = LocalDateTime.of(2025, 3, 4, 8, 0);
    LogGenerator g = new LogGenerator(9);
    LogGenerator.Clients c = new LogGenerator.Clients("x", 0, 10);
    List<LogGenerator.Truth> truths = List.of(
        g.tracking(dir.resolve("2010/MSGTRK20250304-1.LOG"), LogGenerator.V2010_TRACKING, List.of("HUB1", "HUB2"), c, t, 120, false),
        g.tracking(dir.resolve("2013/MSGTRK2025030409-1.LOG"), LogGenerator.V2013_TRACKING, List.of("HUB1", "HUB2"), c, t, 80, false),
        g.tracking(dir.resolve("2016/MSGTRK2025030410-1.LOG.gz"), LogGenerator.V2016_TRACKING, List.of("HUB2"), c, t, 50, true));
    Map<String, Long> expected = new java.util.TreeMap<>();
    truths.forEach(tr -> tr.messagesByServer.forEach((k, v) -> expected.merge(k, v, Long::sum)));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(counts(db, "SELECT format, count(*) FROM files GROUP BY 1")).containsEntry("exchange-tracking", 3L);
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(counts(db, "SELECT server, count(*) FROM messages WHERE event = 'RECEIVE' GROUP BY 1")).isEqualTo(expected);
      assertThat(db.query("q", "", "SELECT subject, recipient_count FROM messages WHERE message_id = '<m3@example.org>'"
          + " AND event = 'RECEIVE' ORDER BY source_file LIMIT 1").rows().get(0))
          .containsExactly("Report, part 3 \"final\"", 2L);
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3))
          .containsExactlyElementsOf(expected.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
    }
  }

  @Test
  void postfixCountsAndXclientReplacesTheProxyAddressWithTheClient() throws Exception {
    LocalDateTime t = LocalDateTime.of(Year.now().getValue(), 1, 5, 10, 0);
    LogGenerator g = new LogGenerator(11);
    LogGenerator.Truth direct = g.postfix(dir.resolve("mx1/maillog"), "mx1", new LogGenerator.Clients("x", 0, 25), null, t, 300, 30);
    LogGenerator.Truth viaLb = g.postfix(dir.resolve("mx2/maillog"), "mx2", new LogGenerator.Clients("x", 0, 25), "10.0.0.5", t, 300, 0);
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT sum(lines) FROM files")).isEqualTo(direct.lines + viaLb.lines);
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      Map<String, Long> ips = new java.util.TreeMap<>(direct.sessionsByIp);
      viaLb.sessionsByIp.forEach((k, v) -> ips.merge(k, v, Long::sum));
      assertThat(counts(db, "SELECT client_ip, count(*) FROM sessions GROUP BY 1")).isEqualTo(ips);
      assertThat(counts(db, "SELECT server, count(*) FROM messages WHERE event = 'RECEIVE' GROUP BY 1"))
          .containsEntry("mx1", direct.messagesByServer.get("mx1")).containsEntry("mx2", 300L);
      assertThat(counts(db, "SELECT remote_ip, count(*) FROM events WHERE event = '+' AND server = 'mx2' GROUP BY 1"))
          .isEqualTo(Map.of("10.0.0.5", 300L));
      assertThat(db.count("SELECT count(*) FROM events WHERE server = 'mx2' AND context = 'xclient'")).isEqualTo(600);
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      // XCLIENT restored the clients: no source-NAT finding although every connect came from the LB.
      assertThat(r.findings()).extracting(Finding::code).containsOnly("back-pressure");
      assertThat(r.section("back_pressure").rows()).extracting(row -> row.get(1) + "=" + row.get(2))
          .containsExactly("mx1=" + direct.backPressureByServer.get("mx1"));
    }
  }

  @Test
  void handWrittenEdgeCasesAreLoadedOrReportedWithFileAndLine() throws Exception {
    Path fixtures = Path.of(getClass().getResource("/report").toURI());
    Files.walk(fixtures).filter(Files::isRegularFile).forEach(f -> copy(f, dir.resolve(f.getFileName().toString())));
    Files.setLastModifiedTime(dir.resolve("edge-postfix-maillog"), java.nio.file.attribute.FileTime.from(
        LocalDateTime.of(2025, 6, 1, 0, 0).toInstant(java.time.ZoneOffset.UTC)));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(counts(db, "SELECT regexp_extract(source_file, '[^/]+$'), count(*) FROM events GROUP BY 1"))
          .isEqualTo(Map.of("edge-RECV2025030410-1.LOG", 6L, "edge-RECV2025030411-1.LOG.gz", 2L, "edge-postfix-maillog", 5L));
      assertThat(db.query("q", "", "SELECT regexp_extract(source_file, '[^/]+$') || ':' || line, reason FROM rejects"
          + " ORDER BY source_file, line").rows()).extracting(r -> r.get(0) + " " + r.get(1)).containsExactly(
          "edge-RECV2025030410-1.LOG:8 empty line",
          "edge-RECV2025030410-1.LOG:18 unterminated quote (truncated line?)",
          "edge-RECV2025030410-1.LOG:19 expected 10 fields, found 5",
          "edge-RECV2025030410-1.LOG:20 bad date-time",
          "edge-postfix-maillog:12 unrecognised delivery line",
          "edge-postfix-maillog:13 not a syslog line");
      assertThat(db.query("q", "", "SELECT data, remote_ip, remote_port, connector FROM events WHERE session_id = '08DD5A1B2C3D4E60'"
          + " AND seq = 1").rows().get(0)).containsExactly("EHLO a,b \"quoted\"", "2001:db8::7", 40113L, "EX1\\Internal Relay");
      assertThat(db.query("q", "", "SELECT data FROM events WHERE seq = 1 AND session_id = '08DD5A1B2C3D4E5F'").rows().get(0).get(0))
          .isEqualTo("220 EX1.example.net Microsoft ESMTP MAIL Service ready at Tue, 4 Mar 2025 10:00:01 +0000");
      assertThat(db.query("q", "", "SELECT format, note FROM files WHERE source_file LIKE '%notes.txt'").rows().get(0))
          .containsExactly("unknown", "format not recognised; not loaded");
      assertThat(db.query("q", "", "SELECT event, client_ip, original_client_ip, sender, size, message_id, ts FROM messages"
          + " ORDER BY source_line, event").rows()).extracting(Object::toString).containsExactly(
          "[RECEIVE, 203.0.113.9, null, alice@example.org, 5123, a1b2@example.org, 2025-01-05T10:00:02]",
          "[SEND, 203.0.113.9, null, alice@example.org, 5123, a1b2@example.org, 2025-01-05T10:00:03]",
          "[RECEIVE, 10.0.0.9, 198.51.100.50, bounce@origin.example, 2048, null, 2025-01-05T10:00:04]");
      assertThat(counts(db, "SELECT client_ip, count(*) FROM sessions WHERE log_type = 'postfix' GROUP BY 1"))
          .isEqualTo(Map.of("203.0.113.9", 1L, "10.0.0.9", 1L));
    }
  }

  private static void copy(Path from, Path to) {
    try {
      Files.copy(from, to);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
