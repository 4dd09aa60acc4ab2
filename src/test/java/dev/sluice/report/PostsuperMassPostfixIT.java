package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.counts;
import static dev.sluice.report.ReportTestSupport.load;
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
 * {@code postsuper -H ALL}, {@code -d ALL} and {@code -r ALL} on a real Postfix, and the report of
 * its maillog against what Postfix did: which messages it received from which client, which it
 * delivered, how many it deleted without naming them and how many were in its queue then. A run
 * with {@code ALL} logs only its count; a requeued message is named by pickup ({@code orig_id=}).
 */
@Tag("integration")
class PostsuperMassPostfixIT {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir Path dir;

  @Test
  void theReportCountsWhatPostfixDidWhenPostsuperWorkedOnAllMessages() throws Exception {
    PostfixInstance built = PostfixInstance.builder("mass")
        .mainCf("header_checks", "regexp:$config_directory/header_checks")
        // Mail that is not held waits in the deferred queue until a flush, and qmgr leaves it there
        // meanwhile: no file moves between queues while postsuper walks them.
        .mainCf("defer_transports", "virtual")
        .mainCf("minimal_backoff_time", "3600s")
        .mainCf("maximal_backoff_time", "3600s")
        .build();
    int deletedUnnamed;
    int inQueueThen;
    try (PostfixInstance pf = built) {
      Files.writeString(pf.configDirectory().resolve("header_checks"), "/^Subject: hold/ HOLD quarantined\n");
      pf.start();

      // -H ALL: two held messages released, then delivered with the next flush.
      send(pf, "127.0.0.41", "hold a", 2);
      awaitSettled(pf, 2);
      assertThat(postsuper(pf, "-H", "ALL")).isEqualTo("Released from hold: 2 messages");
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
      awaitSettled(pf, 4);
      inQueueThen = pf.queuedCount();
      String deleted = postsuper(pf, "-d", "ALL");
      assertThat(deleted).matches("Deleted: \\d+ messages");
      deletedUnnamed = Integer.parseInt(deleted.replaceAll("\\D", ""));
      assertThat(pf.queuedCount()).isZero();

      // -r ALL: a held message requeued; pickup copies it (held again by the header check) and
      // names the queue id it left. That copy is then deleted.
      send(pf, "127.0.0.45", "hold c", 1);
      awaitSettled(pf, 1);
      assertThat(postsuper(pf, "-r", "ALL")).isEqualTo("Requeued: 1 message");
      ExternalCommand.run(WAIT, ExternalCommand.tool("postkick"), "-c", pf.configDirectory().toString(), "public",
          "pickup", "W").orThrow();
      String copy = pf.awaitMaillog("orig_id=" + queueIds(pf, "127.0.0.45").get(0));
      pf.awaitMaillog(copy.replaceAll(".*: ([0-9A-F]+): uid=.*", "$1") + ": message-id=");
      awaitSettled(pf, 1);
      assertThat(postsuper(pf, "-d", "ALL")).isEqualTo("Deleted: 1 message");
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

  private static void send(PostfixInstance pf, String client, String subject, int n) {
    for (int i = 0; i < n; i++) {
      SmtpClients.SwaksResult r = SmtpClients.swaks(pf.address(), pf.port(), "a@corp.example", "u@example.test", client,
          "--header", "Subject: " + subject + i);
      assertThat(r.succeeded()).as(r.transcript()).isTrue();
    }
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
    ExternalCommand.Result r = ExternalCommand.run(WAIT, cmd).orThrow();
    return r.stderr().trim().replaceFirst("^postsuper: ", "");
  }

  /** The queue ids smtpd gave the messages of {@code client}, in the maillog's order. */
  private static List<String> queueIds(PostfixInstance pf, String client) {
    Pattern p = Pattern.compile("postfix/smtpd\\[\\d+\\]: ([0-9A-F]+): client=unknown\\[" + Pattern.quote(client) + "\\]");
    return pf.maillog().stream().map(p::matcher).filter(Matcher::find).map(m -> m.group(1)).toList();
  }
}
