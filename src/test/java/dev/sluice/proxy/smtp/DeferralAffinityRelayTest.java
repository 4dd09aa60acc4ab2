package dev.sluice.proxy.smtp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Backend;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.SluiceFixture;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A pool's deferral affinity over loopback: two greylisting backends, each with its own memory, as
 * real ones have. A sender's retry must meet the backend that deferred it.
 */
class DeferralAffinityRelayTest {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  static final String SENDER = "news@internet.example";
  final LoopbackLab lab = new LoopbackLab();
  final List<String> events = new CopyOnWriteArrayList<>();
  EmbeddedSmtpServer a;
  EmbeddedSmtpServer b;

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  SluiceFixture sluice(String poolExtras) throws Exception {
    a = lab.backend("a", "corp.example").greylist();
    b = lab.backend("b", "corp.example").greylist();
    String yaml = "health:\n  deep:\n    steps: [connect, banner, ehlo, mail_from, quit]\n"
        + "    mail_from: probe@internet.example\n    interval: 60s\n    timeout: 5s\n"
        + "pools:\n  p:\n" + poolExtras + "    backends:\n"
        + "      - { name: a, address: 127.0.0.1:" + a.port() + " }\n"
        + "      - { name: b, address: 127.0.0.1:" + b.port() + " }\n"
        + "listeners:\n  l:\n    listen: 127.0.0.1:0\n    mode: smtp\n    pool: p\n    health: deep\n    hostname: mx.test\n";
    SessionObserver recorder = new SessionObserver() {
      @Override
      public void info(SessionInfo s, String text) {
        if (text.startsWith("deferral affinity")) {
          events.add(text);
        }
      }
    };
    SluiceFixture f = SluiceFixture.start(yaml, recorder);
    lab.add(f);
    return f;
  }

  /** One attempt of the sender's message on a new connection from {@code client}. */
  static SmtpReply attempt(SluiceFixture f, InetAddress client, String recipient) throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client, TIMEOUT)) {
      c.command("EHLO gateway.internet.example");
      return c.send(SENDER, recipient, "Subject: greylisted\n\nbody\n");
    }
  }

  @Test
  void theRetryOfAGreylistedMessageGoesBackToTheBackendThatDeferredIt() throws Exception {
    SluiceFixture f = sluice("");

    SmtpReply first = attempt(f, client(60), "user@corp.example");
    assertThat(first.code()).isEqualTo(450);
    assertThat(first.text()).startsWith("4.2.0").contains("Greylisted");
    EmbeddedSmtpServer deferring = a.greylisted() == 1 ? a : b;
    EmbeddedSmtpServer other = deferring == a ? b : a;

    // The retry comes from another address of the same /24, as large senders' retries do.
    SmtpReply retry = attempt(f, client(61), "user@corp.example");

    assertThat(retry.code()).as(retry.toString()).isEqualTo(250);
    assertThat(deferring.messages()).isEqualTo(1);
    assertThat(other.greylisted()).as("the other backend never saw the sender").isZero();
    assertThat(other.messages()).isZero();
    assertThat(events).containsExactly(
        "deferral affinity: " + deferring.name() + " deferred <" + SENDER + ">; its retries from this network go back there",
        "deferral affinity: " + deferring.name() + " deferred <" + SENDER + "> 0s ago; this transaction goes there");
  }

  @Test
  void otherSendersAreStillBalancedAsUsual() throws Exception {
    SluiceFixture f = sluice("");
    attempt(f, client(62), "user@corp.example"); // deferred: the sender is remembered

    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(62), TIMEOUT)) {
      c.command("EHLO gateway.internet.example");
      for (int i = 0; i < 4; i++) {
        // Each of these senders is greylisted once wherever it lands; what counts is where.
        c.send("other" + i + "@internet.example", "user@corp.example", "Subject: x\n\nbody\n");
      }
    }

    assertThat(a.greylisted() + b.greylisted()).isEqualTo(5);
    assertThat(a.greylisted()).as("round robin over both backends").isBetween(2L, 3L);
  }

  @Test
  void withoutAffinityTheRetryMeetsTheOtherBackendAndIsGreylistedAgain() throws Exception {
    SluiceFixture f = sluice("    deferral_affinity: none\n");

    assertThat(attempt(f, client(63), "user@corp.example").code()).isEqualTo(450);
    SmtpReply retry = attempt(f, client(63), "user@corp.example");

    assertThat(retry.code()).isEqualTo(450); // what deferral affinity is for
    assertThat(a.greylisted()).isEqualTo(1);
    assertThat(b.greylisted()).isEqualTo(1);
    assertThat(events).isEmpty();
  }

  @Test
  void aBackendThatCannotTakeTheRetryLetsItBeBalancedAfresh() throws Exception {
    SluiceFixture f = sluice("");
    assertThat(attempt(f, client(64), "user@corp.example").code()).isEqualTo(450);
    EmbeddedSmtpServer deferring = a.greylisted() == 1 ? a : b;
    Backend deferringBackend = f.server().pools().get("p").backends().stream()
        .filter(x -> x.name().equals(deferring.name())).findFirst().orElseThrow();
    deferringBackend.setWeight(0); // drained for maintenance, say

    SmtpReply retry = attempt(f, client(64), "user@corp.example");

    assertThat(retry.code()).as("greylisted again by the other backend").isEqualTo(450);
    assertThat(deferring.greylisted()).isEqualTo(1);
    EmbeddedSmtpServer other = deferring == a ? b : a;
    assertThat(events).hasSize(3);
    assertThat(events.get(1))
        .startsWith("deferral affinity: " + deferring.name() + " deferred <" + SENDER + ">")
        .endsWith("but cannot take this transaction now; balanced afresh");
    assertThat(events.get(2)).as("and now the other one remembers the sender")
        .isEqualTo("deferral affinity: " + other.name() + " deferred <" + SENDER + ">; its retries from this network go back there");
  }
}
