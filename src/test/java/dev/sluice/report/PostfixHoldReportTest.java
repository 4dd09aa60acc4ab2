package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.load;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.StringReader;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the report counts for mail put on hold, released or deleted with {@code postsuper}, and for
 * transactions abandoned after a hold, with lines as Postfix 3.7 writes them: a held message is
 * received once whatever becomes of it, delivered only when released, and neither delivered nor
 * still in the queue once an admin deleted it; a transaction the client left before the end of DATA
 * is no message, held or not.
 */
class PostfixHoldReportTest {
  @TempDir Path dir;

  private static String row(Object... cells) {
    return java.util.Arrays.toString(cells);
  }

  @Test
  void aHeldMessageIsReceivedOnceAndDeliveredOnlyWhenReleased() throws Exception {
    ReportTestSupport.maillog(dir, "maillog",
        // Held by a header check, released by the admin an hour later, delivered at the next queue run.
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.30]",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: 2B3C4D5E6F: client=client.example.org[192.0.2.30]",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 2B3C4D5E6F: hold: header Subject: Invoice 4711 from"
            + " client.example.org[192.0.2.30]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>: quarantined for review",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 2B3C4D5E6F: message-id=<h1@example.org>",
        "Jun  3 10:00:03 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.30] ehlo=1 mail=1 rcpt=1"
            + " data=1 quit=1 commands=5",
        // Held likewise, then deleted by the admin.
        "Jun  3 10:05:00 mx1 postfix/smtpd[2102]: connect from client.example.org[192.0.2.31]",
        "Jun  3 10:05:01 mx1 postfix/smtpd[2102]: 3C4D5E6F7A: client=client.example.org[192.0.2.31]",
        "Jun  3 10:05:02 mx1 postfix/cleanup[2106]: 3C4D5E6F7A: hold: header Subject: Invoice 4712 from"
            + " client.example.org[192.0.2.31]; from=<c@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:05:02 mx1 postfix/cleanup[2106]: 3C4D5E6F7A: message-id=<h2@example.org>",
        "Jun  3 10:05:03 mx1 postfix/smtpd[2102]: disconnect from client.example.org[192.0.2.31] ehlo=1 mail=1 rcpt=1"
            + " data=1 quit=1 commands=5",
        // Held by a Milter and left in the hold queue past the end of the log.
        "Jun  3 10:10:00 mx1 postfix/smtpd[2103]: connect from client.example.org[192.0.2.32]",
        "Jun  3 10:10:01 mx1 postfix/smtpd[2103]: 4D5E6F7A8B: client=client.example.org[192.0.2.32]",
        "Jun  3 10:10:02 mx1 postfix/cleanup[2106]: 4D5E6F7A8B: message-id=<h3@example.org>",
        "Jun  3 10:10:02 mx1 postfix/cleanup[2106]: 4D5E6F7A8B: milter-hold: END-OF-MESSAGE from"
            + " client.example.org[192.0.2.32]: milter triggers HOLD action; from=<d@example.org> to=<b@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:10:03 mx1 postfix/smtpd[2103]: disconnect from client.example.org[192.0.2.32] ehlo=1 mail=1 rcpt=1"
            + " data=1 quit=1 commands=5",
        "Jun  3 11:00:00 mx1 postfix/postsuper[3101]: 2B3C4D5E6F: released from hold",
        "Jun  3 11:00:00 mx1 postfix/postsuper[3101]: Released from hold: 1 message",
        "Jun  3 11:05:00 mx1 postfix/postsuper[3102]: 3C4D5E6F7A: removed",
        "Jun  3 11:05:00 mx1 postfix/postsuper[3102]: Deleted: 1 message",
        "Jun  3 11:05:10 mx1 postfix/qmgr[900]: 2B3C4D5E6F: from=<a@example.org>, size=1812, nrcpt=1 (queue active)",
        "Jun  3 11:05:11 mx1 postfix/smtp[2110]: 2B3C4D5E6F: to=<b@example.net>, relay=mx.example.net[198.51.100.7]:25,"
            + " delay=3910, delays=3909/0.01/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7A8B9)",
        "Jun  3 11:05:11 mx1 postfix/qmgr[900]: 2B3C4D5E6F: removed",
        // Short queue ids are reused: a local message later gets the deleted one's. It is root's, not the client's.
        "Jun  3 12:00:00 mx1 postfix/pickup[950]: 3C4D5E6F7A: uid=0 from=<root>",
        "Jun  3 12:00:00 mx1 postfix/cleanup[2106]: 3C4D5E6F7A: message-id=<local@mx1.example.org>",
        "Jun  3 12:00:00 mx1 postfix/qmgr[900]: 3C4D5E6F7A: from=<root@mx1.example.org>, size=400, nrcpt=1 (queue active)",
        "Jun  3 12:00:00 mx1 postfix/local[2401]: 3C4D5E6F7A: to=<root@mx1.example.org>, relay=local, delay=0.02,"
            + " delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (delivered to mailbox)",
        "Jun  3 12:00:00 mx1 postfix/qmgr[900]: 3C4D5E6F7A: removed");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT queue_id, event, ts, client_ip, message_id FROM messages ORDER BY ts, queue_id")
          .rows()).extracting(Object::toString).containsExactly(
          row("2B3C4D5E6F", "RECEIVE", "2025-06-03T10:00:02", "192.0.2.30", "h1@example.org"),
          row("3C4D5E6F7A", "RECEIVE", "2025-06-03T10:05:02", "192.0.2.31", "h2@example.org"),
          row("4D5E6F7A8B", "RECEIVE", "2025-06-03T10:10:02", "192.0.2.32", "h3@example.org"),
          row("2B3C4D5E6F", "SEND", "2025-06-03T11:05:11", "192.0.2.30", "h1@example.org"),
          row("3C4D5E6F7A", "DELIVER", "2025-06-03T12:00", null, null));
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(Object::toString).containsExactly("[mx1, 3, 100.0, 3]");
    }
  }

  @Test
  void aMessageDeletedOrRequeuedByPostsuperIsNoLongerInTheQueue() throws Exception {
    ReportTestSupport.MessageRows sink = new ReportTestSupport.MessageRows();
    PostfixQueueJoin join = new PostfixQueueJoin();
    PostfixLogParser first = new PostfixLogParser(sink, 2025, 6, join, "maillog.1", PostfixLogParser.newQueue());
    first.parse(new BufferedReader(new StringReader(String.join("\n",
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from client.example.org[192.0.2.40]",
        // Held by a header check, deleted in the next file.
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: 5E6F7A8B9C: client=client.example.org[192.0.2.40]",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 5E6F7A8B9C: hold: header X-Spam-Flag: YES from"
            + " client.example.org[192.0.2.40]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:00:02 mx1 postfix/cleanup[2106]: 5E6F7A8B9C: message-id=<p1@example.org>",
        // Queued and deferred, then deleted from the deferred queue.
        "Jun  3 10:00:03 mx1 postfix/smtpd[2101]: 6F7A8B9CAD: client=client.example.org[192.0.2.40]",
        "Jun  3 10:00:04 mx1 postfix/cleanup[2106]: 6F7A8B9CAD: message-id=<p2@example.org>",
        "Jun  3 10:00:04 mx1 postfix/qmgr[900]: 6F7A8B9CAD: from=<a@example.org>, size=900, nrcpt=1 (queue active)",
        "Jun  3 10:00:05 mx1 postfix/smtp[2110]: 6F7A8B9CAD: to=<c@example.com>, relay=none, delay=1.2,"
            + " delays=0.5/0.01/0.7/0, dsn=4.4.1, status=deferred (connect to mx.example.com[203.0.113.9]:25:"
            + " Connection refused)",
        // Held, then requeued: pickup copies it to a new queue file under another queue id.
        "Jun  3 10:00:06 mx1 postfix/smtpd[2101]: 7A8B9CADBE: client=client.example.org[192.0.2.40]",
        "Jun  3 10:00:07 mx1 postfix/cleanup[2106]: 7A8B9CADBE: hold: header X-Spam-Flag: YES from"
            + " client.example.org[192.0.2.40]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:00:07 mx1 postfix/cleanup[2106]: 7A8B9CADBE: message-id=<p3@example.org>",
        "Jun  3 10:00:08 mx1 postfix/smtpd[2101]: disconnect from client.example.org[192.0.2.40] ehlo=1 mail=3 rcpt=3"
            + " data=3 quit=1 commands=11",
        // A client access HOLD; the session's end is in the next file.
        "Jun  3 10:00:09 mx1 postfix/smtpd[2102]: connect from unknown[198.51.100.30]",
        "Jun  3 10:00:09 mx1 postfix/smtpd[2102]: NOQUEUE: hold: RCPT from unknown[198.51.100.30]:"
            + " <unknown[198.51.100.30]>: Client host triggers HOLD action; from=<s@example.org> to=<b@example.net>"
            + " proto=ESMTP helo=<x>",
        "Jun  3 10:00:09 mx1 postfix/smtpd[2102]: 9CADBECFD0: client=unknown[198.51.100.30]",
        "Jun  3 10:00:10 mx1 postfix/cleanup[2106]: 9CADBECFD0: message-id=<p4@example.org>"))));
    assertThat(first.remaining().keySet()).containsExactly("mx1 5E6F7A8B9C", "mx1 6F7A8B9CAD", "mx1 7A8B9CADBE",
        "mx1 9CADBECFD0");
    PostfixLogParser second = new PostfixLogParser(sink, 2025, 6, join, "maillog", first.remaining());
    second.parse(new BufferedReader(new StringReader(String.join("\n",
        "Jun  3 10:00:10 mx1 postfix/smtpd[2102]: disconnect from unknown[198.51.100.30] ehlo=1 mail=1 rcpt=1 data=1"
            + " quit=1 commands=5",
        "Jun  4 08:59:00 mx1 postfix/postsuper[3100]: 6F7A8B9CAD: placed on hold",
        "Jun  4 08:59:00 mx1 postfix/postsuper[3100]: Placed on hold: 1 message",
        "Jun  4 09:00:00 mx1 postfix/postsuper[3101]: 5E6F7A8B9C: removed",
        "Jun  4 09:00:00 mx1 postfix/postsuper[3101]: 6F7A8B9CAD: removed",
        "Jun  4 09:00:00 mx1 postfix/postsuper[3101]: Deleted: 2 messages",
        "Jun  4 09:01:00 mx1 postfix/postsuper[3102]: 7A8B9CADBE: requeued",
        "Jun  4 09:01:00 mx1 postfix/postsuper[3102]: Requeued: 1 message",
        // pickup copies it and names it; the header check holds the copy again, and the admin deletes it.
        "Jun  4 09:01:01 mx1 postfix/pickup[950]: 8B9CADBECF: uid=102 from=<a@example.org> orig_id=7A8B9CADBE",
        "Jun  4 09:01:01 mx1 postfix/cleanup[2106]: 8B9CADBECF: hold: header X-Spam-Flag: YES from"
            + " client.example.org[192.0.2.40]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  4 09:01:01 mx1 postfix/cleanup[2106]: 8B9CADBECF: message-id=<p3@example.org>",
        "Jun  4 09:01:30 mx1 postfix/postsuper[3104]: 8B9CADBECF: removed",
        "Jun  4 09:01:30 mx1 postfix/postsuper[3104]: Deleted: 1 message",
        // Held a day ago, released now: the delivery is of the client's message.
        "Jun  4 09:02:00 mx1 postfix/postsuper[3103]: 9CADBECFD0: released from hold",
        "Jun  4 09:02:00 mx1 postfix/postsuper[3103]: Released from hold: 1 message",
        "Jun  4 09:03:00 mx1 postfix/qmgr[900]: 9CADBECFD0: from=<s@example.org>, size=900, nrcpt=1 (queue active)",
        "Jun  4 09:03:01 mx1 postfix/smtp[2111]: 9CADBECFD0: to=<b@example.net>, relay=mx.example.net[198.51.100.7]:25,"
            + " delay=82972, delays=82971/0.01/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7A8B9)",
        "Jun  4 09:03:01 mx1 postfix/qmgr[900]: 9CADBECFD0: removed"))));
    // Deleted, requeued or delivered, none is in the queue any more: nothing of them is kept.
    assertThat(second.remaining()).isEmpty();
    assertThat(sink.rows).extracting(r -> r.event + " " + r.queueId + " " + r.clientIp).containsExactly(
        "DEFER 6F7A8B9CAD 192.0.2.40", "SEND 9CADBECFD0 198.51.100.30");
    // Each was received from the client all the same: its row goes to the file of its client= line.
    assertThat(join.lateRows()).isEqualTo(4);
  }

  @Test
  void aTransactionAbandonedAfterAHoldIsNoMessage() throws Exception {
    ReportTestSupport.maillog(dir, "maillog",
        // A client access HOLD before the queue id; the client then leaves at RCPT.
        "Jun  3 10:00:00 mx1 postfix/smtpd[2101]: connect from unknown[198.51.100.20]",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: NOQUEUE: hold: RCPT from unknown[198.51.100.20]: <unknown[198.51.100.20]>:"
            + " Client host triggers HOLD action; from=<s@example.org> to=<b@example.net> proto=ESMTP helo=<x>",
        "Jun  3 10:00:01 mx1 postfix/smtpd[2101]: 1A2B3C4D5E: client=unknown[198.51.100.20]",
        "Jun  3 10:00:31 mx1 postfix/smtpd[2101]: lost connection after RCPT from unknown[198.51.100.20]",
        "Jun  3 10:00:31 mx1 postfix/smtpd[2101]: disconnect from unknown[198.51.100.20] ehlo=1 mail=1 rcpt=1 commands=3",
        // The same, but the client sends RSET and another message, which is queued.
        "Jun  3 10:01:00 mx1 postfix/smtpd[2102]: connect from client.example.org[192.0.2.50]",
        "Jun  3 10:01:01 mx1 postfix/smtpd[2102]: NOQUEUE: hold: RCPT from client.example.org[192.0.2.50]: <a@example.org>:"
            + " Sender address triggers HOLD action; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:01:01 mx1 postfix/smtpd[2102]: 2B3C4D5E6F: client=client.example.org[192.0.2.50]",
        "Jun  3 10:01:02 mx1 postfix/smtpd[2102]: 3C4D5E6F7A: client=client.example.org[192.0.2.50]",
        "Jun  3 10:01:03 mx1 postfix/cleanup[2106]: 3C4D5E6F7A: message-id=<k1@example.org>",
        "Jun  3 10:01:03 mx1 postfix/qmgr[900]: 3C4D5E6F7A: from=<c@example.org>, size=700, nrcpt=1 (queue active)",
        "Jun  3 10:01:04 mx1 postfix/smtpd[2102]: disconnect from client.example.org[192.0.2.50] ehlo=1 mail=2 rcpt=2"
            + " data=1 rset=1 quit=1 commands=8",
        // Held by a header check while the headers came in; the client left during the body.
        "Jun  3 10:02:00 mx1 postfix/smtpd[2103]: connect from client.example.org[192.0.2.51]",
        "Jun  3 10:02:01 mx1 postfix/smtpd[2103]: 4D5E6F7A8B: client=client.example.org[192.0.2.51]",
        "Jun  3 10:02:02 mx1 postfix/cleanup[2106]: 4D5E6F7A8B: hold: header Subject: Invoice 4711 from"
            + " client.example.org[192.0.2.51]; from=<a@example.org> to=<b@example.net> proto=ESMTP"
            + " helo=<client.example.org>",
        "Jun  3 10:02:02 mx1 postfix/cleanup[2106]: 4D5E6F7A8B: message-id=<k2@example.org>",
        "Jun  3 10:07:02 mx1 postfix/smtpd[2103]: timeout after DATA (8192 bytes) from client.example.org[192.0.2.51]",
        "Jun  3 10:07:02 mx1 postfix/smtpd[2103]: disconnect from client.example.org[192.0.2.51] ehlo=1 mail=1 rcpt=1"
            + " data=0/1 commands=3/4",
        // A recipient HOLD once the queue id existed (the first recipient was accepted); the client then left.
        "Jun  3 10:03:00 mx1 postfix/smtpd[2104]: connect from client.example.org[192.0.2.52]",
        "Jun  3 10:03:01 mx1 postfix/smtpd[2104]: 5E6F7A8B9C: client=client.example.org[192.0.2.52]",
        "Jun  3 10:03:01 mx1 postfix/smtpd[2104]: 5E6F7A8B9C: hold: RCPT from client.example.org[192.0.2.52]:"
            + " <q@example.net>: Recipient address triggers HOLD action; from=<a@example.org> to=<q@example.net>"
            + " proto=ESMTP helo=<client.example.org>",
        "Jun  3 10:03:02 mx1 postfix/smtpd[2104]: lost connection after RCPT from client.example.org[192.0.2.52]",
        "Jun  3 10:03:02 mx1 postfix/smtpd[2104]: disconnect from client.example.org[192.0.2.52] ehlo=1 mail=1 rcpt=2"
            + " commands=4",
        // A HOLD before the queue id; the client left during the body, after the headers.
        "Jun  3 10:04:00 mx1 postfix/smtpd[2105]: connect from unknown[198.51.100.21]",
        "Jun  3 10:04:01 mx1 postfix/smtpd[2105]: NOQUEUE: hold: RCPT from unknown[198.51.100.21]: <unknown[198.51.100.21]>:"
            + " Client host triggers HOLD action; from=<s@example.org> to=<b@example.net> proto=ESMTP helo=<x>",
        "Jun  3 10:04:01 mx1 postfix/smtpd[2105]: 6F7A8B9CAD: client=unknown[198.51.100.21]",
        "Jun  3 10:04:02 mx1 postfix/cleanup[2106]: 6F7A8B9CAD: message-id=<>",
        "Jun  3 10:04:09 mx1 postfix/smtpd[2105]: lost connection after DATA (12288 bytes) from unknown[198.51.100.21]",
        "Jun  3 10:04:09 mx1 postfix/smtpd[2105]: disconnect from unknown[198.51.100.21] ehlo=1 mail=1 rcpt=1 data=0/1"
            + " commands=3/4",
        // The same HOLD, and the message is sent to the end: held, so received.
        "Jun  3 10:05:00 mx1 postfix/smtpd[2107]: connect from unknown[198.51.100.22]",
        "Jun  3 10:05:01 mx1 postfix/smtpd[2107]: NOQUEUE: hold: RCPT from unknown[198.51.100.22]: <unknown[198.51.100.22]>:"
            + " Client host triggers HOLD action; from=<s@example.org> to=<b@example.net> proto=ESMTP helo=<x>",
        "Jun  3 10:05:01 mx1 postfix/smtpd[2107]: 7A8B9CADBE: client=unknown[198.51.100.22]",
        "Jun  3 10:05:02 mx1 postfix/cleanup[2106]: 7A8B9CADBE: message-id=<k3@example.org>",
        "Jun  3 10:05:03 mx1 postfix/smtpd[2107]: disconnect from unknown[198.51.100.22] ehlo=1 mail=1 rcpt=1 data=1"
            + " quit=1 commands=5",
        // A HOLD, and the log ends before the message's content: nothing was received in it.
        "Jun  3 10:06:00 mx1 postfix/smtpd[2108]: connect from unknown[198.51.100.23]",
        "Jun  3 10:06:01 mx1 postfix/smtpd[2108]: NOQUEUE: hold: RCPT from unknown[198.51.100.23]: <unknown[198.51.100.23]>:"
            + " Client host triggers HOLD action; from=<s@example.org> to=<b@example.net> proto=ESMTP helo=<x>",
        "Jun  3 10:06:01 mx1 postfix/smtpd[2108]: 8B9CADBECF: client=unknown[198.51.100.23]");
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(db.query("q", "", "SELECT queue_id, ts, client_ip FROM messages WHERE event = 'RECEIVE' ORDER BY ts")
          .rows()).extracting(Object::toString).containsExactly(
          row("3C4D5E6F7A", "2025-06-03T10:01:03", "192.0.2.50"),
          row("7A8B9CADBE", "2025-06-03T10:05:01", "198.51.100.22"));
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3)).containsExactly("mx1=2");
    }
  }
}
