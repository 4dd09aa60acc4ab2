package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.rows;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.StringReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code postsuper} runs with {@code ALL}, in lines as Postfix 3.7 writes them: such a run logs no
 * per queue id line, only its counts ({@code Deleted: 5 messages}, {@code Requeued: 3 messages},
 * {@code Released from hold: 2 messages}, {@code Placed on hold: 2 messages}), and never the queues
 * it was given. A mass requeue is named message by message when pickup copies each ({@code
 * orig_id=}); a mass deletion never is, so the report says what may have gone, and a queue id reused
 * afterwards is a new message, not the deleted one.
 */
class PostsuperMassReportTest {
  @TempDir Path dir;

  /** A client's session on mx1 that sends one message with queue id {@code qid}, held by a header check if asked. */
  private static List<String> received(String time, String pid, String ip, String qid, boolean held) {
    List<String> lines = new ArrayList<>();
    lines.add("Jun  3 " + time + " mx1 postfix/smtpd[" + pid + "]: connect from unknown[" + ip + "]");
    lines.add("Jun  3 " + time + " mx1 postfix/smtpd[" + pid + "]: " + qid + ": client=unknown[" + ip + "]");
    if (held) {
      lines.add("Jun  3 " + time + " mx1 postfix/cleanup[3364]: " + qid + ": hold: header Subject: hold from unknown[" + ip
          + "]; from=<a@corp.example> to=<u@example.test> proto=ESMTP helo=<swaks.sluice.test>: quarantined");
    }
    lines.add("Jun  3 " + time + " mx1 postfix/cleanup[3364]: " + qid + ": message-id=<" + qid + "@client.example>");
    if (!held) {
      lines.add(queueActive(time, qid, "a@corp.example"));
      lines.add("Jun  3 " + time + " mx1 postfix/error[3369]: " + qid + ": to=<u@example.test>, relay=none, delay=0.01,"
          + " delays=0/0.01/0/0.01, dsn=4.3.2, status=deferred (deferred transport)");
    }
    lines.add("Jun  3 " + time + " mx1 postfix/smtpd[" + pid + "]: disconnect from unknown[" + ip + "] ehlo=1 mail=1 rcpt=1"
        + " data=1 quit=1 commands=5");
    return lines;
  }

  /**
   * The queue most tests start from: a message from 127.0.0.33 held by a header check at 10:00:01
   * and one from 127.0.0.34 deferred at 10:00:02.
   */
  private static List<String> heldAndDeferred(String heldQid, String deferredQid) {
    return log(List.of(received("10:00:01", "3361", "127.0.0.33", heldQid, true),
        received("10:00:02", "3361", "127.0.0.34", deferredQid, false)));
  }

  private static String queueActive(String time, String qid, String sender) {
    return "Jun  3 " + time + " mx1 postfix/qmgr[3357]: " + qid + ": from=<" + sender + ">, size=405, nrcpt=1 (queue active)";
  }

  /** qmgr takes {@code qid} into the active queue, virtual delivers it to {@code to}, qmgr removes it. */
  private static List<String> delivered(String time, String qid, String sender, String to) {
    return List.of(queueActive(time, qid, sender),
        "Jun  3 " + time + " mx1 postfix/virtual[3370]: " + qid + ": to=<" + to + ">, relay=virtual, delay=1,"
            + " delays=1/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
        "Jun  3 " + time + " mx1 postfix/qmgr[3357]: " + qid + ": removed");
  }

  private static List<String> log(List<List<String>> parts) {
    List<String> all = new ArrayList<>();
    parts.forEach(all::addAll);
    return all;
  }

  /** Writes the lines as one maillog in {@code dir} and loads it. */
  private ReportDatabase load(List<List<String>> parts) throws Exception {
    ReportTestSupport.maillog(dir, "maillog", log(parts).toArray(String[]::new));
    return ReportTestSupport.load(LogFormat.AUTO, dir);
  }

  private static PostfixLogParser parse(ReportTestSupport.MessageRows sink, List<String> lines) throws Exception {
    PostfixLogParser p = new PostfixLogParser(sink, 2025, 6, new PostfixQueueJoin(), "maillog", PostfixLogParser.newQueue());
    p.parse(new BufferedReader(new StringReader(String.join("\n", lines))));
    return p;
  }

