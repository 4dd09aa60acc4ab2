package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.counts;
import static dev.sluice.report.ReportTestSupport.load;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Back pressure in real logs: fixtures under {@code /report-refusals} were captured from Postfix
 * 3.7 instances started by {@code PostfixInstance} (a policy answering 452 4.3.1 at MAIL FROM, the
 * same with {@code smtpd_delay_reject = yes}, {@code queue_minfree} too high for the disk,
 * {@code reject_non_fqdn_sender}), and from Sluice in smtp mode at both protocol levels in front of
 * two embedded servers a and b, b answering 452 4.3.1 at MAIL FROM, later a as well: session 1 sent a
 * message to a, one that b refused and a took, and one both refused; session 2 one both refused.
 */
class BackPressureReportTest {
  @TempDir Path dir;

  private Path fixture(String name) throws Exception {
    return Path.of(getClass().getResource("/report-refusals/" + name).toURI());
  }

  @Test
  void postfixRefusalsAtMailFromAreRejectsAttributedToServerAndClient() throws Exception {
    Path log = dir.resolve("maillog");
    Files.copy(fixture("maillog"), log);
    Files.setLastModifiedTime(log, FileTime.from(LocalDateTime.of(2025, 12, 15, 0, 0).toInstant(ZoneOffset.UTC)));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.query("q", "", "SELECT reason, text FROM rejects").rows()).isEmpty();
      // MAIL from (policy 452, Postfix's own queue-space 452 without from=, a 5xx) and, with
      // smtpd_delay_reject = yes, the same sender restriction at RCPT.
      assertThat(db.query("q", "", "SELECT server, client_ip, sender, recipients, recipient_count, dsn FROM messages"
          + " WHERE event = 'REJECT' ORDER BY server, source_line").rows()).extracting(Object::toString).containsExactly(
          "[cap-a, 127.0.0.1, probe@outside-cap-a.invalid, null, null, 4.3.1]",
          "[cap-a, 127.0.0.5, a@internet.example, null, null, 4.3.1]",
          "[cap-b, 127.0.0.6, a@internet.example, b@corp.example, 1, 4.3.1]",
          "[cap-c, 127.0.0.7, null, null, null, 4.3.1]",
          "[cap-d, 127.0.0.8, a@nodot, null, null, 5.5.2]");
      assertThat(db.query("q", "", "SELECT server, remote_ip, data FROM events WHERE event = '>' AND server = 'cap-c'")
          .rows().get(0)).containsExactly("cap-c", "127.0.0.7", "452 4.3.1 Insufficient system storage");
      assertThat(counts(db, "SELECT server, count(*) FROM events WHERE event = '>' GROUP BY 1"))
          .isEqualTo(Map.of("cap-a", 2L, "cap-b", 1L, "cap-c", 1L, "cap-d", 1L));

      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      // 4xx 4.3.x is back pressure; the 504 5.5.2 is a permanent refusal, not back pressure.
      assertThat(r.section("back_pressure").rows()).extracting(row -> row.get(0) + " " + row.get(1) + "=" + row.get(2))
          .containsExactly("2025-12-01 11:00 cap-a=2", "2025-12-01 11:00 cap-b=1", "2025-12-01 11:00 cap-c=1");
      assertThat(r.findings()).filteredOn(f -> f.code().equals("back-pressure")).extracting(Finding::subject)
          .containsExactly("cap-a", "cap-b", "cap-c");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"basic", "verbose"})
  void sluiceRetriesWithABackendsReplyAreBackPressureAtTheBackendTheyName(String level) throws Exception {
    Path log = dir.resolve("sluice-2026-12-01.log");
    Files.copy(fixture("sluice-protocol-" + level + ".txt"), log);
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      // These logs predate retry lines naming their backend in the backend column: there it holds
      // the session's previous backend (a), or nothing before the first transaction; the backend
      // that refused is the one its data names.
      assertThat(counts(db, "SELECT coalesce(server, '') || ' ' || split_part(data, ':', 1), count(*) FROM events"
          + " WHERE context = 'retry' GROUP BY 1")).isEqualTo(Map.of("a a", 1L, "a b", 2L, " a", 1L, " b", 1L));
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      // At verbose level the client's 452 (the last refusal passed on, logged with backend a) is
      // the same refusal as the retry before it: counted once.
      assertThat(r.section("back_pressure").rows()).extracting(row -> row.get(0) + " " + row.get(1) + "=" + row.get(2))
          .containsExactly("2026-12-01 11:00 a=2", "2026-12-01 11:00 b=3");
      assertThat(r.findings()).filteredOn(f -> f.code().equals("back-pressure")).extracting(Finding::subject)
          .containsExactly("a", "b");
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3)).containsExactly("a=2");
    }
  }

  @Test
  void sluiceRetryReasonsCarryingA43xReplyCountWhateverTheStageAndBackendName() throws Exception {
    // Reasons as SmtpFrontend, BackendSession and BannerGate word them; a backend without a name is
    // named by its address.
    Files.writeString(dir.resolve("sluice-2026-12-01.log"), LogGenerator.sluiceLog("\r\n", "2026-12-01T10:00:00.000Z",
        "2026-12-01T10:00:00.000Z,t,T1,0,10.0.0.5:25,192.0.2.7:40000,,+,,",
        "2026-12-01T10:00:00.010Z,t,T1,1,10.0.0.5:25,192.0.2.7:40000,,*,192.0.2.21:25: banner 421 4.3.2 Service not available,retry",
        "2026-12-01T10:00:00.020Z,t,T1,2,10.0.0.5:25,192.0.2.7:40000,,*,[2001:db8::22]:25: connect failed: connection refused,retry",
        "2026-12-01T10:00:00.030Z,t,T1,3,10.0.0.5:25,192.0.2.7:40000,[2001:db8::23]:25,*,[2001:db8::23]:25 [2001:db8::23]:25,backend",
        "2026-12-01T10:00:00.040Z,t,T1,4,10.0.0.5:25,192.0.2.7:40000,[2001:db8::23]:25,-,,",
        "2026-12-01T11:00:00.000Z,l,S1,0,10.0.0.5:25,192.0.2.8:40000,,+,,",
        "2026-12-01T11:00:00.010Z,l,S1,1,10.0.0.5:25,192.0.2.8:40000,,*,mx1: session setup: banner 421 4.3.2 mx1 busy,retry",
        "2026-12-01T11:00:00.020Z,l,S1,2,10.0.0.5:25,192.0.2.8:40000,,*,mx2: MAIL FROM answered 451 4.7.1 greylisted,retry",
        "2026-12-01T11:00:00.030Z,l,S1,3,10.0.0.5:25,192.0.2.8:40000,,*,mx3: MAIL FROM: no reply to MAIL within 30s,retry",
        "2026-12-01T11:00:00.040Z,l,S1,4,10.0.0.5:25,192.0.2.8:40000,,-,,"));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("back_pressure").rows()).extracting(row -> row.get(0) + " " + row.get(1) + "=" + row.get(2))
          .containsExactly("2026-12-01 10:00 192.0.2.21:25=1", "2026-12-01 11:00 mx1=1");
    }
  }

  @Test
  void aMultiLineBackPressureReplyCountsOnceInExchangeAndSluiceLogs() throws Exception {
    // Three continuation lines and the last line of one reply, logged a line each (Exchange, and
    // Sluice at verbose level, where the backend holding the transaction sent it at RCPT).
    Files.writeString(dir.resolve("RECV2025030410-1.LOG"), String.join("\r\n",
        "#Software: Microsoft Exchange Server", "#Version: 15.01.2375.007", "#Log-type: SMTP Receive Protocol Log",
        "#Date: 2025-03-04T10:00:00.000Z", "#Fields: " + LogGenerator.EXCHANGE_PROTOCOL_FIELDS,
        "2025-03-04T10:00:00.000Z,EX1\\Default EX1,08DD5A1B2C3D4E70,0,10.0.0.21:25,192.0.2.7:40000,+,,",
        "2025-03-04T10:00:00.010Z,EX1\\Default EX1,08DD5A1B2C3D4E70,1,10.0.0.21:25,192.0.2.7:40000,<,MAIL FROM:<a@example.org>,",
        "2025-03-04T10:00:00.020Z,EX1\\Default EX1,08DD5A1B2C3D4E70,2,10.0.0.21:25,192.0.2.7:40000,>,452-4.3.1 Insufficient system resources,",
        "2025-03-04T10:00:00.020Z,EX1\\Default EX1,08DD5A1B2C3D4E70,3,10.0.0.21:25,192.0.2.7:40000,>,452-4.3.1 The queue database is over its limit,",
        "2025-03-04T10:00:00.020Z,EX1\\Default EX1,08DD5A1B2C3D4E70,4,10.0.0.21:25,192.0.2.7:40000,>,452-4.3.1 Try again later,",
        "2025-03-04T10:00:00.020Z,EX1\\Default EX1,08DD5A1B2C3D4E70,5,10.0.0.21:25,192.0.2.7:40000,>,452 4.3.1 Insufficient system resources,",
        "2025-03-04T10:00:00.030Z,EX1\\Default EX1,08DD5A1B2C3D4E70,6,10.0.0.21:25,192.0.2.7:40000,-,,Local", ""));
    Files.writeString(dir.resolve("sluice-2025-03-04.log"), LogGenerator.sluiceLog("\r\n", "2025-03-04T10:00:00.000Z",
        "2025-03-04T10:00:00.000Z,l,S1,0,10.0.0.5:25,192.0.2.8:40000,,+,,",
        "2025-03-04T10:00:00.010Z,l,S1,1,10.0.0.5:25,192.0.2.8:40000,,<,MAIL FROM:<a@example.org>,",
        "2025-03-04T10:00:00.011Z,l,S1,2,10.0.0.5:25,192.0.2.8:40000,,>,250 2.1.0 Ok,",
        "2025-03-04T10:00:00.012Z,l,S1,3,10.0.0.5:25,192.0.2.8:40000,,<,RCPT TO:<b@corp.example>,",
        "2025-03-04T10:00:00.020Z,l,S1,4,10.0.0.5:25,192.0.2.8:40000,mx1,*,mx1 10.1.1.21:25,backend",
        "2025-03-04T10:00:00.030Z,l,S1,5,10.0.0.5:25,192.0.2.8:40000,mx1,>,452-4.3.1 Insufficient system storage,",
        "2025-03-04T10:00:00.030Z,l,S1,6,10.0.0.5:25,192.0.2.8:40000,mx1,>,452-4.3.1 Queue file write error,",
        "2025-03-04T10:00:00.030Z,l,S1,7,10.0.0.5:25,192.0.2.8:40000,mx1,>,452-4.3.1 Try again later,",
        "2025-03-04T10:00:00.030Z,l,S1,8,10.0.0.5:25,192.0.2.8:40000,mx1,>,452 4.3.1 Insufficient system storage,",
        "2025-03-04T10:00:00.040Z,l,S1,9,10.0.0.5:25,192.0.2.8:40000,mx1,-,,"));
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("back_pressure").rows()).extracting(row -> row.get(0) + " " + row.get(1) + "=" + row.get(2))
          .containsExactly("2025-03-04 10:00 EX1=1", "2025-03-04 10:00 mx1=1");
      assertThat(r.findings()).filteredOn(f -> f.code().equals("back-pressure")).extracting(Finding::message)
          .allMatch(m -> m.contains("answered 1 times"));
    }
  }
}
