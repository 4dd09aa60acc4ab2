package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.testing.PostfixPair;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SmtplibResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Nothing lost, nothing duplicated, while a backend keeps going away: 20 concurrent clients × 50
 * messages (5 per connection) through Sluice over two real Postfix instances, one of which is
 * stopped and started again every couple of seconds. Every acceptance a client saw must be a message
 * Postfix delivered, exactly once.
 */
@Tag("integration")
class ChaosPostfixIT {
  static final int CLIENTS = 20;
  static final int MESSAGES = 50;
  /** Fresh per run: sessions cut mid-DATA leave partial queue files behind. */
  PostfixPair pair;

  @BeforeEach
  void start() {
    pair = PostfixPair.start("chaos", b -> b);
    pair.mark();
  }

  @AfterEach
  void stop() {
    if (pair != null) {
      pair.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"smtp", "tcp"})
  void restartingBackendLosesAndDuplicatesNothing(String mode) throws Exception {
    String hostname = mode.equals("smtp") ? ", hostname: mx.chaos.test" : "";
    try (SluiceFixture sluice = SluiceFixture.start("""
        health: { deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@internet.example,
                          interval: 1s, timeout: 900ms, rise: 1, fall: 1 } }
        pools:
          hub:
            passive: { consecutive_failures: 1, eject_for: 1s, max_eject_for: 2s }
            backends: [ "%s:%d", "%s:%d" ]
        listeners:
          mx: { listen: "127.0.0.1:0", mode: %s, pool: hub, health: deep%s }
        """.formatted(pair.a().address(), pair.a().port(), pair.b().address(), pair.b().port(), mode, hostname))) {
      int port = sluice.address("mx").getPort();
      ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
      List<CompletableFuture<SmtplibResult>> runs = new ArrayList<>();
      for (int i = 0; i < CLIENTS; i++) {
        String source = "127.0.0." + (150 + i);
        runs.add(CompletableFuture.supplyAsync(() -> SmtpClients.smtplib("127.0.0.1", port, source, MESSAGES, 5,
            "app@internet.example", "user@example.test"), pool));
      }
      CompletableFuture<Void> all = CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new));
      int restarts = 0;
      while (!all.isDone()) {
        pair.b().stop();
        pause(Duration.ofMillis(1200));
        pair.b().start();
        restarts++;
        pause(Duration.ofMillis(1500));
      }
      pool.shutdown();
      int accepted = 0;
      int total = 0;
      for (CompletableFuture<SmtplibResult> r : runs) {
        SmtplibResult res = r.get();
        assertThat(res.rejected()).as(res.output()).isZero();
        accepted += res.accepted();
        total += res.total();
      }
      assertThat(total).isEqualTo(CLIENTS * MESSAGES);
      assertThat(restarts).as("the backend went away during the run").isPositive();
      int acceptedTotal = accepted;
      // Nothing lost: every acceptance a client saw is delivered.
      await().atMost(Duration.ofSeconds(60)).until(() -> pair.deliveredA() + pair.deliveredB() >= acceptedTotal);
      // A Postfix stopped between queueing a message and sending its 250 delivers a message its client
      // saw fail: SMTP's own lost-reply window, which no proxy can close. So deliveries may exceed
      // acceptances, but only by messages whose clients got no 2xx. (Sessions cut mid-DATA leave
      // partial queue files that never complete, so "queue empty" is not the end condition here.)
      AtomicInteger last = new AtomicInteger(-1);
      await().pollInterval(Duration.ofMillis(500)).during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(60))
          .until(() -> last.getAndSet(pair.deliveredA() + pair.deliveredB()) == pair.deliveredA() + pair.deliveredB());
      assertThat(pair.deliveredA() + pair.deliveredB()).isBetween(accepted, accepted + (total - accepted));
      assertThat(accepted).as("accepted of %d (the rest got 4xx and would retry)", total)
          .isGreaterThanOrEqualTo(CLIENTS * MESSAGES * 9 / 10);
      assertNoDuplicateMessageIds();
    }
  }

  @org.junit.jupiter.api.Test
  void backendKilledMidDataLosesNothing() throws Exception {
    try (SluiceFixture sluice = SluiceFixture.start("""
        health: { deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@internet.example,
                          interval: 1s, timeout: 900ms, rise: 1, fall: 1 } }
        pools:
          hub:
            passive: { consecutive_failures: 1, eject_for: 1s, max_eject_for: 2s }
            backends: [ "%s:%d", "%s:%d" ]
        listeners:
          mx: { listen: "127.0.0.1:0", mode: smtp, pool: hub, health: deep, hostname: mx.chaos.test }
        """.formatted(pair.a().address(), pair.a().port(), pair.b().address(), pair.b().port()))) {
      java.net.InetSocketAddress at = sluice.address("mx");
      AtomicInteger accepted = new AtomicInteger();
      AtomicInteger total = new AtomicInteger();
      // 50 kB bodies keep much of the time inside DATA, where the kills land.
      String filler = ("x".repeat(998) + "\n").repeat(50);
      ExecutorService pool = Executors.newFixedThreadPool(8);
      List<CompletableFuture<Void>> runs = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int client = t;
        runs.add(CompletableFuture.runAsync(() -> {
          for (int conn = 0; conn < 6; conn++) {
            try (dev.sluice.lab.LabSmtpClient c = dev.sluice.lab.LabSmtpClient.connect(at,
                java.net.InetAddress.getByName("127.0.0." + (200 + client)), Duration.ofSeconds(30))) {
              c.command("EHLO chaos.test");
              for (int m = 0; m < 5; m++) {
                String id = "<kill-" + client + "-" + conn + "-" + m + "@chaos.test>";
                total.incrementAndGet();
                if (c.send("app@internet.example", "user@example.test",
                    "Message-ID: " + id + "\nSubject: kill\n\n" + filler).isPositive()) {
                  accepted.incrementAndGet();
                }
              }
            } catch (java.io.IOException e) {
              // the client saw no 2xx for the message in flight: the sender keeps it
            }
          }
        }, pool));
      }
      CompletableFuture<Void> all = CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new));
      int kills = 0;
      while (!all.isDone()) {
        pause(Duration.ofMillis(700));
        pair.b().kill();
        kills++;
        pause(Duration.ofMillis(700));
        pair.b().start();
      }
      pool.shutdown();
      assertThat(kills).isPositive();
      int acceptedTotal = accepted.get();
      await().atMost(Duration.ofSeconds(60)).until(() -> pair.deliveredA() + pair.deliveredB() >= acceptedTotal);
      assertThat(settledDeliveries()).as("every acceptance delivered; extras only from lost replies")
          .isBetween(acceptedTotal, total.get());
      assertThat(acceptedTotal).as("accepted of %d", total.get()).isGreaterThanOrEqualTo(total.get() * 9 / 10);
      assertNoDuplicateMessageIds();
    }
  }

  /** Waits until deliveries stop changing (partial queue files from killed sessions never complete). */
  private int settledDeliveries() {
    AtomicInteger last = new AtomicInteger(-1);
    await().pollInterval(Duration.ofMillis(500)).during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(60))
        .until(() -> last.getAndSet(pair.deliveredA() + pair.deliveredB()) == pair.deliveredA() + pair.deliveredB());
    return pair.deliveredA() + pair.deliveredB();
  }

  @org.junit.jupiter.api.Test
  void frozenBackendTimesOutAndLosesNothing() throws Exception {
    try (SluiceFixture sluice = SluiceFixture.start("""
        health: { deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@internet.example,
                          interval: 1s, timeout: 900ms, rise: 1, fall: 1 } }
        pools:
          hub:
            passive: { consecutive_failures: 1, eject_for: 1s, max_eject_for: 2s }
            backends: [ "%s:%d", "%s:%d" ]
        listeners:
          mx: { listen: "127.0.0.1:0", mode: smtp, pool: hub, health: deep, hostname: mx.chaos.test,
                timeouts: { connect: 2s, banner: 2s, command: 3s, end_of_data: 5s } }
        """.formatted(pair.a().address(), pair.a().port(), pair.b().address(), pair.b().port()))) {
      int port = sluice.address("mx").getPort();
      ExecutorService pool = Executors.newFixedThreadPool(10);
      List<CompletableFuture<SmtplibResult>> runs = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        String source = "127.0.0." + (180 + i);
        runs.add(CompletableFuture.supplyAsync(() -> SmtpClients.smtplib("127.0.0.1", port, source, 30, 5,
            "app@internet.example", "user@example.test"), pool));
      }
      CompletableFuture<Void> all = CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new));
      int freezes = 0;
      while (!all.isDone()) {
        pair.b().freeze();
        pause(Duration.ofMillis(4000));
        pair.b().thaw();
        freezes++;
        pause(Duration.ofMillis(1500));
      }
      pool.shutdown();
      int accepted = 0;
      int total = 0;
      for (CompletableFuture<SmtplibResult> r : runs) {
        SmtplibResult res = r.get();
        assertThat(res.rejected()).as(res.output()).isZero();
        accepted += res.accepted();
        total += res.total();
      }
      assertThat(freezes).isPositive();
      int acceptedTotal = accepted;
      await().atMost(Duration.ofSeconds(60)).until(() -> pair.deliveredA() + pair.deliveredB() >= acceptedTotal);
      AtomicInteger last = new AtomicInteger(-1);
      await().pollInterval(Duration.ofMillis(500)).during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(60))
          .until(() -> last.getAndSet(pair.deliveredA() + pair.deliveredB()) == pair.deliveredA() + pair.deliveredB());
      assertThat(pair.deliveredA() + pair.deliveredB()).isBetween(accepted, total);
      assertThat(accepted).as("accepted of %d", total).isGreaterThanOrEqualTo(total * 9 / 10);
      assertNoDuplicateMessageIds();
    } finally {
      pair.b().thaw();
    }
  }

  private void assertNoDuplicateMessageIds() {
    Pattern id = Pattern.compile("(?im)^Message-ID:\\s*(<[^>]+>)");
    Set<String> seen = new HashSet<>();
    List<String> duplicates = new ArrayList<>();
    List<String> all = new ArrayList<>(pair.a().deliveredMessageContents());
    all.addAll(pair.b().deliveredMessageContents());
    for (String m : all) {
      Matcher matcher = id.matcher(m);
      if (matcher.find() && !seen.add(matcher.group(1))) {
        duplicates.add(matcher.group(1));
      }
    }
    assertThat(duplicates).as("Message-IDs delivered twice").isEmpty();
  }

  /** Lets time pass for the chaos schedule (not a wait for a condition). */
  private static void pause(Duration d) {
    await().pollDelay(d).atMost(d.plusSeconds(1)).until(() -> true);
  }
}
