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

  @Test
  void aMessageIsReceivedWhenQmgrQueuesItAndCountsOnceForTheSessionThatCreatedIt() throws Exception {
    maillog("maillog",
        // Queued: counted once at qmgr's time, although qmgr activates it again after a deferral.
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.10]",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: 5E0C1A2B3C: client=client.example.org[192.0.2.10]",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2105]: 5E0C1A2B3C: message-id=<q1@example.org>",
        "Jun  3 10:00:03 mx1 postfix/qmgr[900]: 5E0C1A2B3C: from=<a@example.org>, size=812, nrcpt=1 (queue active)",
        "Jun  3 10:00:03 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.10] ehlo=1 mail=1 rcpt=1"
            + " data=1 quit=1 commands=5",
        "Jun  3 10:00:04 mx1 postfix/smtp[2110]: 5E0C1A2B3C: to=<b@example.net>, relay=mx.example.net[198.51.100.7]:25,"
            + " delay=3, delays=2/0.01/0.5/0.5, dsn=4.2.0, status=deferred (host mx.example.net[198.51.100.7] said:"
            + " 450 4.2.0 Try again later (in reply to RCPT TO command))",
        "Jun  3 11:00:04 mx1 postfix/qmgr[900]: 5E0C1A2B3C: from=<a@example.org>, size=812, nrcpt=1 (queue active)",
        "Jun  3 11:00:05 mx1 postfix/smtp[2111]: 5E0C1A2B3C: to=<b@example.net>, relay=mx.example.net[198.51.100.7]:25,"
            + " delay=3604, delays=3603/0.01/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F1C2)",
        "Jun  3 11:00:05 mx1 postfix/qmgr[900]: 5E0C1A2B3C: removed",
        // A queue id, then the client went away before the end of DATA: cleanup drops the file.
        "Jun  3 10:10:00 mx1 postfix/smtpd[2102]: connect from unknown[192.0.2.11]",
        "Jun  3 10:10:01 mx1 postfix/smtpd[2102]: 6F1D2B3C4D: client=unknown[192.0.2.11]",
        "Jun  3 10:10:31 mx1 postfix/smtpd[2102]: lost connection after DATA (4096 bytes) from unknown[192.0.2.11]",
        "Jun  3 10:10:31 mx1 postfix/smtpd[2102]: disconnect from unknown[192.0.2.11] ehlo=1 mail=1 rcpt=1 data=0/1"
            + " commands=3/4",
        // Local submission: queued, but no SMTP client sent it to this server.
        "Jun  3 10:20:00 mx1 postfix/pickup[950]: 7A2E3C4D5E: uid=0 from=<root>",
        "Jun  3 10:20:00 mx1 postfix/cleanup[2105]: 7A2E3C4D5E: message-id=<local@mx1.example.org>",
        "Jun  3 10:20:00 mx1 postfix/qmgr[900]: 7A2E3C4D5E: from=<root@mx1.example.org>, size=400, nrcpt=1 (queue active)");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT m.queue_id, m.ts, m.client_ip, m.sender, m.size, m.recipient_count, m.message_id,"
          + " e.remote_ip FROM messages m JOIN events e ON e.session_id = m.session_id AND e.event = '+'"
          + " WHERE m.event = 'RECEIVE'").rows()).extracting(Object::toString).containsExactly(
          "[5E0C1A2B3C, 2025-06-03T10:00:03, 192.0.2.10, a@example.org, 812, 1, q1@example.org, 192.0.2.10]");
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(Object::toString).containsExactly("[mx1, 2, 100.0, 1]");
      // The second activation, at 11:00, is the same message.
      assertThat(r.section("hourly").rows()).extracting(Object::toString).containsExactly("[2025-06-03 10:00, mx1, 2, 1]");
    }
  }
}
