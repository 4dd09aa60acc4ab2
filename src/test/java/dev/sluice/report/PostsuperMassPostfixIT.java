package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.counts;
import static dev.sluice.report.ReportTestSupport.deferringPostfix;
import static dev.sluice.report.ReportTestSupport.load;
import static dev.sluice.report.ReportTestSupport.queueIds;
import static dev.sluice.report.ReportTestSupport.rows;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.ExternalCommand;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.SmtpClients;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code postsuper -H ALL}, {@code -d ALL} and {@code -r ALL} on a real Postfix, and the report of
 * its maillog against what Postfix did: which messages it received from which client, which it
 * delivered, how many it deleted without naming them and how many were in its queue then. A run
 * with {@code ALL} logs only its count; a requeued message is named by pickup ({@code orig_id=}).
 *
 * <p>{@code postsuper -r}, per queue id and with {@code ALL}: pickup copies each requeued message to
 * a new queue file and names the one it came from ({@code 9C9AF20C87A: uid=102 from=<a@corp.example>
 * orig_id=6227820C872}); the copy's deliveries, and a header check's refusal of it, are the original
 * client's. Postfix 3.7 wrote, for a copy refused by a header check added after the message was
 * received:
 *
 * <pre>
 * postfix/pickup[11626]: A255A20C85B: uid=102 from=&lt;a@corp.example&gt; orig_id=4B79C20C866
 * postfix/cleanup[11725]: A255A20C85B: reject: header Subject: later spam from unknown[127.0.0.63]; from=&lt;a@corp.example&gt; to=&lt;u@example.test&gt; proto=ESMTP helo=&lt;swaks.sluice.test&gt;: 5.7.1 no spam
 * postfix/cleanup[11725]: A255A20C85B: message-id=&lt;20261202072735.011610@vm&gt;
 * postfix/cleanup[11725]: A255A20C85B: to=&lt;u@example.test&gt;, relay=none, delay=9.4, delays=9.4/0/0/0, dsn=5.7.1, status=bounced (no spam)
 * </pre>
 *
 * <p>(the copy keeps the client's attributes, so cleanup names the client, not {@code local}).
 */
@Tag("integration")
class PostsuperMassPostfixIT {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir Path dir;

  @Test
  void theReportCountsWhatPostfixDidWhenPostsuperWorkedOnAllMessages() throws Exception {
    PostfixInstance built = deferringPostfix("mass").build();
    int deletedUnnamed;
    int inQueueThen;
    try (PostfixInstance pf = built) {
      Files.writeString(pf.configDirectory().resolve("header_checks"), "/^Subject: hold/ HOLD quarantined\n");
      pf.start();

      // -H ALL: two held messages released, then delivered with the next flush.
      send(pf, "127.0.0.41", "hold a", 2);
      pf.awaitSettled(2);
      assertThat(pf.postsuper("-H", "ALL")).isEqualTo("Released from hold: 2 messages");
      await().atMost(WAIT).until(() -> {
        pf.flush();
        return pf.deliveredCount() == 2;
      });
      pf.awaitQueueEmpty();

      // -d ALL: two held and two deferred messages deleted.
      send(pf, "127.0.0.43", "hold b", 2);
      send(pf, "127.0.0.44", "defer b", 2);
      for (String qid : queueIds(pf, "127.0.0.44")) {
        pf.awaitMaillog(qid + ": to=<u@example.test>");
      }
      pf.awaitSettled(4);
      inQueueThen = pf.queuedCount();
      String deleted = pf.postsuper("-d", "ALL");
      assertThat(deleted).matches("Deleted: \\d+ messages");
      deletedUnnamed = Integer.parseInt(deleted.replaceAll("\\D", ""));
      assertThat(pf.queuedCount()).isZero();

      // -r ALL: a held message requeued; pickup copies it (held again by the header check) and
      // names the queue id it left. That copy is then deleted.
      send(pf, "127.0.0.45", "hold c", 1);
      pf.awaitSettled(1);
      assertThat(pf.postsuper("-r", "ALL")).isEqualTo("Requeued: 1 message");
      pf.kickPickup();
      String copy = pf.awaitMaillog("orig_id=" + queueIds(pf, "127.0.0.45").get(0));
      pf.awaitMaillog(copy.replaceAll(".*: ([0-9A-F]+): uid=.*", "$1") + ": message-id=");
      pf.awaitSettled(1);
      assertThat(pf.postsuper("-d", "ALL")).isEqualTo("Deleted: 1 message");
      pf.awaitMaillog("Deleted: 1 message");
      Files.copy(pf.maillogFile(), dir.resolve("maillog"));
      assertThat(pf.deliveredCount()).isEqualTo(2);
    }

    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
      // Every message a client was told was accepted, once, whatever postsuper did with it later.
      assertThat(counts(db, "SELECT client_ip, count(*) FROM messages WHERE event = 'RECEIVE' GROUP BY 1"))
          .isEqualTo(Map.of("127.0.0.41", 2L, "127.0.0.43", 2L, "127.0.0.44", 2L, "127.0.0.45", 1L));
      // Delivered: the two released by -H ALL, each with its client's session.
      assertThat(counts(db, "SELECT client_ip || ' ' || (session_id IS NOT NULL), count(*) FROM messages"
          + " WHERE event NOT IN ('RECEIVE', 'DEFER') GROUP BY 1")).isEqualTo(Map.of("127.0.0.41 true", 2L));
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3)).containsExactly("mass=7");
      // Both deletions could have taken messages the report follows, each noted with Postfix's count
      // and the queue's content then: the first -d ALL, and the last, which took pickup's copy of the
      // requeued message (the client's message, held again).
      Matcher line = Pattern.compile("^\\w{3} [ \\d]\\d (\\d\\d:\\d\\d:\\d\\d) (\\S+) postfix/postsuper\\[\\d+\\]: "
          + "Deleted: (\\d+) messages?$", Pattern.MULTILINE).matcher(Files.readString(dir.resolve("maillog")));
      StringBuilder note = new StringBuilder();
      for (String inQueue : new String[] {inQueueThen + " messages", "1 message"}) {
        assertThat(line.find()).isTrue();
        note.append(note.isEmpty() ? "" : "; ").append(Pattern.quote(line.group(2) + " ")).append("\\d{4}-\\d\\d-\\d\\d ")
            .append(Pattern.quote(line.group(1) + ": postsuper deleted " + line.group(3) + " message"
                + (line.group(3).equals("1") ? "" : "s") + " without naming them (-d ALL); " + inQueue + " received from"
                + " clients " + (inQueue.startsWith("1 ") ? "was" : "were") + " in the queue then, as far as the log"
                + " shows, and may be among them"));
      }
      assertThat(db.query("q", "", "SELECT note FROM files").rows()).extracting(row -> (String) row.get(0))
          .singleElement().asString().matches(note.toString());
    }
    assertThat(deletedUnnamed).isEqualTo(4);
    assertThat(inQueueThen).isEqualTo(4);
  }

  @Test
  void aRequeuedMessagesCopyIsDeliveredForItsClient() throws Exception {
    // Mail that is not held waits in the deferred queue until it is requeued.
    PostfixInstance built = deferringPostfix("requeue").build();
    try (PostfixInstance pf = built) {
      Path checks = pf.configDirectory().resolve("header_checks");
      Files.writeString(checks, "/^Subject: hold/ HOLD held\n");
      pf.start();
      send(pf, "127.0.0.72", "hold one", 1);
      send(pf, "127.0.0.73", "deferred one", 1);
      send(pf, "127.0.0.74", "later spam", 1);
      send(pf, "127.0.0.75", "deferred two", 1);
      for (String client : List.of("127.0.0.73", "127.0.0.74", "127.0.0.75")) {
        pf.awaitMaillog(queueIds(pf, client).get(0) + ": to=<u@example.test>");
      }
      pf.awaitSettled(4);

      // Now deliver, and refuse what the new header check finds; the held message is not held again.
      Files.writeString(checks, "/^Subject: later spam/ REJECT no spam\n");
      ExternalCommand.run(WAIT, ExternalCommand.tool("postconf"), "-c", pf.configDirectory().toString(), "-e",
          "defer_transports =").orThrow();
      pf.reload();
      assertThat(pf.postsuper("-r", queueIds(pf, "127.0.0.72").get(0))).endsWith("Requeued: 1 message");
      // pickup copies it, and it is delivered, before the next run, which would otherwise requeue it
      // again (in the maildrop or the active queue).
      pf.kickPickup();
      pf.awaitDelivered(1);
      pf.awaitSettled(3);
      assertThat(pf.postsuper("-r", "ALL")).isEqualTo("Requeued: 3 messages");
      pf.kickPickup();
      // Three delivered, and the bounce of the refused one to its sender.
      await().atMost(WAIT).until(() -> {
        pf.flush();
        return pf.deliveredCount() == 4;
      });
      pf.awaitQueueEmpty();
      for (String client : List.of("127.0.0.72", "127.0.0.73", "127.0.0.74", "127.0.0.75")) {
        pf.awaitMaillog("orig_id=" + queueIds(pf, client).get(0));
      }
      Files.copy(pf.maillogFile(), dir.resolve("maillog"));
    }

    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(rows(db, "SELECT reason, text FROM rejects")).isEmpty();
      // Received once each, when the client sent it: a copy is no new message.
      assertThat(counts(db, "SELECT client_ip, count(*) FROM messages WHERE event = 'RECEIVE' GROUP BY 1"))
          .isEqualTo(Map.of("127.0.0.72", 1L, "127.0.0.73", 1L, "127.0.0.74", 1L, "127.0.0.75", 1L));
      // Postfix's four deliveries: the three copies', each with the session that sent the original,
      // and the bounce, which is no client's.
      assertThat(rows(db, """
          SELECT d.client_ip, r.client_ip, d.queue_id <> r.queue_id, d.message_id = r.message_id
          FROM messages d LEFT JOIN messages r ON r.event = 'RECEIVE' AND r.session_id = d.session_id
          WHERE d.event IN ('SEND', 'DELIVER') ORDER BY d.client_ip NULLS LAST""")).containsExactly(
          "[127.0.0.72, 127.0.0.72, true, true]", "[127.0.0.73, 127.0.0.73, true, true]",
          "[127.0.0.75, 127.0.0.75, true, true]", "[null, null, null, null]");
      // The copy's refusal by the new check, as cleanup logged it: the client's, in its session.
      assertThat(rows(db, "SELECT client_ip, session_id IS NOT NULL, status FROM messages WHERE event = 'REJECT'"))
          .containsExactly("[127.0.0.74, true, 5.7.1 no spam]");
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3)).containsExactly("requeue=4");
    }
  }

  private static void send(PostfixInstance pf, String client, String subject, int n) {
    for (int i = 0; i < n; i++) {
      SmtpClients.SwaksResult r = SmtpClients.swaks(pf.address(), pf.port(), "a@corp.example", "u@example.test", client,
          "--header", "Subject: " + subject + i);
      assertThat(r.succeeded()).as(r.transcript()).isTrue();
    }
  }
}
