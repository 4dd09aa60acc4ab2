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

/**
 * Back pressure in real logs: fixtures under {@code /report-refusals} were captured from Postfix
 * 3.7 instances started by {@code PostfixInstance} (a policy answering 452 4.3.1 at MAIL FROM, the
 * same with {@code smtpd_delay_reject = yes}, {@code queue_minfree} too high for the disk,
 * {@code reject_non_fqdn_sender}).
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
}
