package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.health.HealthState;
import dev.sluice.health.ProbeTarget;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SwaksResult;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * One pool whose servers learn the client's address in different ways (research need N10): a
 * server that speaks neither XCLIENT nor PROXY (as Exchange), one whose port requires a PROXY v2
 * header, and one that takes XCLIENT from Sluice. Each backend's own {@code client_identity} says
 * which; the others take the listener's. Against real Postfix, one instance with a port per kind,
 * each logging under its own name: every server is UP under probes set up as its traffic is, every
 * message reaches a server, and the two that can learn the client's address log it.
 */
@Tag("integration")
class MixedIdentityPostfixIT {
  static PostfixInstance pf;
  /** Offers no XCLIENT to Sluice and takes no PROXY header: what Exchange is to Sluice. */
  static int plainPort;
  /** Requires a PROXY header before anything else. */
  static int proxyPort;
  /** Offers no XCLIENT either, and lets only mynetworks (127.0.0.77) send: who connects decides. */
  static int strictPort;
  static SluiceFixture sluice;

  @BeforeAll
  static void start() throws Exception {
    plainPort = Loopback.freePort();
    proxyPort = Loopback.freePort();
    strictPort = Loopback.freePort();
    pf = PostfixInstance.builder("mixed")
        .mynetworks("127.0.0.77/32")
        .smtpdOption("syslog_name", "postfix-xclient")
        .additionalListener(plainPort, Map.of("smtpd_authorized_xclient_hosts", "127.0.0.99/32",
            "syslog_name", "postfix-plain"))
        .additionalListener(proxyPort, Map.of("smtpd_upstream_proxy_protocol", "haproxy",
            "syslog_name", "postfix-proxy"))
        .additionalListener(strictPort, Map.of("smtpd_authorized_xclient_hosts", "127.0.0.99/32",
            "smtpd_recipient_restrictions", "permit_mynetworks,reject", "syslog_name", "postfix-strict"))
        .build().start();
    sluice = SluiceFixture.start("""
        health:
          deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@corp.example, interval: 5s, timeout: 2s }
        pools:
          mixed:
            algorithm: round_robin
            backends:
              - { name: plain, address: "%1$s:%2$d", client_identity: none }
              - { name: proxied, address: "%1$s:%3$d", client_identity: proxy_v2 }
              - { name: xclient, address: "%1$s:%4$d" }
          bytes:
            algorithm: round_robin
            backends:
              - { name: plain, address: "%1$s:%2$d" }
              - { name: proxied, address: "%1$s:%3$d", client_identity: proxy_v2 }
          exchange:
            backends:
              - { name: strict, address: "%1$s:%5$d", client_identity: transparent }
        listeners:
          mx:    { listen: "127.0.0.1:0", mode: smtp, pool: mixed, health: deep, source_address: 127.0.0.41,
                   client_identity: xclient }
          relay: { listen: "127.0.0.2:0", mode: tcp, pool: bytes, health: deep, source_address: 127.0.0.42 }
          exch:  { listen: "127.0.0.3:0", mode: smtp, pool: exchange, health: deep, source_address: 127.0.0.43,
                   client_identity: xclient }
        """.formatted(pf.address(), plainPort, proxyPort, pf.port(), strictPort));
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (pf != null) {
      pf.close();
    }
  }

