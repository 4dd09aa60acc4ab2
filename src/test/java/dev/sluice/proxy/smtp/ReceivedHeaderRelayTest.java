package dev.sluice.proxy.smtp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.balance.Backend;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.RecordingSmtpBackend;
import dev.sluice.testing.ScriptedDnsServer;
import dev.sluice.testing.SluiceFixture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code received_header: true}: every message reaches the backend with Sluice's Received line on
 * top and its own bytes unchanged after it, each message of a session with its own id, and that id
 * is in the protocol log; without the key the message is passed on as it came. Also where a
 * client does more than one plain message per command: pipelined groups with the next transaction
 * behind the body, framing errors in reject and normalize mode, an empty body, HELO and SMTPUTF8
 * sessions, a message at the size limit: the line is there exactly once, a rejected message still
 * never completes at the backend, and the sizes Sluice reports stay the client's.
 */
class ReceivedHeaderRelayTest {
  static final Duration TIMEOUT = Duration.ofSeconds(20);
  /** The line's last one: an RFC 5322 date-time. */
  static final String DATE = "\t[A-Z][a-z]{2}, \\d{1,2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} [+-]\\d{4}\r\n";
  static final Pattern TRACE = Pattern.compile(
      "Received: from gateway\\.test \\(unknown \\[127\\.0\\.0\\.41\\]\\)\r\n"
          + "\tby mx\\.test \\(Sluice\\) with ESMTP id ([0-9A-F]+\\.[0-9]+);\r\n" + DATE);
  /** Sluice's line from any loopback client; group 1 the EHLO/HELO name, 2 the "with" keyword, 3 the id. */
  static final Pattern ANY_TRACE = Pattern.compile(
      "Received: from (\\S+) \\(unknown \\[127\\.0\\.0\\.\\d+\\]\\)\r\n"
          + "\tby mx\\.test \\(Sluice\\) with (\\S+) id ([0-9A-F]+\\.[0-9]+);\r\n" + DATE);
  RecordingSmtpBackend backend;
  SluiceFixture sluice;
  final List<String> infos = new CopyOnWriteArrayList<>();
  /** "listener outcome bytes" of every transaction, as metrics and the protocol log get it. */
  final List<String> sizes = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws Exception {
    backend = new RecordingSmtpBackend("rec");
    sluice = SluiceFixture.start("""
        pools:
          p: { backends: [ "127.0.0.1:%d" ] }
        listeners:
          traced: { listen: "127.0.0.1:0", mode: smtp, pool: p, hostname: mx.test, received_header: true }
          plain:  { listen: "127.0.0.2:0", mode: smtp, pool: p, hostname: mx.test }
          normalize: { listen: "127.0.0.3:0", mode: smtp, pool: p, hostname: mx.test, received_header: true,
                       bare_newline: normalize, capabilities: [ SMTPUTF8 ] }
          sized:     { listen: "127.0.0.4:0", mode: smtp, pool: p, hostname: mx.test, received_header: true,
                       limits: { max_message_size: 64 } }
        """.formatted(backend.port()), new SessionObserver() {
          @Override
          public void info(SessionInfo s, String text) {
            infos.add(s.idText() + " " + text);
          }

          @Override
          public void transaction(SessionInfo s, Backend b, Outcome outcome, long bytes) {
            sizes.add(s.listener() + " " + outcome + " " + bytes);
          }
        });
  }

  @AfterEach
  void stop() throws Exception {
    sluice.close();
    backend.close();
  }

  static final String BODY = "Subject: hi\n\n.a line that starts with a dot\nbody\n";
  /** {@link #BODY} as the backend stores it: CRLF line ends, the dot unstuffed, and the client's last empty line. */
  static final String STORED = "Subject: hi\r\n\r\n.a line that starts with a dot\r\nbody\r\n\r\n";

  List<String> bodies() {
    return backend.messages().values().stream()
        .sorted(Comparator.comparing((RecordingSmtpBackend.Message m) -> m.queueId().length())
            .thenComparing(RecordingSmtpBackend.Message::queueId))
        .map(m -> new String(m.body(), StandardCharsets.ISO_8859_1)).toList();
  }

