package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.PostfixPair;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SmtplibResult;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * tcp mode in front of two real Postfix instances, with real clients (Python smtplib, swaks).
 * Every test counts both sides: what the clients were told was accepted, and what Postfix delivered.
 */
@Tag("integration")
class TcpModePostfixIT {
  static PostfixPair pair;
  static PostfixInstance pfA;
  static PostfixInstance pfB;
  SluiceFixture sluice;

  @BeforeAll
  static void startPostfix() {
    pair = PostfixPair.start("tcp", b -> b);
    pfA = pair.a();
    pfB = pair.b();
  }

  @AfterAll
  static void stopPostfix() {
    if (pair != null) {
      pair.close();
    }
  }

  @BeforeEach
  void counts() {
    pair.mark();
  }

  @AfterEach
  void stopSluice() {
    if (sluice != null) {
      sluice.close();
    }
  }

  SluiceFixture start(String pool, int weightA, int weightB) throws Exception {
    sluice = SluiceFixture.start("""
        health:
          deep:
            steps: [connect, banner, ehlo, mail_from, quit]
            mail_from: probe@internet.example
            interval: 1s
            timeout: 900ms
            rise: 1
            fall: 1
        pools:
          hub:
        %s
            backends:
              - { name: a, address: "%s:%d", weight: %d }
              - { name: b, address: "%s:%d", weight: %d }
        listeners:
          relay:
            listen: 127.0.0.1:0
            mode: tcp
            pool: hub
            health: deep
        """.formatted(pool, pfA.address(), pfA.port(), weightA, pfB.address(), pfB.port(), weightB));
    return sluice;
  }

  int port() {
    return sluice.address("relay").getPort();
  }

  int deliveredA() {
    return pair.deliveredA();
  }

  int deliveredB() {
    return pair.deliveredB();
  }

  void assertNothingLost(int accepted) {
    pair.assertNothingLost(accepted);
  }

  @Test
  void roundRobinOneToOneSplitsHundredConnectionsEvenly() throws Exception {
    start("    algorithm: round_robin", 1, 1);
    SmtplibResult r = SmtpClients.smtplib("127.0.0.1", port(), "127.0.0.31", 100, 1, "app@internet.example", "user@example.test");
    assertThat(r.accepted()).as(r.output()).isEqualTo(100);
    assertNothingLost(100);
    assertThat(deliveredA()).isBetween(44, 56);
    assertThat(deliveredB()).isBetween(44, 56);
  }

  @Test
  void weightsThreeToOneGiveSeventyFiveTwentyFive() throws Exception {
    start("    algorithm: round_robin", 3, 1);
    SmtplibResult r = SmtpClients.smtplib("127.0.0.1", port(), "127.0.0.32", 100, 1, "app@internet.example", "user@example.test");
    assertThat(r.accepted()).as(r.output()).isEqualTo(100);
    assertNothingLost(100);
    assertThat(deliveredA()).isBetween(67, 83);
    assertThat(deliveredB()).isBetween(17, 33);
  }

  @Test
  void sourceIpPersistenceKeepsOneClientOnOneBackendWithSwaksAndSmtplib() throws Exception {
    start("    persistence: { mode: source_ip, ttl: 30m }", 1, 1);
    for (int i = 0; i < 5; i++) {
      SmtpClients.SwaksResult s = SmtpClients.swaks("127.0.0.1", port(), "gw@internet.example", "user@example.test", "127.0.0.77");
      assertThat(s.succeeded()).as(s.transcript()).isTrue();
    }
    SmtplibResult r = SmtpClients.smtplib("127.0.0.1", port(), "127.0.0.77", 20, 1, "gw@internet.example", "user@example.test");
    assertThat(r.accepted()).as(r.output()).isEqualTo(20);
    assertNothingLost(25);
    assertThat(List.of(deliveredA(), deliveredB())).containsExactlyInAnyOrder(25, 0);
  }

  @Test
  void backendStoppedMidRunFailsOverAndNoMessageIsLost() throws Exception {
    start("    algorithm: round_robin", 1, 1);
    CompletableFuture<SmtplibResult> run = CompletableFuture.supplyAsync(() ->
        SmtpClients.smtplib("127.0.0.1", port(), "127.0.0.33", 300, 1, "app@internet.example", "user@example.test"));
    await().atMost(Duration.ofSeconds(30)).until(() -> deliveredB() >= 20);
    pfB.stop();
    SmtplibResult r = run.get();
    // Sessions that reached b before it stopped may have been cut; every other one was accepted
    // (sessions sent to b after it stopped found its port closed and went to a).
    assertThat(r.accepted() + r.deferred() + r.errors()).isEqualTo(300);
    assertThat(r.rejected()).isZero();
    pfB.start(); // deliver what b had queued before it stopped
    pair.assertEveryAcceptanceDelivered(r);
    assertThat(r.accepted()).isGreaterThanOrEqualTo(295);
  }

  @Test
  void probesAndClientsAlwaysEndTheirSessionsWithQuit() throws Exception {
    start("    algorithm: round_robin", 1, 1);
    SmtplibResult r = SmtpClients.smtplib("127.0.0.1", port(), "127.0.0.34", 10, 2, "app@internet.example", "user@example.test");
    assertThat(r.accepted()).isEqualTo(10);
    // Let a few probe rounds run.
    await().atMost(Duration.ofSeconds(10)).until(() -> pfA.maillog().stream().filter(l -> l.contains("rset=1 quit=1")).count() >= 3);
    for (PostfixInstance pf : List.of(pfA, pfB)) {
      List<String> disconnects = pf.maillog().stream().filter(l -> l.contains(" disconnect from ")).collect(Collectors.toList());
      assertThat(disconnects).isNotEmpty().allSatisfy(l -> assertThat(l).contains("quit=1"));
      assertThat(pf.maillog()).noneMatch(l -> l.contains("lost connection"));
    }
  }
}
