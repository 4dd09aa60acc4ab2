package dev.sluice.observe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.proxy.tls.ServerTls;
import dev.sluice.testing.AdminClient;
import dev.sluice.testing.PrometheusText;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.TestCertificates;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The certificate expiry gauges: the listener's own certificate (renewals included) and each
 * backend's as its probes see it, as Unix times to alert on, like the blackbox exporter's.
 */
class CertificateExpiryMetricsTest {
  @TempDir Path dir;
  final ListAppender<ILoggingEvent> logged = new ListAppender<>();
  final Logger tlsLog = (Logger) LoggerFactory.getLogger(ServerTls.class);
  SluiceFixture sluice;
  ScriptedPeer peer;

  @AfterEach
  void stop() throws Exception {
    tlsLog.detachAppender(logged);
    if (sluice != null) {
      sluice.close();
    }
    if (peer != null) {
      peer.close();
    }
  }

  static TestCertificates.Issued cert(String name, Duration fromNowToExpiry) {
    Instant now = Instant.now();
    return TestCertificates.selfSigned(name, now.minus(Duration.ofDays(30)), now.plus(fromNowToExpiry));
  }

  static double only(PrometheusText metrics, String name) {
    List<PrometheusText.Sample> s = metrics.samples(name);
    assertThat(s).as(name).hasSize(1);
    return s.get(0).value();
  }

  @Test
  void theListenersOwnCertificateIsExportedWarnedAboutAndFollowedThroughARenewal() throws Exception {
    logged.start();
    tlsLog.addAppender(logged);
    Path certFile = dir.resolve("cert.pem");
    Path keyFile = dir.resolve("key.pem");
    TestCertificates.Issued soon = cert("mx.soon.test", Duration.ofDays(5).plusHours(1));
    soon.writePem(certFile, keyFile);
    peer = new ScriptedPeer(c -> {
      c.say("220 backend ESMTP");
      c.serveRest();
    });
    sluice = SluiceFixture.start("""
        admin: { listen: 127.0.0.1:0 }
        health:
          basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s }
        pools: { p: { backends: [ "127.0.0.1:%d" ] } }
        listeners:
          mx: { listen: 127.0.0.1:0, mode: smtp, pool: p, health: basic, hostname: mx.test,
                tls: { cert: "%s", key: "%s" } }
        """.formatted(peer.port(), certFile, keyFile));
    PrometheusText m = sluice.metrics();
    assertThat(m.samples("sluice_listener_certificate_expiry_timestamp_seconds").get(0).label("listener")).isEqualTo("mx");
    assertThat(only(m, "sluice_listener_certificate_expiry_timestamp_seconds"))
        .isEqualTo(soon.certificate().getNotAfter().toInstant().getEpochSecond());
    JsonNode listener = new ObjectMapper().readTree(new AdminClient(sluice.server().admin().boundAddress())
        .get("/api/state").body()).get("listeners").get(0);
    assertThat(Instant.parse(listener.get("certificateExpiry").asText()))
        .isEqualTo(soon.certificate().getNotAfter().toInstant());
    assertThat(logged.list).anySatisfy(e -> assertThat(e.getFormattedMessage())
        .contains("TLS certificate " + certFile + " (CN=mx.soon.test) expires").contains("(5 days)"));

    // Renewed in place (as certbot does): in use, and exported, from the next session on.
    TestCertificates.Issued renewed = cert("mx.soon.test", Duration.ofDays(90));
    Files.delete(certFile);
    Files.delete(keyFile);
    renewed.writePem(certFile, keyFile);
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
      try (RawSmtpClient c = RawSmtpClient.connect(sluice.address("mx"), "127.0.0.40")) {
        c.expect("220");
        c.send("EHLO renewal.test\r\n");
        c.expect("250");
        c.send("STARTTLS\r\n"); // the handshake about to start takes the certificate in the files now
        c.expect("220");
      }
      assertThat(only(sluice.metrics(), "sluice_listener_certificate_expiry_timestamp_seconds"))
          .isEqualTo(renewed.certificate().getNotAfter().toInstant().getEpochSecond());
    });
  }

  @Test
  void aBackendsCertificateIsExportedAsItsProbesSawItAndOutlivesAFailedProbe() throws Exception {
    TestCertificates.Issued backendCert = cert("mx.backend.test", Duration.ofDays(40));
    peer = new ScriptedPeer(ScriptedPeer.startTlsServer(backendCert.serverContext()));
    sluice = SluiceFixture.start("""
        admin: { listen: 127.0.0.1:0 }
        health:
          tls: { steps: [connect, banner, ehlo, starttls, quit], interval: 1s, timeout: 900ms }
        pools: { p: { backends: [ { name: b1, address: "127.0.0.1:%d" } ] } }
        listeners:
          mx: { listen: 127.0.0.1:0, mode: smtp, pool: p, health: tls, hostname: mx.test }
        """.formatted(peer.port()));
    long notAfter = backendCert.certificate().getNotAfter().toInstant().getEpochSecond();
    PrometheusText.Sample s = sluice.metrics().samples("sluice_backend_certificate_expiry_timestamp_seconds").get(0);
    assertThat(s.value()).isEqualTo(notAfter);
    assertThat(s.label("pool")).isEqualTo("p");
    assertThat(s.label("backend")).isEqualTo("b1");
    assertThat(s.label("profile")).isEqualTo("tls");
    assertThat(sluice.metrics().samples("sluice_listener_certificate_expiry_timestamp_seconds")).isEmpty();
    JsonNode state = new ObjectMapper().readTree(new AdminClient(sluice.server().admin().boundAddress()).get("/api/state").body());
    JsonNode seen = state.get("pools").get(0).get("backends").get(0).get("health").get(0).get("certificate");
    assertThat(seen.get("subject").asText()).isEqualTo("CN=mx.backend.test");
    assertThat(Instant.parse(seen.get("notAfter").asText()).getEpochSecond()).isEqualTo(notAfter);
    assertThat(state.get("listeners").get(0).has("certificateExpiry")).as("no tls on this listener").isFalse();

    // The server goes away: its probes fail before TLS, and its certificate is still the one it had.
    peer.close();
    await().atMost(Duration.ofSeconds(10)).until(() -> sluice.server().health().all().iterator().next()
        .lastResult().outcome() != dev.sluice.health.ProbeOutcome.OK);
    assertThat(only(sluice.metrics(), "sluice_backend_certificate_expiry_timestamp_seconds")).isEqualTo(notAfter);
  }
}