  @Test
  void aMassDeletionIsNotedWithTheMessagesThatMayBeAmongTheDeleted() throws Exception {
    try (ReportDatabase db = load(List.of(
        received("10:00:01", "3361", "127.0.0.33", "782B520C433", true),
        received("10:00:02", "3361", "127.0.0.33", "9BA3020C170", true),
        received("10:00:03", "3361", "127.0.0.34", "B82B820C5CF", false),
        // Delivered and removed before the deletion: not among them.
        received("10:00:04", "3362", "127.0.0.35", "C5FA220C5DD", false),
        delivered("10:00:05", "C5FA220C5DD", "a@corp.example", "u@example.test"),
        // postsuper -d ALL: the count is all it logs, and it counts mail the log does not follow too.
        List.of("Jun  3 11:05:00 mx1 postfix/postsuper[3463]: Deleted: 5 messages")))) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      assertThat(rows(db, "SELECT note FROM files")).containsExactly(
          "[mx1 2025-06-03 11:05:00: postsuper deleted 5 messages without naming them (-d ALL); 3 messages received"
              + " from clients were in the queue then, as far as the log shows, and may be among them]");
      // They were received all the same: deleting them later takes nothing back.
      assertThat(rows(db, "SELECT queue_id FROM messages WHERE event = 'RECEIVE' ORDER BY ts"))
          .containsExactly("[782B520C433]", "[9BA3020C170]", "[B82B820C5CF]", "[C5FA220C5DD]");
    }
  }

  @Test
  void aDeletionThatNamedItsMessagesOrDeletedNoneIsNotNoted() throws Exception {
    ReportTestSupport.MessageRows sink = new ReportTestSupport.MessageRows();
    List<String> lines = log(List.of(
        received("10:00:01", "3361", "127.0.0.33", "782B520C433", true),
        received("10:00:02", "3361", "127.0.0.33", "9BA3020C170", true),
        List.of(
            // postsuper -d 782B520C433: the line names it, the count adds nothing.
            "Jun  3 11:00:00 mx1 postfix/postsuper[3401]: 782B520C433: removed",
            "Jun  3 11:00:00 mx1 postfix/postsuper[3401]: Deleted: 1 message",
            // postsuper -d ALL hold with an empty hold queue (Postfix 3.5 and later log the zero).
            "Jun  3 11:01:00 mx1 postfix/postsuper[3409]: Deleted: 0 messages")));
    PostfixLogParser p = parse(sink, lines);
    assertThat(p.note()).isNull();
    assertThat(p.remaining().keySet()).containsExactly("mx1 9BA3020C170");

    // postsuper -d 9BA3020C170 -d ALL: one named, two more deleted unnamed.
    lines.add("Jun  3 11:02:00 mx1 postfix/postsuper[3414]: 9BA3020C170: removed");
    lines.add("Jun  3 11:02:00 mx1 postfix/postsuper[3414]: Deleted: 3 messages");
    lines.addAll(received("11:03:00", "3362", "127.0.0.34", "0B83420C0C4", true));
    lines.add("Jun  3 11:04:00 mx1 postfix/postsuper[3420]: Deleted: 1 message");
    p = parse(new ReportTestSupport.MessageRows(), lines);
    // No message was kept at the first; one was at the second.
    assertThat(p.note()).isEqualTo("mx1 2025-06-03 11:04:00: postsuper deleted 1 message without naming them (-d ALL);"
        + " 1 message received from clients was in the queue then, as far as the log shows, and may be among them");
  }

  @Test
  void aMessageCountsInTheNoteOfOneMassDeletionUntilALineOfItsOwnShowsItAgain() throws Exception {
    List<String> lines = log(List.of(heldAndDeferred("782B520C433", "B82B820C5CF"),
        // postsuper -d ALL hold, say: the log cannot tell which of the two went.
        List.of("Jun  3 11:00:00 mx1 postfix/postsuper[3401]: Deleted: 1 message",
            // qmgr retries the deferred one: it stayed.
            queueActive("11:10:00", "B82B820C5CF", "a@corp.example"),
            "Jun  3 11:10:00 mx1 postfix/error[3369]: B82B820C5CF: to=<u@example.test>, relay=none, delay=4200,"
                + " delays=4200/0/0/0, dsn=4.3.2, status=deferred (deferred transport)"),
        received("11:20:00", "3362", "127.0.0.35", "0B83420C0C4", true),
        List.of("Jun  3 12:00:00 mx1 postfix/postsuper[3409]: Deleted: 2 messages")));
    PostfixLogParser p = parse(new ReportTestSupport.MessageRows(), lines);
    // The held one of 10:00 is not counted again: nothing showed it in the queue after the first deletion.
    assertThat(p.note()).isEqualTo(
        "mx1 2025-06-03 11:00:00: postsuper deleted 1 message without naming them (-d ALL); 2 messages received from"
            + " clients were in the queue then, as far as the log shows, and may be among them; "
            + "mx1 2025-06-03 12:00:00: postsuper deleted 2 messages without naming them (-d ALL); 2 messages received"
            + " from clients were in the queue then, as far as the log shows, and may be among them");
    // Kept all the same: any of them may still be in the queue, and its lines are its own.
    assertThat(p.remaining().keySet()).containsExactlyInAnyOrder("mx1 782B520C433", "mx1 B82B820C5CF", "mx1 0B83420C0C4");
  }

  @Test
  void aQueueIdReusedAfterAMassDeletionIsANewMessageNotTheDeletedOne() throws Exception {
    try (ReportDatabase db = load(List.of(heldAndDeferred("782B520C433", "B82B820C5CF"),
        List.of("Jun  3 11:05:00 mx1 postfix/postsuper[3463]: Deleted: 2 messages",
            // Short queue ids are reused: a local submission gets the held message's.
            "Jun  3 12:00:00 mx1 postfix/pickup[3358]: 782B520C433: uid=0 from=<root@corp.example>",
            "Jun  3 12:00:00 mx1 postfix/cleanup[3364]: 782B520C433: message-id=<local@mx1.sluice.test>"),
        delivered("12:00:00", "782B520C433", "root@corp.example", "u@example.test"),
        // And a bounce the deferred message's; its only line before qmgr's is cleanup's message-id.
        List.of("Jun  3 12:01:00 mx1 postfix/cleanup[3364]: B82B820C5CF: message-id=<bounce@mx1.sluice.test>",
            "Jun  3 12:01:00 mx1 postfix/bounce[3380]: 1C95420C170: sender non-delivery notification: B82B820C5CF"),
        delivered("12:01:00", "B82B820C5CF", "", "a@corp.example")))) {
      // The local message's and the bounce's deliveries are no client's.
      assertThat(rows(db, "SELECT queue_id, event, client_ip, session_id IS NULL, message_id FROM messages"
          + " ORDER BY ts, event")).containsExactly(
          "[782B520C433, RECEIVE, 127.0.0.33, false, 782B520C433@client.example]",
          "[B82B820C5CF, DEFER, 127.0.0.34, false, B82B820C5CF@client.example]",
          "[B82B820C5CF, RECEIVE, 127.0.0.34, false, B82B820C5CF@client.example]",
          "[782B520C433, DELIVER, null, true, null]",
          "[B82B820C5CF, DELIVER, null, true, null]");
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
    }
  }

  @Test
  void aMassRequeueIsNamedByPickupSoTheMessagesLeaveTheirQueueIds() throws Exception {
    ReportTestSupport.MessageRows sink = new ReportTestSupport.MessageRows();
    PostfixLogParser p = parse(sink, log(List.of(
        received("10:00:01", "3361", "127.0.0.35", "7862820C600", true),
        received("10:00:02", "3361", "127.0.0.35", "917CF20C603", false),
        List.of("Jun  3 11:00:00 mx1 postfix/postsuper[9275]: Requeued: 2 messages",
            // pickup copies each to a new queue file, naming the one it came from; header checks apply again.
            "Jun  3 11:00:30 mx1 postfix/pickup[9258]: 2638E20C60A: uid=102 from=<a@corp.example> orig_id=7862820C600",
            "Jun  3 11:00:30 mx1 postfix/cleanup[9266]: 2638E20C60A: hold: header Subject: hold from unknown[127.0.0.35];"
                + " from=<a@corp.example> to=<u@example.test> proto=ESMTP helo=<swaks.sluice.test>: quarantined",
            "Jun  3 11:00:30 mx1 postfix/cleanup[9266]: 2638E20C60A: message-id=<7862820C600@client.example>",
            "Jun  3 11:00:30 mx1 postfix/pickup[9258]: 268AE20C20C: uid=102 from=<a@corp.example> orig_id=917CF20C603",
            "Jun  3 11:00:30 mx1 postfix/cleanup[9266]: 268AE20C20C: message-id=<917CF20C603@client.example>",
            "Jun  3 11:00:30 mx1 postfix/qmgr[9259]: 268AE20C20C: from=<a@corp.example>, size=520, nrcpt=1 (queue active)",
            "Jun  3 11:00:30 mx1 postfix/error[9269]: 268AE20C20C: to=<u@example.test>, relay=none, delay=1.6,"
                + " delays=1.6/0/0/0, dsn=4.3.2, status=deferred (deferred transport)",
            // The copies are the client's messages: a later postsuper -d ALL may take them.
            "Jun  3 11:01:00 mx1 postfix/postsuper[9343]: Deleted: 2 messages"))));
    // Each copy stands in for its original, which left its queue id.
    assertThat(p.remaining().keySet()).containsExactly("mx1 2638E20C60A", "mx1 268AE20C20C");
    assertThat(p.note()).isEqualTo("mx1 2025-06-03 11:01:00: postsuper deleted 2 messages without naming them"
        + " (-d ALL); 2 messages received from clients were in the queue then, as far as the log shows, and may be"
        + " among them");
    // Received once each, when the client sent it; the copy's delivery attempt is the client's.
    assertThat(sink.rows).extracting(r -> r.event + " " + r.queueId + " " + r.clientIp + " " + r.sessionId).containsExactly(
        "DEFER 917CF20C603 127.0.0.35 mx1/3361/6", "RECEIVE 7862820C600 127.0.0.35 mx1/3361/1",
        "RECEIVE 917CF20C603 127.0.0.35 mx1/3361/6", "DEFER 268AE20C20C 127.0.0.35 mx1/3361/6");
  }

  @Test
  void aRequeuedMessagesCopyIsTheClientsMessageInALaterFileToo() throws Exception {
    // Lines as Postfix 3.7 wrote them (PostsuperMassPostfixIT): one message held, three deferred;
    // then the held one requeued by queue id and the others with -r ALL, after the header checks
    // changed. The log rotated between the two runs.
    ReportTestSupport.maillog(dir, "maillog.1", log(List.of(
        received("07:27:35", "11602", "127.0.0.61", "307D220C85B", true),
        received("07:27:35", "11602", "127.0.0.62", "3DE2F20C85D", false),
        received("07:27:35", "11602", "127.0.0.63", "4B79C20C866", false),
        received("07:27:35", "11602", "127.0.0.64", "5773420C86D", false),
        List.of("Jun  3 07:27:42 mx1 postfix/postsuper[11720]: 307D220C85B: requeued",
            "Jun  3 07:27:42 mx1 postfix/postsuper[11720]: Requeued: 1 message"))).toArray(String[]::new));
    ReportTestSupport.maillog(dir, "maillog", log(List.of(
        List.of("Jun  3 07:27:44 mx1 postfix/postsuper[11723]: Requeued: 3 messages",
            // Discarded by the new header check: cleanup names the client, as for the original.
            "Jun  3 07:27:44 mx1 postfix/pickup[11626]: 9FA9320C872: uid=102 from=<a@corp.example> orig_id=5773420C86D",
            "Jun  3 07:27:44 mx1 postfix/cleanup[11725]: 9FA9320C872: discard: header Subject: later drop from"
                + " unknown[127.0.0.64]; from=<a@corp.example> to=<u@example.test> proto=ESMTP helo=<swaks.sluice.test>:"
                + " dropped",
            "Jun  3 07:27:44 mx1 postfix/pickup[11626]: A104320C87E: uid=102 from=<a@corp.example> orig_id=307D220C85B",
            "Jun  3 07:27:44 mx1 postfix/cleanup[11725]: A104320C87E: message-id=<307D220C85B@client.example>"),
        delivered("07:27:44", "A104320C87E", "a@corp.example", "u@example.test"),
        // Refused by the new header check: bounced to the sender, who was told 250 long ago.
        List.of("Jun  3 07:27:44 mx1 postfix/pickup[11626]: A255A20C85B: uid=102 from=<a@corp.example> orig_id=4B79C20C866",
            "Jun  3 07:27:44 mx1 postfix/cleanup[11725]: A255A20C85B: reject: header Subject: later spam from"
                + " unknown[127.0.0.63]; from=<a@corp.example> to=<u@example.test> proto=ESMTP helo=<swaks.sluice.test>:"
                + " 5.7.1 no spam",
            "Jun  3 07:27:44 mx1 postfix/cleanup[11725]: A255A20C85B: message-id=<4B79C20C866@client.example>",
            "Jun  3 07:27:44 mx1 postfix/cleanup[11725]: A255A20C85B: to=<u@example.test>, relay=none, delay=9.4,"
                + " delays=9.4/0/0/0, dsn=5.7.1, status=bounced (no spam)",
            "Jun  3 07:27:44 mx1 postfix/cleanup[11731]: A61CB20C87E: message-id=<20250603072744.A61CB20C87E@mx1.sluice.test>",
            "Jun  3 07:27:44 mx1 postfix/bounce[11729]: A255A20C85B: sender non-delivery notification: A61CB20C87E"),
        delivered("07:27:44", "A61CB20C87E", "", "a@corp.example"),
        List.of("Jun  3 07:27:44 mx1 postfix/pickup[11626]: A6C5320C85B: uid=102 from=<a@corp.example> orig_id=3DE2F20C85D",
            "Jun  3 07:27:44 mx1 postfix/cleanup[11731]: A6C5320C85B: message-id=<3DE2F20C85D@client.example>"),
        delivered("07:27:44", "A6C5320C85B", "a@corp.example", "u@example.test"))).toArray(String[]::new));
    try (ReportDatabase db = ReportTestSupport.load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      // Received once each, in the file of the client= line; the copies add no message.
      assertThat(rows(db, "SELECT client_ip, source_file LIKE '%.1' FROM messages WHERE event = 'RECEIVE'"
          + " ORDER BY client_ip")).containsExactly("[127.0.0.61, true]", "[127.0.0.62, true]", "[127.0.0.63, true]",
          "[127.0.0.64, true]");
      // The copies' lines carry the session that sent the original; the bounce is no client's.
      assertThat(rows(db, "SELECT d.event, d.queue_id, d.client_ip, d.message_id, d.session_id = r.session_id"
          + " FROM messages d LEFT JOIN messages r ON r.event = 'RECEIVE' AND r.client_ip = d.client_ip"
          + " WHERE d.event <> 'RECEIVE' AND d.source_file NOT LIKE '%.1' ORDER BY d.source_line")).containsExactly(
          "[DELIVER, A104320C87E, 127.0.0.61, 307D220C85B@client.example, true]",
          "[REJECT, A255A20C85B, 127.0.0.63, null, true]",
          "[DELIVER, A61CB20C87E, null, null, null]",
          "[DELIVER, A6C5320C85B, 127.0.0.62, 3DE2F20C85D@client.example, true]");
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3)).containsExactly("mx1=4");
    }
  }

  @Test
  void aMassHoldOrReleaseNeedsNoQueueIds() throws Exception {
    // postsuper -h ALL then -H ALL: a deferred message held and released, and a message held by a
    // header check released; qmgr delivers both. Only counts are logged, and none is needed.
    try (ReportDatabase db = load(List.of(heldAndDeferred("A9EAE20C5CB", "C5FA220C5DD"),
        List.of("Jun  3 10:01:59 mx1 postfix/postsuper[8430]: Placed on hold: 1 message",
            "Jun  3 10:02:00 mx1 postfix/postsuper[8435]: Released from hold: 2 messages"),
        delivered("10:02:01", "A9EAE20C5CB", "a@corp.example", "u@example.test"),
        delivered("10:02:01", "C5FA220C5DD", "a@corp.example", "u@example.test")))) {
      assertThat(rows(db, "SELECT queue_id, event, ts, client_ip FROM messages WHERE event <> 'DEFER'"
          + " ORDER BY ts, queue_id")).containsExactly(
          "[A9EAE20C5CB, RECEIVE, 2025-06-03T10:00:01, 127.0.0.33]",
          "[C5FA220C5DD, RECEIVE, 2025-06-03T10:00:02, 127.0.0.34]",
          "[A9EAE20C5CB, DELIVER, 2025-06-03T10:02:01, 127.0.0.33]",
          "[C5FA220C5DD, DELIVER, 2025-06-03T10:02:01, 127.0.0.34]");
      assertThat(rows(db, "SELECT note FROM files")).containsExactly("[null]");
    }
  }
}