  @Test
  void eachMessageGetsATraceLineWithItsOwnIdAndKeepsItsBytes() throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("traced"), client(41), TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.send("a@internet.example", "b@corp.example", BODY).code()).isEqualTo(250);
      assertThat(c.send("a@internet.example", "c@corp.example", BODY).code()).isEqualTo(250);
    }
    List<String> bodies = bodies();
    assertThat(bodies).hasSize(2);
    List<String> ids = bodies.stream().map(b -> {
      Matcher m = TRACE.matcher(b);
      assertThat(m.lookingAt()).as(b).isTrue();
      assertThat(b.substring(m.end())).isEqualTo(STORED);
      return m.group(1);
    }).sorted().toList();
    String session = ids.get(0).substring(0, ids.get(0).indexOf('.'));
    assertThat(ids).containsExactly(session + ".1", session + ".2");
    assertThat(infos).contains(session + " received header id " + session + ".1",
        session + " received header id " + session + ".2");
    assertThat(backend.messages().values()).allMatch(RecordingSmtpBackend.Message::cleanWire);
  }

  /**
   * The line names the client by the host name a {@code resolver:} verified, as the docs promise,
   * also on a listener that tells the backends nothing of the client ({@code client_identity:
   * none}), the case the line is there for.
   */
  @Test
  void aVerifiedHostNameIsInTheLineWithoutAnyClientIdentity() throws Exception {
    try (ScriptedDnsServer dns = new ScriptedDnsServer("127.0.0.1")
            .ptr("127.0.0.77", "mx.gateway.test").address("mx.gateway.test", "127.0.0.77");
        SluiceFixture named = SluiceFixture.start("""
            resolver: { servers: [ "127.0.0.1:%d" ], timeout: 20s }
            pools:
              p: { backends: [ "127.0.0.1:%d" ] }
            listeners:
              traced: { listen: "127.0.0.1:0", mode: smtp, pool: p, hostname: mx.test, received_header: true }
            """.formatted(dns.address().getPort(), backend.port()));
        LabSmtpClient c = LabSmtpClient.connect(named.address("traced"), client(77), TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.send("a@internet.example", "b@corp.example", BODY).code()).isEqualTo(250);
    }
    assertThat(bodies()).singleElement().satisfies(b ->
        assertThat(b).startsWith("Received: from gateway.test (mx.gateway.test [127.0.0.77])\r\n"));
  }

  @Test
  void withoutTheKeyTheMessageIsPassedOnUnchanged() throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("plain"), client(41), TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.send("a@internet.example", "b@corp.example", BODY).code()).isEqualTo(250);
    }
    assertThat(bodies()).containsExactly(STORED);
    assertThat(infos).noneMatch(i -> i.contains("received header"));
  }

  /** {@code body} with exactly one trace line on top, and what follows it. */
  static Matcher traced(String body) {
    Matcher m = ANY_TRACE.matcher(body);
    assertThat(m.lookingAt()).as(body).isTrue();
    assertThat(body.substring(m.end())).as("a second trace line").doesNotContain("(Sluice)");
    return m;
  }

  RawSmtpClient greeted(String listener, int host, String hello) throws Exception {
    RawSmtpClient c = RawSmtpClient.connect(sluice.address(listener), "127.0.0." + host);
    c.expect("220");
    c.send(hello + "\r\n").expect("250");
    return c;
  }

  /** MAIL, RCPT and DATA in one write (RFC 2920), then their three replies: 250, 250, 354. */
  static void openData(RawSmtpClient c) throws Exception {
    openData(c, "MAIL FROM:<a@x.example>", "RCPT TO:<b@y.example>");
  }

  static void openData(RawSmtpClient c, String mail, String rcpt) throws Exception {
    c.send(mail + "\r\n" + rcpt + "\r\nDATA\r\n");
    c.expect("250");
    c.expect("250");
    c.expect("354");
  }

  @Test
  void aPipelinedClientGetsOneLinePerMessageWithTheNextTransactionBehindTheBody() throws Exception {
    try (RawSmtpClient c = greeted("traced", 51, "EHLO gateway.test")) {
      openData(c);
      c.send("Subject: one\r\n\r\n..dot\r\n.\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<c@y.example>\r\nDATA\r\n");
      c.expect("250 2.0.0 Ok: queued");
      c.expect("250");
      c.expect("250");
      c.expect("354");
      c.send("Subject: two\r\n\r\ntwo\r\n.\r\nQUIT\r\n");
      c.expect("250 2.0.0 Ok: queued");
      c.expect("221");
    }
    List<String> bodies = bodies();
    assertThat(bodies).hasSize(2);
    Matcher first = traced(bodies.get(0));
    Matcher second = traced(bodies.get(1));
    assertThat(bodies.get(0).substring(first.end())).isEqualTo("Subject: one\r\n\r\n.dot\r\n");
    assertThat(bodies.get(1).substring(second.end())).isEqualTo("Subject: two\r\n\r\ntwo\r\n");
    String session = first.group(3).substring(0, first.group(3).indexOf('.'));
    assertThat(List.of(first.group(3), second.group(3))).containsExactly(session + ".1", session + ".2");
    assertThat(backend.messages().values()).allMatch(RecordingSmtpBackend.Message::cleanWire);
  }

  @Test
  void aRejectedMessageNeverCompletesAtTheBackendAndTheNextOneIsNumberedOn() throws Exception {
    try (RawSmtpClient c = greeted("traced", 52, "EHLO gateway.test")) {
      c.send("MAIL FROM:<a@x.example>\r\n").expect("250");
      c.send("RCPT TO:<b@y.example>\r\n").expect("250");
      c.send("DATA\r\n").expect("354");
      c.send("Subject: bad\r\n\r\nbare\nline\r\n.\r\n").expect("550 5.6.0");
      c.send("MAIL FROM:<a@x.example>\r\n").expect("250");
      c.send("RCPT TO:<b@y.example>\r\n").expect("250");
      c.send("RSET\r\n").expect("250");
      c.send("MAIL FROM:<a@x.example>\r\n").expect("250");
      c.send("RCPT TO:<b@y.example>\r\n").expect("250");
      c.send("DATA\r\n").expect("354");
      c.send("Subject: good\r\n\r\nfine\r\n.\r\n").expect("250 2.0.0 Ok: queued");
    }
    List<String> bodies = bodies();
    assertThat(bodies).singleElement().satisfies(b -> {
      Matcher m = traced(b);
      assertThat(m.group(3)).endsWith(".2"); // the rejected message had begun: it was number 1
      assertThat(b.substring(m.end())).isEqualTo("Subject: good\r\n\r\nfine\r\n");
    });
    assertThat(backend.problems()).isEmpty();
  }

  @Test
  void normalizeRepairsTheBodyBelowTheLineAndAnEmptyBodyIsTheLineAlone() throws Exception {
    try (RawSmtpClient c = greeted("normalize", 53, "EHLO gateway.test")) {
      openData(c);
      c.send("Subject: bare\n\nbare\nline\r\n.\r\n").expect("250 2.0.0 Ok: queued");
      openData(c);
      c.send(".\r\n").expect("250 2.0.0 Ok: queued");
    }
    List<String> bodies = bodies();
    assertThat(bodies).hasSize(2);
    Matcher first = traced(bodies.get(0));
    assertThat(bodies.get(0).substring(first.end())).isEqualTo("Subject: bare\r\n\r\nbare\r\nline\r\n");
    Matcher empty = traced(bodies.get(1));
    assertThat(bodies.get(1).substring(empty.end())).isEmpty();
    assertThat(backend.messages().values()).allMatch(RecordingSmtpBackend.Message::cleanWire);
  }

  @Test
  void heloAndSmtputf8SessionsNameTheirProtocol() throws Exception {
    try (RawSmtpClient c = greeted("normalize", 54, "HELO old.test")) {
      openData(c);
      c.send("Subject: helo\r\n\r\n.\r\n").expect("250 2.0.0 Ok: queued");
    }
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("normalize"), client(54), TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.command("MAIL FROM:<a@x.example> SMTPUTF8").code()).isEqualTo(250);
      assertThat(c.command("RCPT TO:<b@y.example>").code()).isEqualTo(250);
      assertThat(c.command("DATA").code()).isEqualTo(354);
      c.command("Subject: utf8\r\n\r\n.");
      // The next transaction on the same session is plain ESMTP again.
      assertThat(c.send("a@x.example", "b@y.example", "Subject: plain\n").code()).isEqualTo(250);
    }
    List<String> bodies = bodies();
    assertThat(bodies).hasSize(3);
    assertThat(traced(bodies.get(0)).group(2)).isEqualTo("SMTP");
    assertThat(traced(bodies.get(0)).group(1)).isEqualTo("old.test");
    assertThat(traced(bodies.get(1)).group(2)).isEqualTo("UTF8SMTP");
    assertThat(traced(bodies.get(2)).group(2)).isEqualTo("ESMTP");
  }

  @Test
  void theSizeLimitAndTheReportedSizeCountTheClientsBytesOnly() throws Exception {
    String atLimit = "Subject: x\r\n\r\n" + "y".repeat(64 - 14 - 2) + "\r\n"; // 64 bytes
    assertThat(atLimit).hasSize(64);
    try (RawSmtpClient c = greeted("sized", 55, "EHLO gateway.test")) {
      openData(c, "MAIL FROM:<a@x.example> SIZE=64", "RCPT TO:<b@y.example>");
      c.send(atLimit + ".\r\n").expect("250 2.0.0 Ok: queued");
    }
    try (RawSmtpClient c = greeted("plain", 55, "EHLO gateway.test")) {
      openData(c);
      c.send(atLimit + ".\r\n").expect("250 2.0.0 Ok: queued");
    }
    assertThat(bodies()).hasSize(2);
    assertThat(traced(bodies().get(0)).group(3)).endsWith(".1");
    await().atMost(TIMEOUT).untilAsserted(() -> assertThat(sizes).hasSize(2));
    String sized = sizes.stream().filter(s -> s.startsWith("sized ")).findFirst().orElseThrow();
    String plain = sizes.stream().filter(s -> s.startsWith("plain ")).findFirst().orElseThrow();
    assertThat(sized.substring("sized ".length())).isEqualTo(plain.substring("plain ".length()));
  }
}
