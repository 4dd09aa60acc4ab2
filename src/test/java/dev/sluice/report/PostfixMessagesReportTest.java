package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.counts;
import static dev.sluice.report.ReportTestSupport.load;
import static dev.sluice.report.ReportTestSupport.rows;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;
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
    ReportTestSupport.maillog(dir, name, lines);
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
      // Postfix named the first client (client=name[address]); "unknown" is no name.
      assertThat(r.section("top_clients").rows()).extracting(Object::toString).containsExactly(
          "[192.0.2.10, 1, 1, 50.0, client.example.org]", "[192.0.2.11, 1, 1, 50.0, null]");
    }
  }

  @Test
  void milterAndSmtpdRefusalsAreRejectsAnd43xIsBackPressureHeldIsReceivedDiscardedIsNot() throws Exception {
    maillog("maillog",
        // cleanup's Milter verdict at END-OF-MESSAGE, logged with the enhanced code only.
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.20]",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: 7A1B2C3D4E: client=client.example.org[192.0.2.20]",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 7A1B2C3D4E: message-id=<m1@example.org>",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 7A1B2C3D4E: milter-reject: END-OF-MESSAGE from"
            + " client.example.org[192.0.2.20]: 4.7.1 Try again later; from=<a@example.org> to=<b@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 8B2C3D4E5F: milter-reject: END-OF-MESSAGE from"
            + " client.example.org[192.0.2.20]: 4.3.2 Too many errors ! Come back later.; from=<a@example.org>"
            + " to=<c@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:03 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.20] ehlo=1 mail=2 rcpt=2"
            + " data=0/2 quit=1 commands=6/8",
        // smtpd's own Milter and restriction refusals, with the SMTP code.
        "Jun  3 10:01:00 mx1 postfix/smtpd[2102]: connect from unknown[192.0.2.21]",
        "Jun  3 10:01:01 mx1 postfix/smtpd[2102]: NOQUEUE: milter-reject: RCPT from unknown[192.0.2.21]: 451 4.7.1"
            + " Service unavailable - try again later; from=<x@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:01:02 mx1 postfix/smtpd[2102]: NOQUEUE: reject: MAIL from unknown[192.0.2.21]: 452 4.3.1"
            + " Insufficient system storage; proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:01:02 mx1 postfix/smtpd[2102]: disconnect from unknown[192.0.2.21] ehlo=1 mail=1/2 rcpt=0/1 quit=1"
            + " commands=3/5",
        // Held by a Milter: received, in the hold queue (qmgr never sees it). Discarded: not received.
        "Jun  3 10:02:00 mx1 postfix/smtpd[2103]: connect from client.example.org[192.0.2.22]",
        "Jun  3 10:02:01 mx1 postfix/smtpd[2103]: 9C3D4E5F6A: client=client.example.org[192.0.2.22]",
        "Jun  3 10:02:02 mx1 postfix/cleanup[2106]: 9C3D4E5F6A: message-id=<m3@example.org>",
        "Jun  3 10:02:02 mx1 postfix/cleanup[2106]: 9C3D4E5F6A: milter-hold: END-OF-MESSAGE from"
            + " client.example.org[192.0.2.22]: milter triggers HOLD action; from=<a@example.org> to=<b@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:02:03 mx1 postfix/smtpd[2103]: AD4E5F6A7B: client=client.example.org[192.0.2.22]",
        "Jun  3 10:02:04 mx1 postfix/cleanup[2106]: AD4E5F6A7B: message-id=<m4@example.org>",
        "Jun  3 10:02:04 mx1 postfix/cleanup[2106]: AD4E5F6A7B: milter-discard: END-OF-MESSAGE from"
            + " client.example.org[192.0.2.22]: milter triggers DISCARD action; from=<a@example.org> to=<b@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:02:05 mx1 postfix/smtpd[2103]: disconnect from client.example.org[192.0.2.22] ehlo=1 mail=2 rcpt=2"
            + " data=2 quit=1 commands=8",
        // An access map's HOLD at the first RCPT, before smtpd had a queue id: the message is held.
        "Jun  3 10:03:00 mx1 postfix/smtpd[2104]: connect from client.example.org[192.0.2.23]",
        "Jun  3 10:03:01 mx1 postfix/smtpd[2104]: NOQUEUE: hold: RCPT from client.example.org[192.0.2.23]:"
            + " <q@example.net>: Recipient address triggers HOLD action; from=<a@example.org> to=<q@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:03:01 mx1 postfix/smtpd[2104]: BE5F6A7B8C: client=client.example.org[192.0.2.23]",
        "Jun  3 10:03:02 mx1 postfix/cleanup[2106]: BE5F6A7B8C: message-id=<m5@example.org>",
        "Jun  3 10:03:03 mx1 postfix/smtpd[2104]: disconnect from client.example.org[192.0.2.23] ehlo=1 mail=1 rcpt=1"
            + " data=1 quit=1 commands=5");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT server, queue_id, client_ip, sender, recipients, status, dsn,"
          + " session_id IS NOT NULL FROM messages WHERE event = 'REJECT' ORDER BY source_line").rows())
          .extracting(Object::toString).containsExactly(
          "[mx1, 7A1B2C3D4E, 192.0.2.20, a@example.org, b@example.net, 4.7.1 Try again later, 4.7.1, true]",
          "[mx1, 8B2C3D4E5F, 192.0.2.20, a@example.org, c@example.net, 4.3.2 Too many errors ! Come back later., 4.3.2, false]",
          "[mx1, null, 192.0.2.21, x@example.org, b@example.net, 451 4.7.1 Service unavailable - try again later, 4.7.1, true]",
          "[mx1, null, 192.0.2.21, null, null, 452 4.3.1 Insufficient system storage, 4.3.1, true]");
      // smtpd's refusals are replies in the session; cleanup's reach the client through smtpd.
      assertThat(db.count("SELECT count(*) FROM events WHERE event = '>'")).isEqualTo(2);
      assertThat(db.query("q", "", "SELECT queue_id, ts, message_id FROM messages WHERE event = 'RECEIVE'").rows())
          .extracting(Object::toString).containsExactly("[9C3D4E5F6A, 2025-06-03T10:02:02, m3@example.org]",
              "[BE5F6A7B8C, 2025-06-03T10:03:01, m5@example.org]");
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      // The 4.3.2 from the Milter and smtpd's 452 4.3.1; the 4.7.1s are policy, not back pressure.
      assertThat(hourly(r, "back_pressure")).isEqualTo("[2025-06-03 10:00 mx1=2]");
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3)).containsExactly("mx1=2");
    }
  }

  @Test
  void headerAndBodyChecksRefuseOrHoldTheMessage() throws Exception {
    maillog("maillog",
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.30]",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: 1A2B3C4D5E: client=client.example.org[192.0.2.30]",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 1A2B3C4D5E: reject: header Subject: buy now; act fast from"
            + " client.example.org[192.0.2.30]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>: 5.7.1 message content rejected",
        "Jun  3 10:00:03 mx1 postfix/smtpd[2101]: 2B3C4D5E6F: client=client.example.org[192.0.2.30]",
        "Jun  3 10:00:04 mx1 postfix/cleanup[2106]: 2B3C4D5E6F: hold: header X-Spam-Flag: YES from"
            + " client.example.org[192.0.2.30]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:00:04 mx1 postfix/cleanup[2106]: 2B3C4D5E6F: message-id=<h1@example.org>",
        "Jun  3 10:00:05 mx1 postfix/smtpd[2101]: 3C4D5E6F7A: client=client.example.org[192.0.2.30]",
        "Jun  3 10:00:06 mx1 postfix/cleanup[2106]: 3C4D5E6F7A: hold: header X-Spam-Flag: YES from"
            + " client.example.org[192.0.2.30]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:00:06 mx1 postfix/cleanup[2106]: 3C4D5E6F7A: reject: body click here from"
            + " client.example.org[192.0.2.30]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>: 5.7.1 message content rejected",
        "Jun  3 10:00:07 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.30] ehlo=1 mail=3 rcpt=3"
            + " data=1/3 quit=1 commands=9/11");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT queue_id, client_ip, sender, recipients, status, dsn FROM messages"
          + " WHERE event = 'REJECT' ORDER BY source_line").rows()).extracting(Object::toString).containsExactly(
          "[1A2B3C4D5E, 192.0.2.30, a@example.org, b@example.net, 5.7.1 message content rejected, 5.7.1]",
          "[3C4D5E6F7A, 192.0.2.30, a@example.org, b@example.net, 5.7.1 message content rejected, 5.7.1]");
      // Held, then refused by a body check: refused. Held alone: received.
      assertThat(db.query("q", "", "SELECT queue_id, ts, sender, message_id FROM messages WHERE event = 'RECEIVE'")
          .rows()).extracting(Object::toString).containsExactly("[2B3C4D5E6F, 2025-06-03T10:00:04, a@example.org, h1@example.org]");
    }
  }

  @Test
  void contentChecksOfMailNoSmtpdSentNameNoClientAndOnlyAReject() throws Exception {
    // Local mail (sendmail, then pickup) and a client's, through header checks; lines as Postfix 3.7
    // wrote them (ContentChecksPostfixIT). For local mail cleanup logs "from local;", no client.
    maillog("maillog",
        "Jun  3 10:00:00 mx1 postfix/pickup[10000]: 9930620C6B1: uid=0 from=<root@corp.example>",
        "Jun  3 10:00:00 mx1 postfix/cleanup[10007]: 9930620C6B1: reject: header Subject: spam local from local;"
            + " from=<root@corp.example> to=<u@example.test>: 5.7.1 no spam",
        "Jun  3 10:00:00 mx1 postfix/cleanup[10007]: 9930620C6B1: message-id=<20250603100000.9930620C6B1@mx1.sluice.test>",
        // Refused local mail is bounced to its sender; cleanup logs that itself.
        "Jun  3 10:00:00 mx1 postfix/cleanup[10007]: 9930620C6B1: to=<u@example.test>, relay=none, delay=0.03,"
            + " delays=0.03/0/0/0, dsn=5.7.1, status=bounced (no spam)",
        "Jun  3 10:00:00 mx1 postfix/bounce[10009]: 9930620C6B1: sender non-delivery notification: A6CC620C6F4",
        "Jun  3 10:00:01 mx1 postfix/pickup[10000]: A7FDC20C6A2: uid=0 from=<root@corp.example>",
        "Jun  3 10:00:01 mx1 postfix/cleanup[10014]: A7FDC20C6A2: discard: header Subject: drop local from local;"
            + " from=<root@corp.example> to=<u@example.test>: dropped",
        "Jun  3 10:00:02 mx1 postfix/pickup[10000]: AE0EF20C6B1: uid=0 from=<root@corp.example>",
        "Jun  3 10:00:02 mx1 postfix/cleanup[10014]: AE0EF20C6B1: hold: header Subject: hold local from local;"
            + " from=<root@corp.example> to=<u@example.test>: held",
        "Jun  3 10:00:02 mx1 postfix/cleanup[10014]: AE0EF20C6B1: message-id=<20250603100002.AE0EF20C6B1@mx1.sluice.test>",
        "Jun  3 10:00:03 mx1 postfix/pickup[10000]: BD75C20C238: uid=0 from=<root@corp.example>",
        "Jun  3 10:00:03 mx1 postfix/cleanup[10007]: BD75C20C238: redirect: header Subject: redir local from local;"
            + " from=<root@corp.example> to=<u@example.test>: other@example.test",
        "Jun  3 10:00:04 mx1 postfix/pickup[10000]: C67C620C23D: uid=0 from=<root@corp.example>",
        "Jun  3 10:00:04 mx1 postfix/cleanup[10014]: C67C620C23D: warning: header Subject: warn local from local;"
            + " from=<root@corp.example> to=<u@example.test>: warned",
        // A rule's 4.x.x text (REJECT 4.7.1 later).
        "Jun  3 10:00:05 mx1 postfix/pickup[10000]: CB1BD20C033: uid=0 from=<root@corp.example>",
        "Jun  3 10:00:05 mx1 postfix/cleanup[10007]: CB1BD20C033: reject: header Subject: tempfail local from local;"
            + " from=<root@corp.example> to=<u@example.test>: 4.7.1 later",
        // cleanup writes "unknown" when it was told no origin at all (Postfix's own mail, with
        // internal_mail_filter_classes); this one is after cleanup_act_log(), not seen on a test server.
        "Jun  3 10:00:06 mx1 postfix/cleanup[10007]: D2C3B4A5F6: reject: body click here from unknown; from=<>"
            + " to=<root@corp.example>",
        // A client's mail: a warning and a redirect decide nothing; both messages are received.
        "Jun  3 10:01:00 mx1 postfix/smtpd[10003]: connect from unknown[127.0.0.51]",
        "Jun  3 10:01:00 mx1 postfix/smtpd[10003]: 0963320C054: client=unknown[127.0.0.51]",
        "Jun  3 10:01:00 mx1 postfix/cleanup[10007]: 0963320C054: redirect: header Subject: redir net from"
            + " unknown[127.0.0.51]; from=<a@corp.example> to=<u@example.test> proto=ESMTP helo=<swaks.sluice.test>:"
            + " other@example.test",
        "Jun  3 10:01:00 mx1 postfix/cleanup[10007]: 0963320C054: message-id=<20250603100100.010038@vm>",
        "Jun  3 10:01:00 mx1 postfix/qmgr[10001]: 0963320C054: from=<a@corp.example>, size=409, nrcpt=1 (queue active)",
        "Jun  3 10:01:00 mx1 postfix/smtpd[10003]: 1807F20C054: client=unknown[127.0.0.51]",
        "Jun  3 10:01:00 mx1 postfix/cleanup[10014]: 1807F20C054: warning: header Subject: warn net from"
            + " unknown[127.0.0.51]; from=<a@corp.example> to=<u@example.test> proto=ESMTP helo=<swaks.sluice.test>:"
            + " warned",
        "Jun  3 10:01:00 mx1 postfix/cleanup[10014]: 1807F20C054: message-id=<20250603100100.010039@vm>",
        "Jun  3 10:01:00 mx1 postfix/qmgr[10001]: 1807F20C054: from=<a@corp.example>, size=408, nrcpt=1 (queue active)",
        "Jun  3 10:01:01 mx1 postfix/smtpd[10003]: disconnect from unknown[127.0.0.51] ehlo=1 mail=2 rcpt=2 data=2"
            + " quit=1 commands=8");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      // No client was answered: no client, no session.
      assertThat(rows(db, "SELECT queue_id, client_ip, source, session_id, sender, recipients, status, dsn"
          + " FROM messages WHERE event = 'REJECT' ORDER BY source_line")).containsExactly(
          "[9930620C6B1, null, PICKUP, null, root@corp.example, u@example.test, 5.7.1 no spam, 5.7.1]",
          "[CB1BD20C033, null, PICKUP, null, root@corp.example, u@example.test, 4.7.1 later, 4.7.1]",
          "[D2C3B4A5F6, null, null, null, , root@corp.example, null, null]");
      assertThat(counts(db, "SELECT event || ' ' || coalesce(client_ip, '-'), count(*) FROM messages GROUP BY 1"))
          .isEqualTo(Map.of("REJECT -", 3L, "RECEIVE 127.0.0.51", 2L));
      assertThat(TrafficReport.build(db, Thresholds.DEFAULTS).section("servers").rows()).extracting(Object::toString)
          .containsExactly("[mx1, 1, 100.0, 2]");
    }
  }

  @Test
  void aQueueIdJoinsAcrossRotatedFiles() throws Exception {
    // logrotate cut the log while 4E5F6A7B8C and 5F6A7B8C9D were in cleanup; 6A7B8C9DAE, received
    // before the cut, is activated again after a deferral in the new file.
    maillog("maillog.1",
        "Jun  3 23:59:50 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.40]",
        "Jun  3 23:59:51 mx1 postfix/smtpd[2101]: 6A7B8C9DAE: client=client.example.org[192.0.2.40]",
        "Jun  3 23:59:52 mx1 postfix/qmgr[900]: 6A7B8C9DAE: from=<a@example.org>, size=700, nrcpt=1 (queue active)",
        "Jun  3 23:59:58 mx1 postfix/smtpd[2101]: 4E5F6A7B8C: client=client.example.org[192.0.2.40]",
        "Jun  3 23:59:59 mx1 postfix/smtpd[2101]: 5F6A7B8C9D: client=client.example.org[192.0.2.40]");
    maillog("maillog",
        "Jun  4 00:00:00 mx1 postfix/cleanup[2106]: 4E5F6A7B8C: message-id=<r1@example.org>",
        "Jun  4 00:00:01 mx1 postfix/qmgr[900]: 4E5F6A7B8C: from=<a@example.org>, size=900, nrcpt=2 (queue active)",
        "Jun  4 00:00:01 mx1 postfix/cleanup[2106]: 5F6A7B8C9D: milter-reject: END-OF-MESSAGE from"
            + " client.example.org[192.0.2.40]: 5.7.1 Spam message rejected; from=<a@example.org> to=<b@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  4 00:00:02 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.40] ehlo=1 mail=3 rcpt=3"
            + " data=2/3 quit=1 commands=9/10",
        "Jun  4 00:30:00 mx1 postfix/qmgr[900]: 6A7B8C9DAE: from=<a@example.org>, size=700, nrcpt=1 (queue active)");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.query("q", "", "SELECT queue_id, ts, sender, size, recipient_count, message_id,"
          + " regexp_extract(source_file, '[^/]+$') FROM messages WHERE event = 'RECEIVE' ORDER BY ts").rows())
          .extracting(Object::toString).containsExactly(
          "[6A7B8C9DAE, 2025-06-03T23:59:52, a@example.org, 700, 1, null, maillog.1]",
          "[4E5F6A7B8C, 2025-06-04T00:00:01, a@example.org, 900, 2, r1@example.org, maillog.1]");
      assertThat(db.count("SELECT count(DISTINCT session_id) FROM messages WHERE event = 'RECEIVE'")).isEqualTo(1);
      assertThat(counts(db, "SELECT regexp_extract(source_file, '[^/]+$'), messages FROM files"))
          .isEqualTo(Map.of("maillog.1", 2L, "maillog", 1L));
    }
  }

  @Test
  void theDsnIsReadOnlyWhereTheReplyOrDsnFieldPutsItNotOutOfAddressesInTheText() throws Exception {
    maillog("maillog",
        // Postfix before 2.3 wrote no enhanced code: the client address in the text is no DSN.
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from unknown[10.4.5.6]",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: NOQUEUE: reject: RCPT from unknown[10.4.5.6]: 554 Service unavailable;"
            + " Client host [10.4.5.6] blocked using sbl-xbl.spamhaus.org; from=<a@example.org> to=<b@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: NOQUEUE: reject: RCPT from unknown[10.4.5.6]: 550 5.7.1"
            + " Client host [10.2.3.4] blocked using bl.example.org; from=<a@example.org> to=<c@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:02 mx1 postfix/smtpd[2101]: disconnect from unknown[10.4.5.6] ehlo=1 mail=1 rcpt=0/2 quit=1"
            + " commands=3/5",
        // A delivery: the relay's address and the remote reply's words are no DSN, dsn= is.
        "Jun  3 10:01:00 mx1 postfix/smtp[2110]: 5E0C1A2B3C: to=<d@example.net>, relay=mx.example.net[10.2.1.5]:25,"
            + " delay=1.2, delays=0.1/0.01/0.5/0.6, dsn=5.1.1, status=bounced (host mx.example.net[10.2.1.5] said:"
            + " 550 Requested action not taken: mailbox unavailable 10.20.30.40 (in reply to RCPT TO command))",
        "Jun  3 10:01:01 mx1 postfix/smtp[2111]: 6F1D2B3C4D: to=<e@example.net>, relay=mx2.5.4.example.net[10.4.4.7]:25,"
            + " conn_use=2, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4.4.7)");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT event, recipients, dsn FROM messages ORDER BY source_line").rows())
          .extracting(Object::toString).containsExactly(
          "[REJECT, b@example.net, null]",
          "[REJECT, c@example.net, 5.7.1]",
          "[FAIL, d@example.net, 5.1.1]",
          "[SEND, e@example.net, 2.0.0]");
    }
  }

  @Test
  void replyDsnIsTheCodeInItsPlaceWithTheReplysClass() {
    assertThat(ReplyDsn.of("452 4.3.1 Insufficient system storage")).isEqualTo("4.3.1");
    assertThat(ReplyDsn.of("550-5.7.1 first line")).isEqualTo("5.7.1");
    assertThat(ReplyDsn.of("4.7.1 Try again later")).isEqualTo("4.7.1");
    assertThat(ReplyDsn.of("554 Service unavailable; Client host [10.4.5.6] blocked")).isNull();
    assertThat(ReplyDsn.of("550 host 5.4.3.2 listed")).isNull();
    assertThat(ReplyDsn.of("5.7.1.2 not a code")).isNull();
    assertThat(ReplyDsn.of("550 4.7.1 class differs from the reply's")).isNull();
    assertThat(ReplyDsn.of(null)).isNull();
    // Exchange message tracking: a reply, or a deferral's last error; never an address's digits.
    assertThat(ReplyDsn.ofRecipientStatus("550 5.1.1 RESOLVER.ADR.RecipNotFound; not found")).isEqualTo("5.1.1");
    assertThat(ReplyDsn.ofRecipientStatus("[{LRT=3/4/2025 10:00:00 AM};{LED=451 4.4.0 DNS query failed};{FQDN=};{IP=10.2.4.5}]"))
        .isEqualTo("4.4.0");
    assertThat(ReplyDsn.ofRecipientStatus("[{LRT=};{LED=Remote host 10.2.4.5 said nothing};{IP=10.2.4.5}]")).isNull();
    assertThat(ReplyDsn.ofRecipientStatus("")).isNull();
  }

  @Test
  void aBeforeQueueFiltersProxyRejectIsARefusalOfTheSessionsClient() throws Exception {
    // smtpd_proxy_filter: smtpd relays the message to a filter and logs its verdict at the end,
    // without the client on the line (and without a queue id: smtpd wrote no queue file).
    maillog("maillog",
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.50]",
        "Jun  3 10:00:02 mx1 postfix/smtpd[2101]: NOQUEUE: proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=31619-02"
            + " - spam; from=<a@example.org> to=<b@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:03 mx1 postfix/smtpd[2101]: NOQUEUE: proxy-reject: END-OF-MESSAGE: 451 4.3.2 System busy, try"
            + " again later; from=<a@example.org> to=<c@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:04 mx1 postfix/smtpd[2101]: NOQUEUE: proxy-reject: END-OF-MESSAGE: 550 Message from 10.5.7.1"
            + " refused; from=<a@example.org> to=<d@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:05 mx1 postfix/smtpd[2101]: NOQUEUE: proxy-reject: END-OF-MESSAGE: ; from=<a@example.org>"
            + " to=<e@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:06 mx1 postfix/smtpd[2101]: NOQUEUE: proxy-accept: END-OF-MESSAGE: 250 2.0.0 from"
            + " MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3C1B2D4E5F; from=<a@example.org>"
            + " to=<f@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:07 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.50] ehlo=1 mail=5 rcpt=5"
            + " data=1/5 quit=1 commands=13/17");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT server, queue_id, client_host, client_ip, sender, recipients, status, dsn,"
          + " session_id IS NOT NULL FROM messages WHERE event = 'REJECT' ORDER BY source_line").rows())
          .extracting(Object::toString).containsExactly(
          "[mx1, null, client.example.org, 192.0.2.50, a@example.org, b@example.net,"
              + " 554 5.7.0 Reject, id=31619-02 - spam, 5.7.0, true]",
          "[mx1, null, client.example.org, 192.0.2.50, a@example.org, c@example.net,"
              + " 451 4.3.2 System busy, try again later, 4.3.2, true]",
          "[mx1, null, client.example.org, 192.0.2.50, a@example.org, d@example.net,"
              + " 550 Message from 10.5.7.1 refused, null, true]",
          "[mx1, null, client.example.org, 192.0.2.50, a@example.org, e@example.net, null, null, true]");
      assertThat(counts(db, "SELECT event, count(*) FROM events GROUP BY 1"))
          .isEqualTo(Map.of("+", 1L, "-", 1L, ">", 4L, "*", 1L));
      assertThat(db.count("SELECT count(*) FROM events WHERE event = '>' AND remote_ip = '192.0.2.50'")).isEqualTo(4);
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(hourly(r, "back_pressure")).isEqualTo("[2025-06-03 10:00 mx1=1]");
    }
  }

  @Test
  void aHoldOrDiscardIsTheMessagesOfItsQueueIdNotTheNextTransactionsAfterAnRset() throws Exception {
    maillog("maillog",
        // A sender access HOLD at RCPT (smtpd_delay_reject), before any queue id; the recipient is then
        // refused, so that transaction never gets a queue file. After RSET the client sends another
        // message, which qmgr queues: it was not held.
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.60]",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: NOQUEUE: hold: RCPT from client.example.org[192.0.2.60]:"
            + " <a@example.org>: Sender address triggers HOLD action; from=<a@example.org> to=<x@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: NOQUEUE: reject: RCPT from client.example.org[192.0.2.60]: 550 5.1.1"
            + " <x@example.net>: Recipient address rejected: User unknown in virtual mailbox table;"
            + " from=<a@example.org> to=<x@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:00:02 mx1 postfix/smtpd[2101]: 1B2C3D4E5F: client=client.example.org[192.0.2.60]",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 1B2C3D4E5F: message-id=<t2@example.org>",
        "Jun  3 10:00:03 mx1 postfix/qmgr[900]: 1B2C3D4E5F: from=<b@example.org>, size=640, nrcpt=1 (queue active)",
        "Jun  3 10:00:03 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.60] ehlo=1 mail=2 rcpt=1/2"
            + " data=1 rset=1 quit=1 commands=7/8",
        "Jun  3 10:00:04 mx1 postfix/smtp[2110]: 1B2C3D4E5F: to=<y@example.net>, relay=mx.example.net[198.51.100.7]:25,"
            + " delay=2, delays=1/0.01/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7A8B9)",
        "Jun  3 10:00:04 mx1 postfix/qmgr[900]: 1B2C3D4E5F: removed",
        // The same with a DISCARD: the next transaction's message was received, not discarded.
        "Jun  3 10:01:00 mx1 postfix/smtpd[2102]: connect from client.example.org[192.0.2.61]",
        "Jun  3 10:01:01 mx1 postfix/smtpd[2102]: NOQUEUE: discard: RCPT from client.example.org[192.0.2.61]:"
            + " <s@example.org>: Sender address triggers DISCARD action; from=<s@example.org> to=<x@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:01:01 mx1 postfix/smtpd[2102]: NOQUEUE: reject: RCPT from client.example.org[192.0.2.61]: 550 5.1.1"
            + " <x@example.net>: Recipient address rejected: User unknown in virtual mailbox table;"
            + " from=<s@example.org> to=<x@example.net> proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:01:02 mx1 postfix/smtpd[2102]: 2C3D4E5F6A: client=client.example.org[192.0.2.61]",
        "Jun  3 10:01:03 mx1 postfix/qmgr[900]: 2C3D4E5F6A: from=<b@example.org>, size=650, nrcpt=1 (queue active)",
        "Jun  3 10:01:03 mx1 postfix/smtpd[2102]: disconnect from client.example.org[192.0.2.61] ehlo=1 mail=2 rcpt=1/2"
            + " data=1 rset=1 quit=1 commands=7/8",
        // A HOLD whose recipient was accepted: that queue id never reaches qmgr; it is held.
        "Jun  3 10:02:00 mx1 postfix/smtpd[2103]: connect from client.example.org[192.0.2.62]",
        "Jun  3 10:02:01 mx1 postfix/smtpd[2103]: NOQUEUE: hold: RCPT from client.example.org[192.0.2.62]:"
            + " <a@example.org>: Sender address triggers HOLD action; from=<a@example.org> to=<z@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:02:01 mx1 postfix/smtpd[2103]: 3D4E5F6A7B: client=client.example.org[192.0.2.62]",
        "Jun  3 10:02:02 mx1 postfix/cleanup[2106]: 3D4E5F6A7B: message-id=<t3@example.org>",
        "Jun  3 10:02:03 mx1 postfix/smtpd[2103]: disconnect from client.example.org[192.0.2.62] ehlo=1 mail=1 rcpt=1"
            + " data=1 quit=1 commands=5",
        // cleanup's header check holds its queue id; after RSET the session's next message is queued.
        "Jun  3 10:03:00 mx1 postfix/smtpd[2104]: connect from client.example.org[192.0.2.63]",
        "Jun  3 10:03:01 mx1 postfix/smtpd[2104]: 4E5F6A7B8C: client=client.example.org[192.0.2.63]",
        "Jun  3 10:03:02 mx1 postfix/cleanup[2106]: 4E5F6A7B8C: hold: header X-Spam-Flag: YES from"
            + " client.example.org[192.0.2.63]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:03:02 mx1 postfix/cleanup[2106]: 4E5F6A7B8C: message-id=<t4@example.org>",
        "Jun  3 10:03:04 mx1 postfix/smtpd[2104]: 5F6A7B8C9D: client=client.example.org[192.0.2.63]",
        "Jun  3 10:03:05 mx1 postfix/cleanup[2106]: 5F6A7B8C9D: message-id=<t5@example.org>",
        "Jun  3 10:03:06 mx1 postfix/qmgr[900]: 5F6A7B8C9D: from=<c@example.org>, size=700, nrcpt=1 (queue active)",
        "Jun  3 10:03:06 mx1 postfix/smtpd[2104]: disconnect from client.example.org[192.0.2.63] ehlo=1 mail=2 rcpt=2"
            + " data=2 rset=1 quit=1 commands=9");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT queue_id, ts, sender, message_id FROM messages WHERE event = 'RECEIVE'"
          + " ORDER BY queue_id").rows()).extracting(Object::toString).containsExactly(
          "[1B2C3D4E5F, 2025-06-03T10:00:03, b@example.org, t2@example.org]",
          "[2C3D4E5F6A, 2025-06-03T10:01:03, b@example.org, null]",
          "[3D4E5F6A7B, 2025-06-03T10:02:01, a@example.org, t3@example.org]",
          "[4E5F6A7B8C, 2025-06-03T10:03:02, a@example.org, t4@example.org]",
          "[5F6A7B8C9D, 2025-06-03T10:03:06, c@example.org, t5@example.org]");
    }
  }

  @Test
  void deliveriesAndQueueLinesInALaterRotatedFileJoinTheirSession() throws Exception {
    // Three rotations of one log, named newest first as logrotate does. 7B8C9DAEBF is received and
    // deferred in maillog.2.gz, deferred again in maillog.1 and delivered in maillog; 8C9DAEBFC0's
    // client= line ends maillog.1 and the rest of it is in maillog.
    Path oldest = dir.resolve("maillog.2.gz");
    try (java.io.Writer w = new java.io.OutputStreamWriter(new java.util.zip.GZIPOutputStream(
        Files.newOutputStream(oldest)), java.nio.charset.StandardCharsets.UTF_8)) {
      w.write(String.join("\n",
          "Jun  2 23:59:50 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.70]",
          "Jun  2 23:59:51 mx1 postfix/smtpd[2101]: 7B8C9DAEBF: client=client.example.org[192.0.2.70]",
          "Jun  2 23:59:52 mx1 postfix/cleanup[2106]: 7B8C9DAEBF: message-id=<d1@example.org>",
          "Jun  2 23:59:52 mx1 postfix/qmgr[900]: 7B8C9DAEBF: from=<a@example.org>, size=900, nrcpt=2 (queue active)",
          "Jun  2 23:59:53 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.70] ehlo=1 mail=1 rcpt=2"
              + " data=1 quit=1 commands=6",
          "Jun  2 23:59:53 mx1 postfix/smtp[2110]: 7B8C9DAEBF: to=<b@example.net>, relay=mx.example.net[198.51.100.7]:25,"
              + " delay=1.5, delays=0.5/0.01/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 1F2E3)",
          "Jun  2 23:59:55 mx1 postfix/smtp[2111]: 7B8C9DAEBF: to=<c@example.com>, relay=none, delay=3.2,"
              + " delays=0.5/0.01/2.7/0, dsn=4.4.1, status=deferred (connect to mx.example.com[203.0.113.9]:25:"
              + " Connection timed out)") + "\n");
    }
    Files.setLastModifiedTime(oldest, FileTime.from(LocalDateTime.of(2025, 6, 30, 0, 0).toInstant(ZoneOffset.UTC)));
    maillog("maillog.1",
        "Jun  3 00:29:55 mx1 postfix/qmgr[900]: 7B8C9DAEBF: from=<a@example.org>, size=900, nrcpt=2 (queue active)",
        "Jun  3 00:29:58 mx1 postfix/smtp[2112]: 7B8C9DAEBF: to=<c@example.com>, relay=none, delay=1808,"
            + " delays=1805/0.01/3/0, dsn=4.4.1, status=deferred (connect to mx.example.com[203.0.113.9]:25:"
            + " Connection timed out)",
        "Jun  3 23:59:58 mx1 postfix/smtpd[2201]: connect from relay.example.org[192.0.2.71]",
        "Jun  3 23:59:59 mx1 postfix/smtpd[2201]: 8C9DAEBFC0: client=relay.example.org[192.0.2.71]");
    maillog("maillog",
        "Jun  4 00:00:00 mx1 postfix/cleanup[2106]: 8C9DAEBFC0: message-id=<d2@example.org>",
        "Jun  4 00:00:01 mx1 postfix/qmgr[900]: 8C9DAEBFC0: from=<e@example.org>, size=1200, nrcpt=1 (queue active)",
        "Jun  4 00:00:01 mx1 postfix/smtpd[2201]: disconnect from relay.example.org[192.0.2.71] ehlo=1 mail=1 rcpt=1"
            + " data=1 quit=1 commands=5",
        "Jun  4 00:00:02 mx1 postfix/lmtp[2301]: 8C9DAEBFC0: to=<u@example.org>,"
            + " relay=mail.example.org[private/dovecot-lmtp], delay=1.1, delays=1/0.01/0.01/0.08, dsn=2.0.0,"
            + " status=sent (250 2.0.0 <u@example.org> 8Hk2Ln1+ZGiVBgAA0J78UA Saved)",
        "Jun  4 00:00:02 mx1 postfix/qmgr[900]: 8C9DAEBFC0: removed",
        "Jun  4 01:00:00 mx1 postfix/qmgr[900]: 7B8C9DAEBF: from=<a@example.org>, size=900, nrcpt=2 (queue active)",
        "Jun  4 01:00:02 mx1 postfix/smtp[2113]: 7B8C9DAEBF: to=<c@example.com>, relay=mx.example.com[203.0.113.9]:25,"
            + " delay=3602, delays=3600/0.01/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9A8B7C)",
        "Jun  4 01:00:02 mx1 postfix/qmgr[900]: 7B8C9DAEBF: removed",
        // Local mail: no smtpd session to join.
        "Jun  4 02:00:00 mx1 postfix/pickup[950]: 9DAEBFC0D1: uid=0 from=<root>",
        "Jun  4 02:00:00 mx1 postfix/cleanup[2106]: 9DAEBFC0D1: message-id=<local@mx1.example.org>",
        "Jun  4 02:00:00 mx1 postfix/qmgr[900]: 9DAEBFC0D1: from=<root@mx1.example.org>, size=400, nrcpt=1 (queue active)",
        "Jun  4 02:00:00 mx1 postfix/local[2401]: 9DAEBFC0D1: to=<root@mx1.example.org>, orig_to=<root>, relay=local,"
            + " delay=0.02, delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (delivered to mailbox)",
        "Jun  4 02:00:00 mx1 postfix/qmgr[900]: 9DAEBFC0D1: removed");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT queue_id, event, recipients, session_id IS NOT NULL, client_ip, sender,"
          + " message_id, regexp_extract(source_file, '[^/]+$') FROM messages WHERE event <> 'RECEIVE' ORDER BY ts")
          .rows()).extracting(Object::toString).containsExactly(
          "[7B8C9DAEBF, SEND, b@example.net, true, 192.0.2.70, a@example.org, d1@example.org, maillog.2.gz]",
          "[7B8C9DAEBF, DEFER, c@example.com, true, 192.0.2.70, a@example.org, d1@example.org, maillog.2.gz]",
          "[7B8C9DAEBF, DEFER, c@example.com, true, 192.0.2.70, a@example.org, d1@example.org, maillog.1]",
          "[8C9DAEBFC0, SEND, u@example.org, true, 192.0.2.71, e@example.org, d2@example.org, maillog]",
          "[7B8C9DAEBF, SEND, c@example.com, true, 192.0.2.70, a@example.org, d1@example.org, maillog]",
          "[9DAEBFC0D1, DELIVER, root@mx1.example.org, false, null, null, null, maillog]");
      assertThat(db.count("SELECT count(DISTINCT session_id) FROM messages WHERE queue_id = '7B8C9DAEBF'")).isEqualTo(1);
      assertThat(db.query("q", "", "SELECT queue_id, ts, regexp_extract(source_file, '[^/]+$') FROM messages"
          + " WHERE event = 'RECEIVE' ORDER BY ts").rows()).extracting(Object::toString).containsExactly(
          "[7B8C9DAEBF, 2025-06-02T23:59:52, maillog.2.gz]", "[8C9DAEBFC0, 2025-06-04T00:00:01, maillog.1]");
      assertThat(counts(db, "SELECT regexp_extract(source_file, '[^/]+$'), messages FROM files"))
          .isEqualTo(Map.of("maillog.2.gz", 3L, "maillog.1", 2L, "maillog", 3L));
    }
  }

  @Test
  void queueLinesOfMessagesNoSmtpdOpenedAreNotKept() throws Exception {
    // A busy server's local mail and bounces: thousands of queue ids without a client= line, some
    // never removed within the log. Only messages of smtpd sessions may be kept, and only while
    // they are in the queue.
    List<String> lines = new java.util.ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      String qid = String.format("%05X%05X", 0x10000 + i, 0xA0000 + i);
      String t = String.format("Jun  4 %02d:%02d:%02d", i / 3600, i / 60 % 60, i % 60);
      lines.add(t + " mx1 postfix/pickup[950]: " + qid + ": uid=0 from=<root>");
      lines.add(t + " mx1 postfix/cleanup[2106]: " + qid + ": message-id=<" + i + "@mx1.example.org>");
      lines.add(t + " mx1 postfix/qmgr[900]: " + qid + ": from=<root@mx1.example.org>, size=400, nrcpt=1 (queue active)");
      lines.add(t + " mx1 postfix/local[2401]: " + qid + ": to=<root@mx1.example.org>, relay=local, delay=0.02,"
          + " delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (delivered to mailbox)");
      if (i % 3 != 0) {
        lines.add(t + " mx1 postfix/qmgr[900]: " + qid + ": removed");
      }
    }
    lines.add("Jun  4 05:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.80]");
    lines.add("Jun  4 05:00:01 mx1 postfix/smtpd[2101]: AEBFC0D1E2: client=client.example.org[192.0.2.80]");
    lines.add("Jun  4 05:00:02 mx1 postfix/qmgr[900]: AEBFC0D1E2: from=<a@example.org>, size=500, nrcpt=1 (queue active)");
    maillog("maillog", lines.toArray(String[]::new));
    try (ReportDatabase db = new ReportDatabase()) {
      LogLoader loader = new LogLoader(db, LogFormat.AUTO, 2);
      loader.load(LogLoader.expand(List.of(dir)), n -> {});
      assertThat(db.count("SELECT count(*) FROM messages WHERE event = 'DELIVER'")).isEqualTo(3000);
      assertThat(db.count("SELECT count(*) FROM messages WHERE event = 'RECEIVE'")).isEqualTo(1);
      assertThat(loader.lastPostfixJoin().peakRetained()).isEqualTo(1);
      assertThat(loader.lastPostfixJoin().lateRows()).isZero();
    }
  }

  @Test
  void rotationsOfOneNameInOneDirectoryAreOneLog() {
    Path a = Path.of("/var/log/mx1");
    assertThat(List.of("maillog", "maillog.1", "maillog.2.gz", "maillog-20250601", "maillog-20250601.gz"))
        .extracting(n -> LogLoader.logName(a.resolve(n))).containsOnly("/var/log/mx1/maillog");
    assertThat(LogLoader.logName(Path.of("/var/log/mx2/maillog"))).isNotEqualTo(LogLoader.logName(a.resolve("maillog")));
    assertThat(LogLoader.logName(a.resolve("mail.log.1"))).isEqualTo("/var/log/mx1/mail.log");
    assertThat(List.of("maillog.3.gz", "maillog.1", "maillog-20250601", "maillog")).extracting(n -> LogLoader.rotation(a.resolve(n)))
        .containsExactly(3L, 1L, 1L, 0L);
  }

  @Test
  void refusedAndAbandonedMessagesAreNotKept() throws Exception {
    // Every 10 s for 14 hours a client= whose message never reaches qmgr: every other one the
    // client leaves during DATA, the others a Milter refuses at the end. Neither is ever `removed`.
    List<String> lines = new java.util.ArrayList<>();
    for (int i = 0; i < 5000; i++) {
      String qid = String.format("%05X%05X", 0x20000 + i, 0xB0000 + i);
      int sec = i * 10;
      String t = String.format("Jun  4 %02d:%02d:%02d", sec / 3600, sec / 60 % 60, sec % 60);
      String pid = "smtpd[" + (3000 + i) + "]";
      lines.add(t + " mx1 postfix/" + pid + ": connect from unknown[198.51.100." + (i % 250) + "]");
      lines.add(t + " mx1 postfix/" + pid + ": " + qid + ": client=unknown[198.51.100." + (i % 250) + "]");
      if (i % 2 == 0) {
        lines.add(t + " mx1 postfix/" + pid + ": lost connection after DATA (0 bytes) from unknown[198.51.100."
            + (i % 250) + "]");
      } else {
        lines.add(t + " mx1 postfix/cleanup[2106]: " + qid + ": milter-reject: END-OF-MESSAGE from unknown[198.51.100."
            + (i % 250) + "]: 5.7.1 Spam message rejected; from=<s@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<x>");
      }
      lines.add(t + " mx1 postfix/" + pid + ": disconnect from unknown[198.51.100." + (i % 250) + "] ehlo=1 mail=1"
          + " rcpt=1 data=0/1 commands=3/4");
    }
    lines.add("Jun  4 14:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.80]");
    lines.add("Jun  4 14:00:01 mx1 postfix/smtpd[2101]: AEBFC0D1E2: client=client.example.org[192.0.2.80]");
    lines.add("Jun  4 14:00:02 mx1 postfix/qmgr[900]: AEBFC0D1E2: from=<a@example.org>, size=500, nrcpt=1 (queue active)");
    maillog("maillog", lines.toArray(String[]::new));
    try (ReportDatabase db = new ReportDatabase()) {
      LogLoader loader = new LogLoader(db, LogFormat.AUTO, 2);
      loader.load(LogLoader.expand(List.of(dir)), n -> {});
      assertThat(db.count("SELECT count(*) FROM messages WHERE event = 'RECEIVE'")).isEqualTo(1);
      assertThat(db.count("SELECT count(*) FROM messages WHERE event = 'REJECT' AND session_id IS NOT NULL"))
          .isEqualTo(2500);
      // Refused ones go at once, abandoned ones after two hours: 2 h / 20 s, and the queued one.
      assertThat(loader.lastPostfixJoin().peakRetained()).isBetween(360L, 362L);
    }
  }

  @Test
  void beyondItsLimitTheJoinLetsTheLeastRecentlyMentionedMessageGoAndCountsIt() throws Exception {
    ReportTestSupport.MessageRows sink = new ReportTestSupport.MessageRows();
    List<MessageRow> rows = sink.rows;
    PostfixQueueJoin join = new PostfixQueueJoin();
    PostfixLogParser parser = new PostfixLogParser(sink, 2025, 6, join, "maillog", PostfixLogParser.newQueue(), 3);
    List<String> lines = new java.util.ArrayList<>();
    lines.add("Jun  4 10:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.90]");
    for (int i = 0; i < 5; i++) {
      String qid = "C0D1E2F3A" + i;
      lines.add("Jun  4 10:00:0" + i + " mx1 postfix/smtpd[2101]: " + qid + ": client=client.example.org[192.0.2.90]");
      lines.add("Jun  4 10:00:0" + i + " mx1 postfix/qmgr[900]: " + qid + ": from=<a@example.org>, size=500, nrcpt=1"
          + " (queue active)");
      if (i == 2) {
        // C0D1E2F3A0 is deferred and retried: mentioned again, so C0D1E2F3A1 is the least recent.
        lines.add("Jun  4 10:00:02 mx1 postfix/smtp[2110]: C0D1E2F3A0: to=<b@example.net>, relay=none, delay=2,"
            + " delays=0/0/2/0, dsn=4.4.1, status=deferred (connect to mx.example.net[198.51.100.7]:25: Connection"
            + " refused)");
      }
    }
    lines.add("Jun  4 10:01:00 mx1 postfix/smtp[2111]: C0D1E2F3A0: to=<b@example.net>, relay=mx.example.net[198.51.100.7]:25,"
        + " delay=60, delays=58/0/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)");
    lines.add("Jun  4 10:01:00 mx1 postfix/smtp[2111]: C0D1E2F3A1: to=<c@example.net>, relay=mx.example.net[198.51.100.7]:25,"
        + " delay=59, delays=58/0/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)");
    parser.parse(new java.io.BufferedReader(new java.io.StringReader(String.join("\n", lines))));
    assertThat(parser.evicted()).isEqualTo(2);
    assertThat(parser.remaining().keySet()).containsExactlyInAnyOrder("mx1 C0D1E2F3A0", "mx1 C0D1E2F3A3",
        "mx1 C0D1E2F3A4");
    // Let go, the received messages' rows are loaded all the same; a later line has no session.
    assertThat(rows).extracting(r -> r.event + " " + r.queueId + " " + (r.sessionId != null)).containsExactly(
        "DEFER C0D1E2F3A0 true", "RECEIVE C0D1E2F3A1 true", "RECEIVE C0D1E2F3A2 true",
        "SEND C0D1E2F3A0 true", "SEND C0D1E2F3A1 false");
  }

  @Test
  void messagesDecidedAtOnceAreNotWatchedForTwoHours() throws Exception {
    // A busy hour: 6000 messages, each queued and delivered within its second.
    StringBuilder log = new StringBuilder();
    for (int i = 0; i < 6000; i++) {
      String qid = String.format("%05X%05X", 0x30000 + i, 0xC0000 + i);
      int sec = i * 3 / 5;
      String t = String.format("Jun  4 10:%02d:%02d", sec / 60, sec % 60);
      String pid = "smtpd[" + (5000 + i) + "]";
      log.append(t).append(" mx1 postfix/").append(pid).append(": connect from client.example.org[192.0.2.91]\n");
      log.append(t).append(" mx1 postfix/").append(pid).append(": ").append(qid)
          .append(": client=client.example.org[192.0.2.91]\n");
      log.append(t).append(" mx1 postfix/qmgr[900]: ").append(qid)
          .append(": from=<a@example.org>, size=500, nrcpt=1 (queue active)\n");
      log.append(t).append(" mx1 postfix/").append(pid).append(": disconnect from client.example.org[192.0.2.91]"
          + " ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5\n");
      log.append(t).append(" mx1 postfix/qmgr[900]: ").append(qid).append(": removed\n");
    }
    long[] received = {0};
    RowSink sink = new RowSink() {
      @Override
      public void event(EventRow row) {}

      @Override
      public void message(MessageRow row) {
        received[0]++;
      }

      @Override
      public void malformed(long line, String reason, String text) {
        throw new AssertionError(line + " " + reason);
      }

      @Override
      public void ignored(long line) {}
    };
    PostfixLogParser parser = new PostfixLogParser(sink, 2025, 6, new PostfixQueueJoin(), "maillog",
        PostfixLogParser.newQueue());
    parser.parse(new java.io.BufferedReader(new java.io.StringReader(log.toString())));
    assertThat(received[0]).isEqualTo(6000);
    assertThat(parser.remaining()).isEmpty();
    assertThat(parser.watched()).isLessThanOrEqualTo(1025);
  }

  @Test
  void filesOfOneHostUnderOtherNamesAreOneLogAndOtherHostsAreNot() throws Exception {
    // An old copy of mx1's log saved under another name elsewhere, the current one, and mx2's.
    Files.createDirectories(dir.resolve("archive"));
    Files.createDirectories(dir.resolve("mx1"));
    Files.createDirectories(dir.resolve("mx2"));
    maillog("archive/mx1-june-2.txt",
        "Jun  2 23:59:50 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.95]",
        "Jun  2 23:59:51 mx1 postfix/smtpd[2101]: D1E2F3A4B5: client=client.example.org[192.0.2.95]");
    maillog("mx1/maillog",
        "Jun  3 00:00:01 mx1 postfix/qmgr[900]: D1E2F3A4B5: from=<a@example.org>, size=500, nrcpt=1 (queue active)",
        "Jun  3 00:00:02 mx1 postfix/smtp[2110]: D1E2F3A4B5: to=<b@example.net>, relay=mx.example.net[198.51.100.7]:25,"
            + " delay=11, delays=10/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
        "Jun  3 00:00:02 mx1 postfix/qmgr[900]: D1E2F3A4B5: removed");
    // Same queue id on another server: nothing of mx1's.
    maillog("mx2/maillog",
        "Jun  3 00:00:03 mx2 postfix/qmgr[901]: D1E2F3A4B5: from=<c@example.org>, size=700, nrcpt=1 (queue active)",
        "Jun  3 00:00:04 mx2 postfix/smtp[2210]: D1E2F3A4B5: to=<d@example.net>, relay=mx.example.net[198.51.100.7]:25,"
            + " delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.query("q", "", "SELECT server, event, sender, client_ip, regexp_extract(source_file, '[^/]+$')"
          + " FROM messages ORDER BY ts").rows()).extracting(Object::toString).containsExactly(
          "[mx1, RECEIVE, a@example.org, 192.0.2.95, mx1-june-2.txt]",
          "[mx1, SEND, a@example.org, 192.0.2.95, maillog]",
          "[mx2, SEND, null, null, maillog]");
    }
  }
}
