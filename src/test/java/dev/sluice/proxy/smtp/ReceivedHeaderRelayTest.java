package dev.sluice.proxy.smtp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.LabSmtpClient;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
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
 * is in the protocol log; without the key the message is passed on as it came.
 */
class ReceivedHeaderRelayTest {
  static final Duration TIMEOUT = Duration.ofSeconds(20);
  static final Pattern TRACE = Pattern.compile(
      "Received: from gateway\\.test \\(unknown \\[127\\.0\\.0\\.41\\]\\)\r\n"
          + "\tby mx\\.test \\(Sluice\\) with ESMTP id ([0-9A-F]+\\.[0-9]+);\r\n"
          + "\t[A-Z][a-z]{2}, \\d{1,2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} [+-]\\d{4}\r\n");
  RecordingSmtpBackend backend;
  SluiceFixture sluice;
  final List<String> infos = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws Exception {
    backend = new RecordingSmtpBackend("rec");
    sluice = SluiceFixture.start("""
        pools:
          p: { backends: [ "127.0.0.1:%d" ] }
        listeners:
          traced: { listen: "127.0.0.1:0", mode: smtp, pool: p, hostname: mx.test, received_header: true }
          plain:  { listen: "127.0.0.2:0", mode: smtp, pool: p, hostname: mx.test }
        """.formatted(backend.port()), new SessionObserver() {
          @Override
          public void info(SessionInfo s, String text) {
            infos.add(s.idText() + " " + text);
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
        .sorted(Comparator.comparing(RecordingSmtpBackend.Message::queueId))
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
}
