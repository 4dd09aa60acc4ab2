package dev.sluice.observe;

import dev.sluice.proxy.smtp.SmtpReply;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Backend;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.LogConfig.ProtocolLevel;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver.Outcome;
import dev.sluice.proxy.SessionObserver.Stage;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProtocolLogTest {
  @TempDir Path dir;

  /** A clock the test moves. */
  static final class MovableClock extends Clock {
    final AtomicReference<Instant> now;

    MovableClock(Instant start) {
      now = new AtomicReference<>(start);
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now.get();
    }
  }

  static SessionInfo session() {
    return new SessionInfo("internet", new InetSocketAddress("127.0.0.1", 2525), new InetSocketAddress("127.0.0.9", 40001));
  }

  static Backend backend(String name) {
    return new Backend("hub", new BackendConfig(name, new HostPort("127.0.0.1", 10025), 1, 1, java.util.Map.of(),
        dev.sluice.config.Location.NONE), 0);
  }

  static List<List<String>> rows(Path file) throws IOException {
    List<List<String>> out = new ArrayList<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (!line.startsWith("#")) {
        out.add(parseCsv(line));
      }
    }
    return out;
  }

  /** RFC 4180 fields of one line, written here so the test does not trust the code under test. */
  static List<String> parseCsv(String line) {
    List<String> out = new ArrayList<>();
    StringBuilder f = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (quoted) {
        if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
          f.append('"');
          i++;
        } else if (c == '"') {
          quoted = false;
        } else {
          f.append(c);
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        out.add(f.toString());
        f.setLength(0);
      } else {
        f.append(c);
      }
    }
    assertThat(quoted).as("unterminated quote in %s", line).isFalse();
    out.add(f.toString());
    return out;
  }

  @Test
  void verboseWritesHeaderAndOneQuotedLinePerEvent() throws Exception {
    MovableClock clock = new MovableClock(Instant.parse("2026-11-30T10:15:30.123Z"));
    ProtocolLog p = new ProtocolLog(dir, ProtocolLevel.VERBOSE, clock, 100);
    p.start();
    SessionInfo s = session();
    p.connected(s);
    p.sent(s, Stage.CONNECT, SmtpReply.of(220, "mx.test ESMTP, \"ready\""));
    p.received(s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==");
    p.received(s, "MAIL FROM:<a@example.org>");
    Backend b = backend("server1");
    s.backend("server1");
    p.backendChosen(s, b);
    p.transaction(s, b, Outcome.ACCEPTED, 1234);
    p.disconnected(s);
    p.close();

    Path file = dir.resolve("sluice-2026-11-30.log");
    List<String> lines = Files.readAllLines(file);
    assertThat(lines.subList(0, 5)).containsExactly("#Software: Sluice", "#Version: 0.1.0",
        "#Log-type: Sluice Protocol Log", "#Date: 2026-11-30T10:15:30.123Z", "#Fields: " + ProtocolLog.FIELDS);
    assertThat(String.join("\n", lines)).doesNotContain("AGFsaWNlAHNlY3JldA==");
    List<List<String>> rows = rows(file);
    assertThat(rows).hasSize(7).allSatisfy(r -> assertThat(r).hasSize(10));
    assertThat(rows).extracting(r -> r.get(7)).containsExactly("+", ">", "<", "<", "*", "*", "-");
    assertThat(rows).extracting(r -> r.get(3)).containsExactly("0", "1", "2", "3", "4", "5", "6");
    assertThat(rows.get(0)).containsExactly("2026-11-30T10:15:30.123Z", "internet", s.idText(), "0", "127.0.0.1:2525",
        "127.0.0.9:40001", "", "+", "", "");
    assertThat(rows.get(1).get(8)).isEqualTo("220 mx.test ESMTP, \"ready\"");
    assertThat(rows.get(2).get(8)).isEqualTo("AUTH PLAIN ****");
    assertThat(rows.get(4)).containsSubsequence("server1", "*", "server1 127.0.0.1:10025", "backend");
    assertThat(rows.get(5).subList(6, 10)).containsExactly("server1", "*", "accepted 1234 bytes", "transaction");
  }

  @Test
  void aTransactionsRowCarriesTheReplyThatDecidedItWithTheServersQueueId() throws Exception {
    ProtocolLog p = new ProtocolLog(dir, ProtocolLevel.BASIC, new MovableClock(Instant.parse("2026-11-30T10:00:00Z")), 100);
    p.start();
    SessionInfo s = session();
    p.transaction(s, backend("server1"), Outcome.ACCEPTED, 1834, SmtpReply.of(250, "2.0.0 Ok: queued as 4XyZ1"));
    p.transaction(s, null, Outcome.DEFERRED, 0,
        new SmtpReply(451, List.of("451-4.3.0 mx.test Error: no mail server available", "451 4.3.0 try again later")));
    p.close();
    List<List<String>> rows = rows(dir.resolve("sluice-2026-11-30.log"));
    assertThat(rows).extracting(r -> r.get(6) + "|" + r.get(8) + "|" + r.get(9)).containsExactly(
        "server1|accepted 1834 bytes: 250 2.0.0 Ok: queued as 4XyZ1|transaction",
        "|deferred 0 bytes: 451 4.3.0 try again later|transaction");
  }

  @Test
  void basicLeavesOutCommandsAndReplies() throws Exception {
    ProtocolLog p = new ProtocolLog(dir, ProtocolLevel.BASIC, new MovableClock(Instant.parse("2026-11-30T10:00:00Z")), 100);
    p.start();
    SessionInfo s = session();
    p.connected(s);
    p.sent(s, Stage.CONNECT, SmtpReply.of(220, "hi"));
    p.received(s, "EHLO x");
    p.retry(s, backend("server2"), "connect failed: refused", true);
    p.disconnected(s);
    p.close();
    assertThat(rows(dir.resolve("sluice-2026-11-30.log"))).extracting(r -> r.get(7)).containsExactly("+", "*", "-");
  }

  @Test
  void aBackendsStateChangeIsARowOfItsOwnOutsideAnySession() throws Exception {
    ProtocolLog p = new ProtocolLog(dir, ProtocolLevel.BASIC, new MovableClock(Instant.parse("2026-11-30T10:00:00Z")), 100);
    p.start();
    SessionInfo s = session();
    p.connected(s);
    p.backendStateChanged("internet", backend("server1"), "health up -> degraded: MAIL FROM answered 452 4.3.1 full, try later");
    p.disconnected(s);
    p.close();
    List<List<String>> rows = rows(dir.resolve("sluice-2026-11-30.log"));
    assertThat(rows).hasSize(3);
    assertThat(rows.get(1)).containsExactly("2026-11-30T10:00:00.000Z", "internet", "", "", "", "", "server1", "*",
        "health up -> degraded: MAIL FROM answered 452 4.3.1 full, try later", "state");
    // The session's own sequence numbers are untouched by it.
    assertThat(rows.get(2).get(3)).isEqualTo("1");
  }

  @Test
  void rollsOverAtMidnightUtcWithAFreshHeader() throws Exception {
    MovableClock clock = new MovableClock(Instant.parse("2026-11-30T23:59:59.900Z"));
    ProtocolLog p = new ProtocolLog(dir, ProtocolLevel.BASIC, clock, 100);
    p.start();
    SessionInfo s = session();
    p.connected(s);
    clock.now.set(Instant.parse("2026-12-01T00:00:00.100Z"));
    p.disconnected(s);
    p.close();
    assertThat(rows(p.fileFor(LocalDate.of(2026, 11, 30)))).extracting(r -> r.get(7)).containsExactly("+");
    assertThat(rows(p.fileFor(LocalDate.of(2026, 12, 1)))).extracting(r -> r.get(7)).containsExactly("-");
    assertThat(Files.readAllLines(p.fileFor(LocalDate.of(2026, 12, 1)))).contains("#Date: 2026-12-01T00:00:00.100Z");
  }

  @Test
  void aFullQueueDropsCountsAndSaysSoInTheLog() throws Exception {
    ProtocolLog p = new ProtocolLog(dir, ProtocolLevel.BASIC, new MovableClock(Instant.parse("2026-11-30T10:00:00Z")), 3);
    SessionInfo s = session();
    for (int i = 0; i < 10; i++) {
      p.info(s, "event " + i); // the writer is not running yet: the queue fills up
    }
    assertThat(p.dropped()).isEqualTo(7);
    p.start();
    p.close();
    List<List<String>> rows = rows(dir.resolve("sluice-2026-11-30.log"));
    assertThat(rows).extracting(r -> r.get(8)).containsExactly("7 events dropped, writer behind", "event 0", "event 1",
        "event 2");
  }

  @Test
  void csvQuoting() {
    assertThat(ProtocolLog.csv("plain")).isEqualTo("plain");
    assertThat(ProtocolLog.csv("a,b")).isEqualTo("\"a,b\"");
    assertThat(ProtocolLog.csv("say \"hi\"")).isEqualTo("\"say \"\"hi\"\"\"");
    assertThat(ProtocolLog.csv("two\r\nlines")).isEqualTo("two lines");
    assertThat(ProtocolLog.endpoint(new InetSocketAddress("::1", 25))).isEqualTo("[0:0:0:0:0:0:0:1]:25");
  }
}
