package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.counts;
import static dev.sluice.report.ReportTestSupport.load;
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
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code postsuper -r} on a real Postfix, per queue id and with {@code ALL}, and the report of its
 * maillog against what Postfix did: pickup copies each requeued message to a new queue file and
 * names the one it came from ({@code 9C9AF20C87A: uid=102 from=<a@corp.example>
 * orig_id=6227820C872}); the copy's deliveries, and a header check's refusal of it, are the
 * original client's. Postfix 3.7 wrote, for a copy refused by a header check added after the
 * message was received:
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
class RequeuedCopyPostfixIT {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir Path dir;

  @Test
  void aRequeuedMessagesCopyIsDeliveredForItsClient() throws Exception {
    PostfixInstance built = PostfixInstance.builder("requeue")
        .mainCf("header_checks", "regexp:$config_directory/header_checks")
        // Mail that is not held waits in the deferred queue until it is requeued.
        .mainCf("defer_transports", "virtual")
        .mainCf("minimal_backoff_time", "3600s")
        .mainCf("maximal_backoff_time", "3600s")
        .build();
    try (PostfixInstance pf = built) {
      Path checks = pf.configDirectory().resolve("header_checks");
      Files.writeString(checks, "/^Subject: hold/ HOLD held\n");
      pf.start();
      send(pf, "127.0.0.72", "hold one");
      send(pf, "127.0.0.73", "deferred one");
      send(pf, "127.0.0.74", "later spam");
      send(pf, "127.0.0.75", "deferred two");
      for (String client : List.of("127.0.0.73", "127.0.0.74", "127.0.0.75")) {
        pf.awaitMaillog(queueId(pf, client) + ": to=<u@example.test>");
      }
      awaitSettled(pf, 4);

      // Now deliver, and refuse what the new header check finds; the held message is not held again.
      Files.writeString(checks, "/^Subject: later spam/ REJECT no spam\n");
      ExternalCommand.run(WAIT, ExternalCommand.tool("postconf"), "-c", pf.configDirectory().toString(), "-e",
          "defer_transports =").orThrow();
      pf.reload();
      assertThat(postsuper(pf, "-r", queueId(pf, "127.0.0.72"))).endsWith("Requeued: 1 message");
      // pickup copies it, and it is delivered, before the next run, which would otherwise requeue it
      // again (in the maildrop or the active queue).
      kickPickup(pf);
      pf.awaitDelivered(1);
      awaitSettled(pf, 3);
      assertThat(postsuper(pf, "-r", "ALL")).isEqualTo("Requeued: 3 messages");
      kickPickup(pf);
      // Three delivered, and the bounce of the refused one to its sender.
      await().atMost(WAIT).until(() -> {
        pf.flush();
        return pf.deliveredCount() == 4;
      });
      pf.awaitQueueEmpty();
      for (String client : List.of("127.0.0.72", "127.0.0.73", "127.0.0.74", "127.0.0.75")) {
        pf.awaitMaillog("orig_id=" + queueId(pf, client));
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

  private static void send(PostfixInstance pf, String client, String subject) {
    SmtpClients.SwaksResult r = SmtpClients.swaks(pf.address(), pf.port(), "a@corp.example", "u@example.test", client,
        "--header", "Subject: " + subject);
    assertThat(r.succeeded()).as(r.transcript()).isTrue();
  }

  /** Has pickup look into the maildrop now rather than at its next minute. */
  private static void kickPickup(PostfixInstance pf) {
    ExternalCommand.run(WAIT, ExternalCommand.tool("postkick"), "-c", pf.configDirectory().toString(), "public",
        "pickup", "W").orThrow();
  }

  /** Waits until {@code n} messages are in the queue and none is in the active queue. */
  private static void awaitSettled(PostfixInstance pf, int n) {
    Path active = pf.directory().resolve("queue").resolve("active");
    await().atMost(WAIT).until(() -> {
      try (Stream<Path> files = Files.list(active)) {
        return pf.queuedCount() == n && files.findAny().isEmpty();
      }
    });
  }

  /** Runs postsuper on the instance's queue and returns its report (stderr) without the program name. */
  private static String postsuper(PostfixInstance pf, String... args) {
    List<String> cmd = new java.util.ArrayList<>(List.of(ExternalCommand.tool("postsuper"), "-c",
        pf.configDirectory().toString()));
    cmd.addAll(List.of(args));
    return ExternalCommand.run(WAIT, cmd).orThrow().stderr().trim().replaceAll("(?m)^postsuper: ", "");
  }

  /** The queue id smtpd gave the message of {@code client}. */
  private static String queueId(PostfixInstance pf, String client) {
    Pattern p = Pattern.compile("postfix/smtpd\\[\\d+\\]: ([0-9A-F]+): client=unknown\\[" + Pattern.quote(client) + "\\]");
    return pf.maillog().stream().map(p::matcher).filter(Matcher::find).map(m -> m.group(1)).findFirst().orElseThrow();
  }
}
