package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.counts;
import static dev.sluice.report.ReportTestSupport.load;
import static dev.sluice.report.ReportTestSupport.rows;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.SmtpClients;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Header checks on a real Postfix, for mail submitted locally with Postfix's {@code sendmail} and
 * for mail from an SMTP client, and the report of its maillog against what Postfix did. For local
 * mail cleanup names no client: Postfix 3.7 wrote
 *
 * <pre>
 * postfix/cleanup[10007]: 9930620C6B1: reject: header Subject: spam local from local; from=&lt;root@corp.example&gt; to=&lt;u@example.test&gt;: 5.7.1 no spam
 * postfix/cleanup[10014]: A7FDC20C6A2: discard: header Subject: drop local from local; from=&lt;root@corp.example&gt; to=&lt;u@example.test&gt;: dropped
 * postfix/cleanup[10014]: AE0EF20C6B1: hold: header Subject: hold local from local; from=&lt;root@corp.example&gt; to=&lt;u@example.test&gt;: held
 * postfix/cleanup[10007]: BD75C20C238: redirect: header Subject: redir local from local; from=&lt;root@corp.example&gt; to=&lt;u@example.test&gt;: other@example.test
 * postfix/cleanup[10014]: C67C620C23D: warning: header Subject: warn local from local; from=&lt;root@corp.example&gt; to=&lt;u@example.test&gt;: warned
 * </pre>
 *
 * <p>and for a client's mail {@code … from unknown[127.0.0.51]; from=<a@corp.example>
 * to=<u@example.test> proto=ESMTP helo=<swaks.sluice.test>: …} in the same place. A refused local
 * message is also bounced: cleanup logs {@code 9930620C6B1: to=<u@example.test>, relay=none, …,
 * dsn=5.7.1, status=bounced (no spam)}, and the bounce daemon sends the sender a notification.
 */
@Tag("integration")
class ContentChecksPostfixIT {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final String CLIENT = "127.0.0.71";

  @TempDir Path dir;

  @Test
  void localAndClientMailRefusedDiscardedHeldRedirectedOrWarnedByHeaderChecks() throws Exception {
    PostfixInstance built = PostfixInstance.builder("checks")
        .mainCf("header_checks", "regexp:$config_directory/header_checks")
        .build();
    try (PostfixInstance pf = built) {
      Files.writeString(pf.configDirectory().resolve("header_checks"), """
          /^Subject: spam/ REJECT no spam
          /^Subject: drop/ DISCARD dropped
          /^Subject: hold/ HOLD held
          /^Subject: redir/ REDIRECT other@example.test
          /^Subject: warn/ WARN warned
          """);
      pf.start();
      for (String subject : new String[] {"spam", "drop", "hold", "redir", "warn"}) {
        pf.sendmail("root@corp.example", "u@example.test",
            "From: root@corp.example\nTo: u@example.test\nSubject: " + subject + " local\n\nbody\n");
        SmtpClients.SwaksResult r = SmtpClients.swaks(pf.address(), pf.port(), "a@corp.example", "u@example.test",
            CLIENT, "--header", "Subject: " + subject + " net");
        // The client is refused only by the REJECT rule, at the end of DATA.
        assertThat(r.succeeded()).as(r.transcript()).isEqualTo(!subject.equals("spam"));
      }
      // Delivered: both redirected and both warned messages, and the bounce of the refused local one
      // to its sender. Held: one of each.
      await().atMost(WAIT).until(() -> pf.deliveredCount() == 5 && pf.queuedCount() == 2);
      pf.awaitMaillog("warning: header Subject: warn local from local;");
      Files.copy(pf.maillogFile(), dir.resolve("maillog"));
    }

    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(rows(db, "SELECT reason, text FROM rejects")).isEmpty();
      // One refusal each; the local one has no client and came from pickup. A warning refused nothing.
      assertThat(rows(db, "SELECT client_ip, source, sender, recipients, status, dsn FROM messages"
          + " WHERE event = 'REJECT' ORDER BY source_line")).containsExactly(
          "[null, PICKUP, root@corp.example, u@example.test, 5.7.1 no spam, 5.7.1]",
          "[" + CLIENT + ", SMTP, a@corp.example, u@example.test, 5.7.1 no spam, 5.7.1]");
      // Received from the client: held, redirected, warned (the discarded one was not, the refused one
      // neither). Local mail is no client's.
      assertThat(counts(db, "SELECT client_ip, count(*) FROM messages WHERE event = 'RECEIVE' GROUP BY 1"))
          .isEqualTo(Map.of(CLIENT, 3L));
      // Postfix's five deliveries: the client's two with its session, the three local ones with none.
      assertThat(counts(db, "SELECT coalesce(client_ip, 'local') || ' ' || (session_id IS NOT NULL), count(*)"
          + " FROM messages WHERE event IN ('SEND', 'DELIVER') GROUP BY 1"))
          .isEqualTo(Map.of(CLIENT + " true", 2L, "local false", 3L));
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.section("servers").rows()).extracting(row -> row.get(0) + "=" + row.get(3)).containsExactly("checks=3");
    }
  }
}
