package dev.sluice.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sluice.config.HealthProfile;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.TestCertificates;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * {@code cert_warn_days}: HealthMonitor warns about a backend certificate near or past expiry, once
 * per day of its countdown, and never lets expiry change the health state.
 */
class CertificateWarningTest {
  final ListAppender<ILoggingEvent> logged = new ListAppender<>();
  final Logger monitorLog = (Logger) LoggerFactory.getLogger(HealthMonitor.class);
  SluiceFixture sluice;
  ScriptedPeer peer;

  @BeforeEach
  void captureLog() {
    logged.start();
    monitorLog.addAppender(logged);
  }

  @AfterEach
  void stop() throws Exception {
    monitorLog.detachAppender(logged);
    if (sluice != null) {
      sluice.close();
    }
    if (peer != null) {
      peer.close();
    }
  }

  void start(Duration fromNowToExpiry, int certWarnDays) throws Exception {
    Instant now = Instant.now();
    TestCertificates.Issued cert = TestCertificates.selfSigned("mx.backend.test", now.minus(Duration.ofDays(365)),
        now.plus(fromNowToExpiry));
    peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()));
    sluice = SluiceFixture.start("""
        health:
          tls:
            steps: [connect, banner, ehlo, starttls, mail_from, quit]
            interval: 1s
            timeout: 900ms
            fall: 3
            cert_warn_days: %d
        pools:
          hub:
            backends: [ "127.0.0.1:%d" ]
        listeners:
          relay: { listen: "127.0.0.1:0", mode: tcp, pool: hub, health: tls }
        """.formatted(certWarnDays, peer.port()));
  }

  ProbeTarget target() {
    return sluice.server().health().all().get(0);
  }

  /** The certificate warnings logged (a loaded machine may add state-change warnings; not counted). */
  List<String> warnings() {
    return logged.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage)
        .filter(m -> m.contains("TLS certificate")).toList();
  }

  /** Waits until at least {@code n} more probes (each a new connection) ran and one saw the certificate. */
  void awaitProbes(int n) {
    int until = peer.connections() + n;
    await().atMost(Duration.ofSeconds(20)).until(() -> peer.connections() >= until && target().lastResult() != null
        && target().lastResult().certificate() != null);
  }

  void awaitUp() {
    await("an expiring certificate never takes the backend down").atMost(Duration.ofSeconds(10))
        .until(() -> target().state() == HealthState.UP);
  }

  @Test
  void expiredCertificateIsWarnedOnceWithNegativeDaysAndTheBackendStaysUp() throws Exception {
    start(Duration.ofDays(-3).minusHours(1), 14);
    awaitProbes(3);
    awaitUp();
    assertThat(target().lastResult().certificate().expired()).isTrue();
    assertThat(warnings()).singleElement().asString()
        .contains("backend hub/", "under tls:", "TLS certificate CN=mx.backend.test EXPIRED ", "(-4 days)", "cert_warn_days 14");
  }

  @Test
  void certificateWithinCertWarnDaysIsWarnedOnce() throws Exception {
    start(Duration.ofDays(5).plusHours(1), 14);
    awaitProbes(3);
    awaitUp();
    assertThat(warnings()).singleElement().asString()
        .contains("TLS certificate CN=mx.backend.test expires ", "(5 days)", "cert_warn_days 14");
  }

  @Test
  void certificateOutsideCertWarnDaysIsNotWarned() throws Exception {
    start(Duration.ofDays(5).plusHours(1), 5);
    awaitProbes(3);
    assertThat(target().lastResult().certificate().daysLeft()).isEqualTo(5);
    assertThat(warnings()).isEmpty();
  }

  @Test
  void warnsOncePerDayOfTheCountdownAndAgainAfterRenewal() {
    ProbeTarget t = new ProbeTarget(new ProbeKey("tls", null), PassiveHealthTest.backends(1).get(0), HealthProfile.DEFAULT, 0);
    Instant expiry = Instant.parse("2030-01-20T00:00:00Z");
    ProbeResult.CertificateInfo tenDays = new ProbeResult.CertificateInfo("CN=a", expiry, 10);
    ProbeResult.CertificateInfo nineDays = new ProbeResult.CertificateInfo("CN=a", expiry, 9);
    ProbeResult.CertificateInfo renewed = new ProbeResult.CertificateInfo("CN=a", expiry.plus(Duration.ofDays(365)), 374);

    assertThat(t.certificateWarningDue(null)).as("no STARTTLS, nothing to say").isFalse();
    assertThat(t.certificateWarningDue(tenDays)).isTrue();
    assertThat(t.certificateWarningDue(tenDays)).as("same day, next probe").isFalse();
    assertThat(t.certificateWarningDue(nineDays)).as("next day").isTrue();
    assertThat(t.certificateRenewed(nineDays)).isFalse();
    assertThat(t.certificateWarningDue(renewed)).isFalse();
    assertThat(t.certificateRenewed(renewed)).isTrue();
    assertThat(t.certificateRenewed(renewed)).as("said once").isFalse();
    assertThat(t.certificateWarningDue(nineDays)).as("the old certificate is back: warned again").isTrue();
  }
}
