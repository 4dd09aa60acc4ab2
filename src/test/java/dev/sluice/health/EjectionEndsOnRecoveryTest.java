package dev.sluice.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.balance.Backend;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A backend ejected by live traffic returns as soon as the listener's own probes see it recover
 * (DEGRADED or DOWN, then UP), not after the rest of {@code eject_for}; an ejection the probes had
 * nothing to say about runs its full time.
 */
class EjectionEndsOnRecoveryTest {
  final LoopbackLab lab = new LoopbackLab();

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  @Test
  void probesSeeingTheBackendRecoverEndItsEjection() throws Exception {
    EmbeddedSmtpServer a = lab.backend("a", "corp.example");
    EmbeddedSmtpServer b = lab.backend("b", "corp.example");
    SluiceFixture f = lab.add(SluiceFixture.start("""
        health:
          outside:
            steps: [connect, banner, ehlo, mail_from, quit]
            mail_from: probe@internet.example
            interval: 200ms
            timeout: 150ms
            rise: 1
            fall: 1
        pools:
          p:
            passive: { consecutive_failures: 1, eject_for: 1h, max_eject_for: 1h }
            backends:
              - { name: a, address: 127.0.0.1:%d }
              - { name: b, address: 127.0.0.1:%d }
        listeners:
          l:
            listen: 127.0.0.1:0
            mode: smtp
            pool: p
            health: outside
            hostname: mx.test
        """.formatted(a.port(), b.port())));
    Backend backendB = f.server().pools().get("p").backends().get(1);
    PassiveHealth passive = f.server().passive("l");
    ProbeTarget probeOfB = f.server().health().all().stream().filter(t -> t.backend() == backendB).findFirst().orElseThrow();
    await().atMost(Duration.ofSeconds(10)).until(() -> probeOfB.state() == HealthState.UP);

    // Live traffic ejects b for an hour (as a 452 at MAIL FROM would), then its probes see the back
    // pressure too, and then its end.
    assertThat(passive.failure(backendB)).isEqualTo(PassiveHealth.Verdict.EJECTED);
    b.setBackPressure(true);
    await().atMost(Duration.ofSeconds(10)).until(() -> probeOfB.state() == HealthState.DEGRADED);
    assertThat(passive.ejected(backendB)).isTrue();
    b.setBackPressure(false);
    await().atMost(Duration.ofSeconds(10)).until(() -> probeOfB.state() == HealthState.UP);
    await().atMost(Duration.ofSeconds(5)).until(() -> !passive.ejected(backendB));

    // Ejected again while its probes keep answering cleanly: nothing ends it early. Wait for two
    // probes to finish after the ejection, so one started after it.
    assertThat(passive.failure(backendB)).isEqualTo(PassiveHealth.Verdict.EJECTED);
    ProbeResult[] seen = {probeOfB.lastResult()};
    int[] fresh = {0};
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      if (probeOfB.lastResult() != seen[0]) {
        seen[0] = probeOfB.lastResult();
        fresh[0]++;
      }
      return fresh[0] >= 2;
    });
    assertThat(probeOfB.state()).isEqualTo(HealthState.UP);
    assertThat(passive.ejected(backendB)).isTrue();
  }
}
