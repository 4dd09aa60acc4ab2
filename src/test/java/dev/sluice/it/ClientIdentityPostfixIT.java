package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Loopback;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SwaksResult;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The seed's pitfall 3 (source NAT hides the client) against real Postfix: with each client
 * identity protocol, Postfix's own log and its relay decision see the real client, not Sluice.
 */
@Tag("integration")
class ClientIdentityPostfixIT {
  static PostfixInstance pf;
  static int proxyPort;
  /** A port where only mynetworks may send at all: the relay decision made visible. */
  static int strictPort;
  /** A port that authorizes XCLIENT from 127.0.0.99 only: Sluice's own address is not allowed. */
  static int noXclientPort;
  static SluiceFixture sluice;

  @BeforeAll
  static void start() throws Exception {
    proxyPort = Loopback.freePort();
    strictPort = Loopback.freePort();
    noXclientPort = Loopback.freePort();
    pf = PostfixInstance.builder("identity")
        .mynetworks("127.0.0.77/32")
        .mainCf("smtpd_authorized_xforward_hosts", "127.0.0.0/8")
        .additionalListener(proxyPort, Map.of("smtpd_upstream_proxy_protocol", "haproxy"))
        .additionalListener(strictPort, Map.of("smtpd_recipient_restrictions", "permit_mynetworks,reject"))
        .additionalListener(noXclientPort, Map.of("smtpd_authorized_xclient_hosts", "127.0.0.99/32"))
        .build().start();
    sluice = SluiceFixture.start("""
        health:
          deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@corp.example, interval: 5s, timeout: 2s }
        pools:
          plain: { backends: [ "%1$s:%2$d" ] }
          proxied: { backends: [ "%1$s:%3$d" ] }
          strict: { backends: [ "%1$s:%4$d" ] }
          noxclient: { backends: [ "%1$s:%5$d" ] }
        listeners:
          xclient:   { listen: "127.0.0.1:0", mode: smtp, pool: plain, health: deep, source_address: 127.0.0.21, client_identity: xclient }
          none:      { listen: "127.0.0.2:0", mode: smtp, pool: plain, health: deep, source_address: 127.0.0.22 }
          xforward:  { listen: "127.0.0.3:0", mode: smtp, pool: plain, health: deep, source_address: 127.0.0.23, client_identity: xforward }
          proxy2tcp: { listen: "127.0.0.4:0", mode: tcp,  pool: proxied, health: deep, source_address: 127.0.0.24, client_identity: proxy_v2 }
          proxy1smtp: { listen: "127.0.0.5:0", mode: smtp, pool: proxied, health: deep, source_address: 127.0.0.25, client_identity: proxy_v1 }
          strictxclient: { listen: "127.0.0.6:0", mode: smtp, pool: strict, health: deep, source_address: 127.0.0.26, client_identity: xclient }
          strictnone: { listen: "127.0.0.7:0", mode: smtp, pool: strict, health: deep, source_address: 127.0.0.27 }
          behindproxy: { listen: "127.0.0.8:0", mode: smtp, pool: plain, health: deep, source_address: 127.0.0.28,
                         client_identity: xclient, accept_proxy: [127.0.0.9/32] }
          unauthorized: { listen: "127.0.0.10:0", mode: smtp, pool: noxclient, health: deep, source_address: 127.0.0.30,
                          client_identity: xclient }
          plainnox: { listen: "127.0.0.11:0", mode: smtp, pool: noxclient, health: deep, source_address: 127.0.0.31 }
          transparentsmtp: { listen: "127.0.0.13:0", mode: smtp, pool: strict, health: deep, client_identity: transparent }
          transparenttcp:  { listen: "127.0.0.14:0", mode: tcp,  pool: strict, health: deep, client_identity: transparent }
          traced: { listen: "127.0.0.12:0", mode: smtp, pool: plain, health: deep, source_address: 127.0.0.32,
                    hostname: lb.corp.test, received_header: true }
        """.formatted(pf.address(), pf.port(), proxyPort, strictPort, noXclientPort));
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

  static SwaksResult send(String listener, String source, String to, String... extra) {
    var at = sluice.address(listener);
    return SmtpClients.swaks(at.getHostString(), at.getPort(), "sender@internet.example", to, source, extra);
  }

  @Test
  void xclientMakesPostfixLogAndJudgeTheRealClient() {
    SwaksResult ok = send("xclient", "127.0.0.77", "user@example.test");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    pf.awaitMaillog("client=unknown[127.0.0.77]");
    // Permission follows the client's address (mynetworks = 127.0.0.77), not Sluice's.
    SwaksResult trusted = send("strictxclient", "127.0.0.77", "user@example.test");
    assertThat(trusted.succeeded()).as(trusted.transcript()).isTrue();
    SwaksResult stranger = send("strictxclient", "127.0.0.78", "user@example.test");
    assertThat(stranger.succeeded()).isFalse();
    assertThat(stranger.transcript()).contains("554 5.7.1");
  }

  /**
   * The classic XCLIENT mistake, Sluice's address missing from smtpd_authorized_xclient_hosts:
   * every message through that listener would fail, so its probes, which set the session up as
   * live traffic does, show the backend DOWN with the reason. The same server is UP for a listener
   * that does not need XCLIENT, and UP where XCLIENT is authorized, with XCLIENT in the dialogue.
   */
  @Test
  void probesSendXclientSoAnUnauthorizedSluiceSeesTheBackendDown() {
    var health = sluice.server().health();
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(15))
        .until(() -> health.all().stream().allMatch(t -> t.decided()));
    var unauthorized = health.all().stream().filter(t -> t.key().toString().equals("deep@127.0.0.30+xclient"))
        .findFirst().orElseThrow();
    assertThat(unauthorized.state()).isEqualTo(dev.sluice.health.HealthState.DOWN);
    assertThat(unauthorized.lastResult().reason())
        .isEqualTo("backend does not offer XCLIENT to 127.0.0.30 (Postfix: add it to smtpd_authorized_xclient_hosts)");
    var plain = health.all().stream().filter(t -> t.key().toString().equals("deep@127.0.0.31")).findFirst().orElseThrow();
    assertThat(plain.state()).isEqualTo(dev.sluice.health.HealthState.UP);
    var authorized = health.all().stream().filter(t -> t.key().toString().equals("deep@127.0.0.21+xclient"))
        .findFirst().orElseThrow();
    assertThat(authorized.state()).isEqualTo(dev.sluice.health.HealthState.UP);
    assertThat(authorized.lastResult().transcript()).anySatisfy(l -> assertThat(l).startsWith("C: XCLIENT ADDR=127.0.0.21"));

    SwaksResult refused = send("unauthorized", "127.0.0.77", "user@example.test");
    assertThat(refused.transcript()).contains("451 4.3.0");
    SwaksResult ok = send("plainnox", "127.0.0.77", "user@example.test");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
  }

