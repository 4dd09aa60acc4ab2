package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Backend;
import dev.sluice.health.PassiveHealth;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.PostfixPair;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A 4xx at MAIL FROM about the sender's address (RFC 3463 subject 1 or 2) is not a failure of the
 * server: two real Postfix backends defer one sender with Postfix's own {@code check_sender_access},
 * as for a sender domain they cannot look up. Sluice still tries the other backend
 * for that sender, and the sender gets the deferral. But the backends stay in service even with
 * {@code consecutive_failures: 1}; counted as failures, these refusals would let one sender
 * get healthy servers ejected.
 */
@Tag("integration")
class SenderDeferralPostfixIT {
  static final String THROTTLED = "throttled@sender.test";
  static PostfixPair pair;
  static SluiceFixture sluice;

  @BeforeAll
  static void start() throws Exception {
    pair = PostfixPair.start("sndr", b -> b.mainCf("smtpd_sender_restrictions",
        "check_sender_access inline:{ { " + THROTTLED + " = 450 4.1.8 Sender domain not found, try later } }"));
    sluice = SluiceFixture.start("""
        health:
          basic: { steps: [connect, banner, ehlo, quit], interval: 30s, timeout: 2s }
        pools:
          hub:
            passive: { consecutive_failures: 1, eject_for: 1h, max_eject_for: 1h }
            backends:
              - { name: a, address: "%s:%d" }
              - { name: b, address: "%s:%d" }
        listeners:
          mx: { listen: 127.0.0.1:0, mode: smtp, pool: hub, health: basic, hostname: mx.sluice.test }
        """.formatted(pair.a().address(), pair.a().port(), pair.b().address(), pair.b().port()));
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (pair != null) {
      pair.close();
    }
  }

  @Test
  void aDeferredSenderIsTriedElsewhereAndEjectsNoBackend() throws Exception {
    pair.mark();
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("mx"), null, Duration.ofSeconds(20))) {
      c.command("EHLO client.example");
      for (int i = 0; i < 3; i++) {
        // Sluice answers MAIL FROM itself; the deferral comes at the first RCPT TO.
        assertThat(c.send(THROTTLED, "user@example.test", "Subject: throttled\n\nhi").toString())
            .startsWith("450 4.1.8").contains("Sender domain not found");
      }
      assertThat(c.send("someone@sender.test", "user@example.test", "Subject: fine\n\nhi").code()).isEqualTo(250);
    }
    // Both servers were asked: the deferral is retried elsewhere as before.
    for (var pf : List.of(pair.a(), pair.b())) {
      assertThat(pf.awaitMaillog("Sender domain not found")).contains(THROTTLED);
    }
    PassiveHealth passive = sluice.server().passive("mx");
    for (Backend b : sluice.server().pools().get("hub").backends()) {
      assertThat(passive.ejected(b)).as("%s ejected", b.name()).isFalse();
    }
    pair.assertNothingLost(1);
  }
}