  /**
   * The probes of each backend carry what its traffic carries. With the listener's XCLIENT sent to
   * all three, the plain server (which does not offer XCLIENT) and the PROXY port (which waits for
   * a header) would both be DOWN.
   */
  @Test
  void eachBackendIsProbedWithItsOwnClientIdentityAndIsUp() {
    var health = sluice.server().health();
    Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> health.all().stream().allMatch(ProbeTarget::decided));
    assertThat(health.all()).extracting(t -> t.backend().pool() + "/" + t.backend().name() + " " + t.key())
        .containsExactlyInAnyOrder(
            "mixed/plain deep@127.0.0.41",
            "mixed/proxied deep@127.0.0.41+proxy_v2",
            "mixed/xclient deep@127.0.0.41+xclient",
            "bytes/plain deep@127.0.0.42",
            "bytes/proxied deep@127.0.0.42+proxy_v2",
            "exchange/strict deep@127.0.0.43");
    assertThat(health.all()).allSatisfy(t -> assertThat(t.state()).as(t + ": " + t.lastResult()).isEqualTo(HealthState.UP));
  }

  /**
   * Nine messages from nine clients, balanced per transaction over the three servers: each is
   * accepted by exactly one, the XCLIENT and PROXY servers log the client's own address, and the
   * plain one logs Sluice's (the most it can learn without a protocol).
   */
  @Test
  void everyServerGetsMailAndTheOnesThatCanLearnTheClientLogIt() {
    Map<String, List<String>> clients = sendAndCollect("mx", 60, 9);
    assertThat(clients.get("postfix-plain")).isNotEmpty().allMatch("127.0.0.41"::equals);
    assertThat(clients.get("postfix-proxy")).isNotEmpty().allMatch(c -> c.matches("127\\.0\\.0\\.6[0-8]"));
    assertThat(clients.get("postfix-xclient")).isNotEmpty().allMatch(c -> c.matches("127\\.0\\.0\\.6[0-8]"));
  }

  /** tcp mode: a PROXY header goes to the backend that asks for one, and to no other. */
  @Test
  void aTcpListenerSendsAProxyHeaderOnlyToTheBackendThatTakesOne() {
    Map<String, List<String>> clients = sendAndCollect("relay", 70, 4);
    assertThat(clients.get("postfix-plain")).isNotEmpty().allMatch("127.0.0.42"::equals);
    assertThat(clients.get("postfix-proxy")).isNotEmpty().allMatch(c -> c.matches("127\\.0\\.0\\.7[0-3]"));
    assertThat(clients).doesNotContainKey("postfix-xclient");
  }

  /**
   * A backend set to transparent under an XCLIENT listener (an Exchange server routed back through
   * Sluice): the connection comes from the client's own address, so the server's own address rule
   * admits the trusted client and refuses the stranger, with no protocol support at all.
   */
  @Test
  void aTransparentBackendSeesEachClientConnectFromItsOwnAddress() {
    awaitAllUp();
    SwaksResult trusted = send("exch", "127.0.0.77");
    assertThat(trusted.succeeded()).as(trusted.transcript()).isTrue();
    SwaksResult stranger = send("exch", "127.0.0.78");
    assertThat(stranger.succeeded()).isFalse();
    assertThat(stranger.transcript()).contains("554 5.7.1");
    pf.awaitMaillog("postfix-strict/smtpd");
    assertThat(pf.maillog()).anyMatch(l -> l.contains("reject: RCPT from unknown[127.0.0.78]"))
        .noneMatch(l -> l.contains("postfix-strict") && l.contains("[127.0.0.43]") && l.contains("client="));
  }

  /**
   * Sends {@code n} messages through {@code listener}, from 127.0.0.{@code first} onwards, each
   * accepted; returns the client address of each message the servers queued meanwhile, by server,
   * once there are {@code n} of them.
   */
  private static Map<String, List<String>> sendAndCollect(String listener, int first, int n) {
    awaitAllUp();
    int before = pf.maillog().size();
    for (int i = 0; i < n; i++) {
      SwaksResult ok = send(listener, "127.0.0." + (first + i));
      assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    }
    return Awaitility.await().atMost(Duration.ofSeconds(20))
        .until(() -> queuedClients(pf.maillog().subList(before, pf.maillog().size())),
            m -> m.values().stream().mapToInt(List::size).sum() == n);
  }

  private static void awaitAllUp() {
    var health = sluice.server().health();
    Awaitility.await().atMost(Duration.ofSeconds(20))
        .until(() -> health.all().stream().allMatch(t -> t.state() == HealthState.UP));
  }

  private static SwaksResult send(String listener, String source) {
    var at = sluice.address(listener);
    return SmtpClients.swaks(at.getHostString(), at.getPort(), "sender@internet.example", "user@example.test", source);
  }

  /** {@code QUEUEID: client=unknown[ADDR]} lines: the client address of each accepted message, by server. */
  private static final Pattern QUEUED = Pattern.compile("(postfix-\\w+)/smtpd\\[\\d+\\]: \\w+: client=[^\\[]*\\[([^\\]]+)\\]");

  private static Map<String, List<String>> queuedClients(List<String> lines) {
    Map<String, List<String>> out = new java.util.TreeMap<>();
    for (String line : lines) {
      Matcher m = QUEUED.matcher(line);
      if (m.find()) {
        out.computeIfAbsent(m.group(1), k -> new java.util.ArrayList<>()).add(m.group(2));
      }
    }
    return out;
  }
}
