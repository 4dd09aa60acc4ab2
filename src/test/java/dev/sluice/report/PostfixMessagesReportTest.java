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
 * What a Postfix maillog says about refusals and received messages, line by line as Postfix 3.7
 * writes them (smtpd's {@code log_whatsup}, cleanup's milter and header/body check actions, qmgr).
 */
class PostfixMessagesReportTest {
  @TempDir Path dir;

  /** Writes {@code lines} to {@code name} with a June 2025 modification time (the year of the lines). */
  private void maillog(String name, String... lines) throws Exception {
    Path log = dir.resolve(name);
    Files.writeString(log, String.join("\n", lines) + "\n");
    Files.setLastModifiedTime(log, FileTime.from(LocalDateTime.of(2025, 6, 30, 0, 0).toInstant(ZoneOffset.UTC)));
  }

  private static String hourly(TrafficReport r, String section) {
    return r.section(section).rows().stream().map(row -> row.get(0) + " " + row.get(1) + "=" + row.get(2)).toList().toString();
  }

  @Test
  void rejectWarningIsAnEventNotARefusalNorBackPressure() throws Exception {
    // warn_if_reject: Postfix logs what it would have refused and goes on; the RCPT was accepted.
    maillog("maillog",
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from unknown[192.0.2.10]",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: NOQUEUE: reject_warning: RCPT from unknown[192.0.2.10]: 450 4.7.1"
            + " Client host rejected: cannot find your reverse hostname, [192.0.2.10]; from=<a@example.org>"
            + " to=<b@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: NOQUEUE: reject_warning: RCPT from unknown[192.0.2.10]: 452 4.3.1"
            + " <b@example.net>: Recipient address rejected: Insufficient system resources; from=<a@example.org>"
            + " to=<b@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: 5E0C1A2B3C: client=unknown[192.0.2.10]",
        "Jun  3 10:00:01 mx1 postfix/cleanup[2105]: 5E0C1A2B3C: message-id=<w1@example.org>",
        "Jun  3 10:00:02 mx1 postfix/qmgr[900]: 5E0C1A2B3C: from=<a@example.org>, size=812, nrcpt=1 (queue active)",
        "Jun  3 10:00:02 mx1 postfix/smtpd[2101]: disconnect from unknown[192.0.2.10] ehlo=1 mail=1 rcpt=1 data=1"
            + " quit=1 commands=5");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(counts(db, "SELECT event, count(*) FROM events GROUP BY 1")).isEqualTo(Map.of("+", 1L, "-", 1L, "*", 3L));
      assertThat(db.count("SELECT count(*) FROM events WHERE starts_with(data, 'NOQUEUE: reject_warning: RCPT')"))
          .isEqualTo(2);
      assertThat(counts(db, "SELECT event, count(*) FROM messages GROUP BY 1")).isEqualTo(Map.of("RECEIVE", 1L));
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("back_pressure").rows()).isEmpty();
      assertThat(r.findings()).isEmpty();
    }
  }
}
