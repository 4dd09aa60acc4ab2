package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.TestCertificates;
import io.netty.channel.EventLoopGroup;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import dev.sluice.testing.ScriptedPeer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProbeCommandTest {
  EventLoopGroup group;
  EmbeddedSmtpServer server;
  String out;

  @BeforeEach
  void setUp() throws Exception {
    group = Transport.NIO.newGroup(1);
    server = new EmbeddedSmtpServer("hub1", "corp.example").start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO);
  }

  @AfterEach
  void tearDown() {
    server.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  int probe(String... args) {
    PrintStream original = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      String[] all = new String[args.length + 2];
      all[0] = "probe";
      all[1] = "backend";
      System.arraycopy(args, 0, all, 2, args.length);
      return Main.execute(all);
    } finally {
      System.setOut(original);
      out = buf.toString(StandardCharsets.UTF_8);
    }
  }

  @Test
  void healthyServerIsUpWithExitZero() {
    assertThat(probe("127.0.0.1:" + server.port(), "--rcpt-to", "postmaster@corp.example")).isZero();
    assertThat(out).contains("S: 220 hub1", "C: EHLO probe.sluice.invalid", "C: RCPT TO:<postmaster@corp.example>", "C: QUIT")
        .contains("UP: all steps answered");
  }

  @Test
  void backPressureIsDegradedWithExitOneAndShowsThe452() {
    server.setBackPressure(true);
    assertThat(probe("127.0.0.1:" + server.port(), "--mail-from", "someone@internet.example")).isEqualTo(1);
    assertThat(out).contains("S: 452 4.3.1 Insufficient system resources").contains("DEGRADED: back pressure at MAIL FROM");
    // The internal sender still gets through: the verdict depends on who asks.
    assertThat(probe("127.0.0.1:" + server.port(), "--mail-from", "app@corp.example")).isZero();
  }

  @Test
  void unreachableServerIsDownWithExitTwo() {
    assertThat(probe("127.0.0.1:" + Loopback.freePort(), "--timeout", "1s")).isEqualTo(2);
    assertThat(out).contains("DOWN: connect failed: connection refused");
  }

  /** A config in {@code dir} whose health profile 'internal' has its own HELO and sender. */
  static Path internalProfile(Path dir) throws Exception {
    Path cfg = dir.resolve("s.yaml");
    Files.writeString(cfg, """
        health:
          internal: { mail_from: health@corp.example, helo: lb.corp.example }
        pools: { hub: { backends: ["127.0.0.1:25"] } }
        listeners: { relay: { listen: "127.0.0.1:2526", mode: tcp, pool: hub, health: internal } }
        """);
    return cfg;
  }

  @Test
  void profileFromConfigIsUsed(@TempDir Path dir) throws Exception {
    Path cfg = internalProfile(dir);
    server.setBackPressure(true);
    assertThat(probe("127.0.0.1:" + server.port(), "--profile", "internal", "-c", cfg.toString())).isZero();
    assertThat(out).contains("C: EHLO lb.corp.example", "C: MAIL FROM:<health@corp.example>");
  }

  @Test
  void transparentProbesConnectFromTheGivenClientAddress() throws Exception {
    assumeTrue(Transport.best().transparentUnavailable() == null, "IP_TRANSPARENT not permitted here");
    List<String> peers = new CopyOnWriteArrayList<>();
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      peers.add(c.peer().getAddress().getHostAddress());
      c.say("220 scripted ESMTP");
      c.serveRest();
    })) {
      assertThat(probe("127.0.0.1:" + peer.port(), "--source", "127.0.0.58", "--transparent")).isZero();
      assertThat(peers).containsExactly("127.0.0.58");
    }
    assertThat(probe("127.0.0.1:" + server.port(), "--transparent")).isEqualTo(2);
    assertThat(probe("127.0.0.1:" + server.port(), "--source", "127.0.0.58", "--transparent", "--xclient")).isEqualTo(2);
  }

  @Test
  void aSourceOfTheOtherFamilyThanTheTargetIsAUsageErrorThatSaysSo() {
    PrintStream original = System.err;
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      assertThat(probe("127.0.0.1:" + server.port(), "--source", "::1", "--transparent")).isEqualTo(2);
      assertThat(probe("127.0.0.1:" + server.port(), "--source", "::1")).isEqualTo(2);
    } finally {
      System.setErr(original);
    }
    assertThat(out).doesNotContain("C: EHLO");
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("--source ::1 is an IPv6 address", "127.0.0.1 is IPv4");
  }

  @Test
  void transparentTakesTheProfileFromTheConfig(@TempDir Path dir) throws Exception {
    assumeTrue(Transport.best().transparentUnavailable() == null, "IP_TRANSPARENT not permitted here");
    Path cfg = internalProfile(dir);
    List<String> peers = new CopyOnWriteArrayList<>();
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      peers.add(c.peer().getAddress().getHostAddress());
      c.say("220 scripted ESMTP");
      c.serveRest();
    })) {
      assertThat(probe("127.0.0.1:" + peer.port(), "--source", "127.0.0.59", "--transparent", "--profile", "internal",
          "-c", cfg.toString())).as(out).isZero();
      assertThat(peers).containsExactly("127.0.0.59");
      assertThat(out).contains("C: EHLO lb.corp.example", "C: MAIL FROM:<health@corp.example>");
    }
  }

  @Test
  void badTargetIsAUsageError() {
    assertThat(probe("not-an-address")).isEqualTo(2);
  }

  static TestCertificates.Issued certificate(String cn, Duration fromNowToExpiry) {
    Instant now = Instant.now();
    return TestCertificates.selfSigned(cn, now.minus(Duration.ofDays(365)), now.plus(fromNowToExpiry));
  }

  @Test
  void startTlsPrintsTheCertificateWithoutWarningWhenFarFromExpiry() throws Exception {
    TestCertificates.Issued cert = certificate("mx.valid.test", Duration.ofDays(200).plusHours(1));
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()))) {
      assertThat(probe("127.0.0.1:" + peer.port(), "--starttls")).as(out).isZero();
      assertThat(out).containsSubsequence("C: STARTTLS", "S: 220 2.0.0 Ready to start TLS", "*: TLS TLSv1.",
          "C: EHLO probe.sluice.invalid", "UP: all steps answered")
          .contains("certificate: CN=mx.valid.test, expires ")
          .contains("(200 days)")
          .doesNotContain("WARNING");
    }
  }

  @Test
  void tlsShakesHandsBeforeTheBannerForPort465() throws Exception {
    TestCertificates.Issued cert = certificate("smtps.valid.test", Duration.ofDays(200).plusHours(1));
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.implicitTlsServer(cert.serverContext()))) {
      assertThat(probe("127.0.0.1:" + peer.port(), "--tls")).as(out).isZero();
      assertThat(out).containsSubsequence("*: TLS TLSv1.", "S: 220 smtps.scripted ESMTP", "C: EHLO probe.sluice.invalid",
          "UP: all steps answered").contains("certificate: CN=smtps.valid.test, expires ").doesNotContain("STARTTLS");
      assertThat(probe("127.0.0.1:" + peer.port(), "--tls", "--starttls")).isEqualTo(2);
    }
  }

  @Test
  void certificateExpiringWithinCertWarnDaysIsAWarningNotAFailure() throws Exception {
    TestCertificates.Issued cert = certificate("mx.soon.test", Duration.ofDays(5).plusHours(1));
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()))) {
      assertThat(probe("127.0.0.1:" + peer.port(), "--starttls")).as(out).isZero();
      assertThat(out).contains("WARNING: the certificate of 127.0.0.1:" + peer.port() + " expires in 5 days (cert_warn_days 14)");
      assertThat(probe("127.0.0.1:" + peer.port(), "--starttls", "--cert-warn-days", "3")).isZero();
      assertThat(out).doesNotContain("WARNING");
    }
  }

  @Test
  void expiredCertificateIsUpWithALoudWarning() throws Exception {
    TestCertificates.Issued cert = certificate("mx.expired.test", Duration.ofDays(-10).plusHours(1));
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()))) {
      // The exit status is the SMTP verdict; the expiry is for the operator to read.
      assertThat(probe("127.0.0.1:" + peer.port(), "--starttls", "--cert-warn-days", "0")).as(out).isZero();
      assertThat(out).contains("UP: all steps answered")
          .contains("certificate: CN=mx.expired.test, EXPIRED ")
          .contains("(-10 days)")
          .contains("WARNING: the certificate of 127.0.0.1:" + peer.port() + " has EXPIRED");
    }
  }
}
