package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.health.HealthState;
import dev.sluice.testing.TestCertificates;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** backend_tls: STARTTLS towards backends, with certificate and host name verification. */
class BackendTlsTest {
  @TempDir Path dir;
  EventLoopGroup group;
  TestCertificates.Issued cert;
  Path caFile;

  @BeforeEach
  void setUp() {
    group = Transport.NIO.newGroup(1);
    cert = TestCertificates.selfSigned("backend.test", Instant.now().minusSeconds(60), Instant.now().plusSeconds(86_400),
        "127.0.0.1");
    caFile = dir.resolve("ca.pem");
    cert.writePem(caFile, dir.resolve("unused-key.pem"));
  }

  @AfterEach
  void tearDown() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  SmtpReply sendThrough(int backendPort, String tlsSettings) throws Exception {
    try (SluiceFixture f = SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 1s } }
        pools: { p: { backends: [ "127.0.0.1:%d" ] } }
        listeners:
          l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, %s }
        """.formatted(backendPort, tlsSettings));
        LabSmtpClient c = LabSmtpClient.connect(f.address("l"), null, Duration.ofSeconds(10))) {
      c.command("EHLO client.test");
      return c.send("a@corp.example", "b@example.test", "Subject: t\n\nhello\n");
    }
  }

  @Test
  void requireWithATrustedCertificateNamingTheBackendDelivers() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()))) {
      SmtpReply r = sendThrough(peer.port(), "backend_tls: require, backend_tls_ca: \"" + caFile + "\"");
      assertThat(r.code()).as(r.toString()).isEqualTo(250);
      assertThat(peer.received()).contains("STARTTLS").contains("DATA");
    }
  }

  @Test
  void untrustedCertificateFailsTheBackendAndNothingIsSentInTheClear() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()))) {
      SmtpReply r = sendThrough(peer.port(), "backend_tls: require");
      assertThat(r.code()).isEqualTo(451);
      assertThat(peer.received()).doesNotContain("DATA");
    }
  }

  @Test
  void labSwitchSkipsVerification() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()))) {
      SmtpReply r = sendThrough(peer.port(), "backend_tls: require, backend_tls_verify: false");
      assertThat(r.code()).isEqualTo(250);
    }
  }

  @Test
  void requireRefusesABackendWithoutStarttlsWhileStarttlsFallsBackToPlaintext() throws Exception {
    try (EmbeddedSmtpServer plain = new EmbeddedSmtpServer("plain", null)
        .start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO)) {
      assertThat(sendThrough(plain.port(), "backend_tls: require").code()).isEqualTo(451);
      assertThat(plain.messages()).isZero();
      assertThat(sendThrough(plain.port(), "backend_tls: starttls").code()).isEqualTo(250);
      assertThat(plain.messages()).isEqualTo(1);
    }
  }

  @Test
  void aBackendRefusingSluicesStarttlsIsSluicesProblemNotTheClients() throws Exception {
    // Its 454 answers Sluice's own STARTTLS: the client must not get it as the reply to its mail.
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 notls.scripted ESMTP");
      c.hearUntil("EHLO");
      c.say("250-notls.scripted").say("250 STARTTLS");
      if (c.hearUntil("STARTTLS") != null) {
        c.say("454 4.7.0 TLS not available due to local problem");
        c.serveRest();
      }
    })) {
      SmtpReply r = sendThrough(peer.port(), "backend_tls: require, backend_tls_verify: false");
      assertThat(r.code()).as(r.toString()).isEqualTo(451);
      assertThat(r.text()).startsWith("4.3.0").doesNotContain("TLS not available");
      assertThat(peer.received()).doesNotContain("DATA");
    }
  }

  /**
   * Probes set their session up as the listener's traffic does: a certificate live sessions would
   * refuse makes the backend DOWN for that listener, with the reason, instead of UP while every
   * message fails; a listener without backend_tls judges the same server by itself.
   */
  @Test
  void probesUseTheListenersTlsSoACertificateSessionsWouldRefuseIsDown() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()));
        SluiceFixture f = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, mail_from, quit], interval: 60s, timeout: 2s } }
            pools: { p: { backends: [ "127.0.0.1:%d" ] } }
            listeners:
              untrusted: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, backend_tls: require }
              trusted: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, backend_tls: starttls,
                         backend_tls_ca: "%s" }
            """.formatted(peer.port(), caFile))) {
      var targets = f.server().health().all();
      assertThat(targets).extracting(t -> t.key().toString()).containsExactlyInAnyOrder("basic+tls_required", "basic+tls");
      await().atMost(Duration.ofSeconds(10)).until(() -> targets.stream().allMatch(t -> t.decided()));
      for (var t : targets) {
        if (t.key().backendTls() == dev.sluice.config.ListenerConfig.BackendTls.REQUIRE) {
          assertThat(t.state()).isEqualTo(HealthState.DOWN);
          assertThat(t.lastResult().reason()).startsWith("TLS handshake failed");
        } else {
          assertThat(t.state()).as(t.lastResult().transcript().toString()).isEqualTo(HealthState.UP);
        }
      }
    }
  }
}