  @Test
  void withoutIdentityPostfixSeesTheListenersSourceAddress() {
    SwaksResult ok = send("none", "127.0.0.77", "user@example.test");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    pf.awaitMaillog("client=unknown[127.0.0.22]");
    // The seed's source NAT: behind the balancer the trusted client loses its permission.
    SwaksResult denied = send("strictnone", "127.0.0.77", "user@example.test");
    assertThat(denied.succeeded()).isFalse();
    assertThat(denied.transcript()).contains("554 5.7.1");
  }

  /**
   * {@code client_identity: transparent}, for servers that take neither PROXY nor XCLIENT
   * (Exchange): the connection itself comes from the client's address, so Postfix logs and judges
   * the real client with no protocol support at all, in both modes.
   */
  @Test
  void transparentModeMakesTheConnectionComeFromTheClient() {
    for (String listener : List.of("transparentsmtp", "transparenttcp")) {
      SwaksResult trusted = send(listener, "127.0.0.77", "user@example.test");
      assertThat(trusted.succeeded()).as(listener + "\n" + trusted.transcript()).isTrue();
      SwaksResult stranger = send(listener, "127.0.0.78", "user@example.test");
      assertThat(stranger.succeeded()).as(listener).isFalse();
      assertThat(stranger.transcript()).as(listener).contains("554 5.7.1");
    }
    pf.awaitMaillog("reject: RCPT from unknown[127.0.0.78]");
    assertThat(pf.maillog()).noneMatch(l -> l.contains("RCPT from unknown[127.0.0.1]"));
  }

