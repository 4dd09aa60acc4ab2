package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.testing.PostfixPair;
import dev.sluice.testing.PrometheusText;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SwaksResult;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Deferral affinity against two real Postfix backends that greylist, each with its own postgrey
 * (its own memory, as separate servers have): a sender's retry through Sluice must meet the
 * backend that greylisted it, and pass there. Swaks is the sender; both sides are counted.
 */
@Tag("integration")
class DeferralAffinityPostfixIT {
  static final Duration DELAY = Duration.ofSeconds(2);
  static PostfixPair pair;
  SluiceFixture sluice;

  @BeforeAll
  static void start() throws Exception {
    pair = PostfixPair.start("grey", b -> b.greylisting(DELAY));
  }

  @AfterAll
  static void stop() {
    if (pair != null) {
      pair.close();
    }
  }

  @BeforeEach
  void mark() {
    pair.mark();
  }

  @AfterEach
  void after() {
    if (sluice != null) {
      sluice.close();
    }
  }

  int start(String poolExtras) throws Exception {
    sluice = SluiceFixture.start("""
        health:
          deep:
            steps: [connect, banner, ehlo, mail_from, quit]
            mail_from: probe@internet.example
            interval: 30s
            timeout: 2s
        pools:
          hub:
        %s
            backends:
              - { name: a, address: "%s:%d" }
              - { name: b, address: "%s:%d" }
        listeners:
          mx:
            listen: 127.0.0.1:0
            mode: smtp
            pool: hub
            health: deep
            hostname: mx.sluice.test
            client_identity: xclient
        """.formatted(poolExtras, pair.a().address(), pair.a().port(), pair.b().address(), pair.b().port()));
    return sluice.address("mx").getPort();
  }

  static SwaksResult send(int port, String client, String sender) {
    return SmtpClients.swaks("127.0.0.1", port, sender, "user@example.test", client);
  }

  /**
   * Waits until postgrey's delay has passed since the first attempt ended (postgrey counts whole
   * seconds, so with a margin): a retry then passes where the triplet is known.
   */
  static void awaitRetryInterval(Instant firstAt) {
    Instant due = firstAt.plus(DELAY).plusMillis(1500);
    await().atMost(DELAY.plusSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> Instant.now().isAfter(due));
  }

  static boolean greylisted(SwaksResult r) {
    return r.serverReplies().stream().anyMatch(l -> l.startsWith("450 4.") && l.contains("Greylisted"));
  }

  @Test
  void aGreylistedSendersRetryMeetsTheBackendThatDeferredItAndPasses() throws Exception {
    int port = start("");

    SwaksResult first = send(port, "127.0.0.70", "news@internet.example");
    Instant firstAt = Instant.now(); // postgrey has seen the triplet by now
    assertThat(greylisted(first)).as(first.transcript()).isTrue();
    awaitRetryInterval(firstAt); // the sender's retry interval, shortened
    // The retry comes from another address of the client's /24, as large senders' retries do;
    // postgrey groups clients by /24 too.
    SwaksResult retry = send(port, "127.0.0.71", "news@internet.example");

    assertThat(retry.succeeded()).as(retry.transcript()).isTrue();
    pair.assertNothingLost(1);
    assertThat(pair.deliveredA() + pair.deliveredB()).isEqualTo(1);
    String deferring = pair.deliveredA() == 1 ? "a" : "b";
    PrometheusText m = sluice.metrics();
    assertThat(m.sum("sluice_deferral_affinity_total", "backend", deferring, "event", "recorded")).isEqualTo(1);
    assertThat(m.sum("sluice_deferral_affinity_total", "backend", deferring, "event", "followed")).isEqualTo(1);
    assertThat(m.sum("sluice_deferral_affinity_total")).as("nothing else").isEqualTo(2);
  }

  @Test
  void withoutAffinityTheRetryIsGreylistedAgainByTheOtherBackend() throws Exception {
    int port = start("    deferral_affinity: none");

    SwaksResult first = send(port, "127.0.0.80", "offers@internet.example");
    Instant firstAt = Instant.now(); // postgrey has seen the triplet by now
    assertThat(greylisted(first)).as(first.transcript()).isTrue();
    awaitRetryInterval(firstAt);
    SwaksResult retry = send(port, "127.0.0.80", "offers@internet.example");

    // Round robin sends the retry to the other Postfix, whose postgrey never saw the triplet:
    // the pitfall deferral affinity removes.
    assertThat(greylisted(retry)).as(retry.transcript()).isTrue();
    pair.assertNothingLost(0);
  }
}