  /**
   * {@code received_header}: even where no identity protocol is possible, the delivered message
   * names the real client, in a Received line below Postfix's own (which names Sluice), with the
   * id that leads to the session in Sluice's protocol log.
   */
  @Test
  void theReceivedHeaderRecordsTheRealClientInTheDeliveredMessage() {
    SwaksResult ok = send("traced", "127.0.0.81", "user@example.test", "--header", "Subject: traced-through-sluice");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    String message = org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(20))
        .until(() -> pf.deliveredMessageContents().stream().filter(m -> m.contains("Subject: traced-through-sluice"))
            .findFirst().orElse(null), java.util.Objects::nonNull);
    String ours = "Received: from swaks.sluice.test (unknown [127.0.0.81])\n\tby lb.corp.test (Sluice) with ESMTP id ";
    assertThat(message).contains(ours);
    int postfixLine = message.indexOf("(unknown [127.0.0.32])");
    assertThat(postfixLine).as(message).isPositive().isLessThan(message.indexOf(ours));
    assertThat(message).containsPattern("\\(Sluice\\) with ESMTP id [0-9A-F]+\\.1;\n\t[A-Z][a-z]{2}, ");
  }

  @Test
  void xforwardRecordsTheOriginalClientForLogging() {
    SwaksResult ok = send("xforward", "127.0.0.80", "user@example.test");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    pf.awaitMaillog("127.0.0.80");
  }

  @Test
  void clientBehindATrustedProxyReachesPostfixWithItsOwnAddress() throws Exception {
    var at = sluice.address("behindproxy");
    try (var c = dev.sluice.testing.RawSmtpClient.connect(at, "127.0.0.9")) {
      c.send("PROXY TCP4 127.0.0.95 127.0.0.8 40000 25\r\n");
      c.expect("220");
      c.send("EHLO behind.proxy.test\r\nMAIL FROM:<a@internet.example>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n");
      c.expect("250");
      c.expect("250");
      c.expect("250");
      c.expect("354");
      c.send("Subject: via an upstream proxy\r\n\r\nhello\r\n.\r\nQUIT\r\n");
      c.expect("250");
    }
    pf.awaitMaillog("client=unknown[127.0.0.95]");
  }

  /**
   * As behind AWS's Network Load Balancer or Traefik, which send the PROXY header only in front of
   * the client's first bytes: Sluice greets first, and Postfix still learns the client's address.
   */
  @Test
  void aHeaderThatComesWithTheFirstCommandStillCarriesTheClientToPostfix() throws Exception {
    var at = sluice.address("behindproxy");
    try (var c = dev.sluice.testing.RawSmtpClient.connect(at, "127.0.0.9")) {
      c.expect("220"); // before any byte from the proxy
      c.send("PROXY TCP4 127.0.0.97 127.0.0.8 40000 25\r\nEHLO late.header.test\r\n"
          + "MAIL FROM:<a@internet.example>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n");
      c.expect("250");
      c.expect("250");
      c.expect("250");
      c.expect("354");
      c.send("Subject: header with the first bytes\r\n\r\nhello\r\n.\r\nQUIT\r\n");
      c.expect("250");
    }
    pf.awaitMaillog("client=unknown[127.0.0.97]");
  }

  @Test
  void probeBackendSpeaksProxyToAProxyPort() {
    java.io.PrintStream original = System.out;
    java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
    int withHeader;
    int without;
    try {
      System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
      withHeader = dev.sluice.cli.Main.execute("probe", "backend", pf.address() + ":" + proxyPort, "--proxy", "v2",
          "--mail-from", "probe@corp.example");
      without = dev.sluice.cli.Main.execute("probe", "backend", pf.address() + ":" + proxyPort, "--timeout", "2s");
    } finally {
      System.setOut(original);
    }
    assertThat(withHeader).as(buf.toString()).isZero();
    assertThat(buf.toString()).contains("C: PROXY header v2");
    assertThat(without).as("a PROXY port never greets a client without the header").isEqualTo(2);
  }

  @Test
  void probeBackendSendsXclientWhenAsked() {
    java.io.PrintStream original = System.out;
    java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
    int authorized;
    int unauthorized;
    try {
      System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
      authorized = dev.sluice.cli.Main.execute("probe", "backend", pf.address() + ":" + pf.port(), "--xclient",
          "--mail-from", "probe@corp.example");
      unauthorized = dev.sluice.cli.Main.execute("probe", "backend", pf.address() + ":" + noXclientPort, "--xclient",
          "--mail-from", "probe@corp.example");
    } finally {
      System.setOut(original);
    }
    assertThat(authorized).as(buf.toString()).isZero();
    assertThat(buf.toString()).contains("C: XCLIENT ADDR=", "DOWN: backend does not offer XCLIENT");
    assertThat(unauthorized).isEqualTo(2);
    assertThat(dev.sluice.cli.Main.execute("probe", "backend", pf.address() + ":" + pf.port(), "--xclient", "--proxy", "v1"))
        .isEqualTo(2);
  }

  @Test
  void proxyV2InTcpModeCarriesTheClientAddress() {
    SwaksResult ok = send("proxy2tcp", "127.0.0.81", "user@example.test");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    pf.awaitMaillog("connect from unknown[127.0.0.81]");
  }

  @Test
  void proxyV1InSmtpModeCarriesTheClientAddress() {
    SwaksResult ok = send("proxy1smtp", "127.0.0.82", "user@example.test");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    pf.awaitMaillog("connect from unknown[127.0.0.82]");
  }
}
