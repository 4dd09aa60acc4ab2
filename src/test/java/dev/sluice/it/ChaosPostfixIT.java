package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.LabSmtpClient;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.PostfixPair;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SmtplibResult;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Nothing lost, nothing duplicated, while a backend keeps going away (stopped, killed with SIGKILL,
 * frozen with SIGSTOP) under concurrent clients through Sluice over two real Postfix instances.
 * Every acceptance a client saw must be a message Postfix delivered, exactly once.
 */
@Tag("integration")
class ChaosPostfixIT {
  static final int CLIENTS = 20;
  static final int MESSAGES = 50;
  /** Fresh per run: sessions cut mid-DATA leave partial queue files behind. */
  PostfixPair pair;

  /** What the clients of one run were told. */
  record Outcome(int accepted, int total) {}

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

  /** Sluice over the pair with quick health and ejection, so chaos is seen fast. */
  SluiceFixture sluice(String mode, String listenerExtras) throws Exception {
    return SluiceFixture.start("""
        health: { deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@internet.example,
                          interval: 1s, timeout: 900ms, rise: 1, fall: 1 } }
        pools:
          hub:
            passive: { consecutive_failures: 1, eject_for: 1s, max_eject_for: 2s }
            backends: [ "%s:%d", "%s:%d" ]
        listeners:
          mx: { listen: "127.0.0.1:0", mode: %s, pool: hub, health: deep%s }
        """.formatted(pair.a().address(), pair.a().port(), pair.b().address(), pair.b().port(), mode, listenerExtras));
  }

  @ParameterizedTest
  @ValueSource(strings = {"smtp", "tcp"})
  void restartingBackendLosesAndDuplicatesNothing(String mode) throws Exception {
    try (SluiceFixture sluice = sluice(mode, mode.equals("smtp") ? ", hostname: mx.chaos.test" : "")) {
      Outcome o = underChaos(smtplibClients(sluice, CLIENTS, MESSAGES, 150), () -> {
        pair.b().stop();
        pause(Duration.ofMillis(1200));
        pair.b().start();
        pause(Duration.ofMillis(1500));
      });
      assertThat(o.total()).isEqualTo(CLIENTS * MESSAGES);
      assertEveryAcceptanceDeliveredOnce(o);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"smtp", "tcp"})
  void backendKilledMidDataLosesNothing(String mode) throws Exception {
    try (SluiceFixture sluice = sluice(mode, mode.equals("smtp") ? ", hostname: mx.chaos.test" : "")) {
      Outcome o = underChaos(bigMessageClients(sluice.address("mx")), () -> {
        pause(Duration.ofMillis(700));
        pair.b().kill();
        pause(Duration.ofMillis(700));
        pair.b().start();
      });
      assertEveryAcceptanceDeliveredOnce(o);
    }
  }

  /**
   * smtp mode times the frozen backend out per step and answers 451; tcp mode cannot tell a slow
   * server from a frozen one once bytes flow, so its clients wait (or time out themselves) while
   * new sessions go to the other backend as soon as the probe sees the freeze.
   */
  @ParameterizedTest
  @ValueSource(strings = {"smtp", "tcp"})
  void frozenBackendTimesOutAndLosesNothing(String mode) throws Exception {
    try (SluiceFixture sluice = sluice(mode, mode.equals("smtp")
        ? ", hostname: mx.chaos.test, timeouts: { connect: 2s, banner: 2s, command: 3s, end_of_data: 5s }"
        : ", timeouts: { connect: 2s, banner: 2s }")) {
      Outcome o = underChaos(smtplibClients(sluice, 10, 30, 180), () -> {
        pair.b().freeze();
        pause(Duration.ofMillis(4000));
        pair.b().thaw();
        pause(Duration.ofMillis(1500));
      });
      assertEveryAcceptanceDeliveredOnce(o);
    } finally {
      pair.b().thaw();
    }
  }

  /** Runs {@code disturb} over and over until the clients are done; returns what they saw. */
  private static Outcome underChaos(CompletableFuture<Outcome> clients, Runnable disturb) throws Exception {
    int rounds = 0;
    while (!clients.isDone()) {
      disturb.run();
      rounds++;
    }
    assertThat(rounds).as("the backend went away during the run").isPositive();
    return clients.get();
  }

  /** {@code clients} smtplib senders, {@code messages} each, 5 per connection, from 127.0.0.{firstSource}+. */
  private static CompletableFuture<Outcome> smtplibClients(SluiceFixture sluice, int clients, int messages,
      int firstSource) {
    int port = sluice.address("mx").getPort();
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    List<CompletableFuture<SmtplibResult>> runs = new ArrayList<>();
    for (int i = 0; i < clients; i++) {
      String source = "127.0.0." + (firstSource + i);
      runs.add(CompletableFuture.supplyAsync(() -> SmtpClients.smtplib("127.0.0.1", port, source, messages, 5,
          "app@internet.example", "user@example.test"), pool));
    }
    return CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).thenApply(v -> {
      pool.shutdown();
      int accepted = 0;
      int total = 0;
      for (CompletableFuture<SmtplibResult> r : runs) {
        SmtplibResult res = r.join();
        assertThat(res.rejected()).as(res.output()).isZero();
        accepted += res.accepted();
        total += res.total();
      }
      return new Outcome(accepted, total);
    });
  }

  /** 8 Java clients sending 50 kB messages (much of the time inside DATA, where kills land). */
  private static CompletableFuture<Outcome> bigMessageClients(InetSocketAddress at) {
    AtomicInteger accepted = new AtomicInteger();
    AtomicInteger total = new AtomicInteger();
    String filler = ("x".repeat(998) + "\n").repeat(50);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<CompletableFuture<Void>> runs = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      int client = t;
      runs.add(CompletableFuture.runAsync(() -> {
        for (int conn = 0; conn < 6; conn++) {
          try (LabSmtpClient c = LabSmtpClient.connect(at, InetAddress.getByName("127.0.0." + (200 + client)),
              Duration.ofSeconds(30))) {
            c.command("EHLO chaos.test");
            for (int m = 0; m < 5; m++) {
              String id = "<kill-" + client + "-" + conn + "-" + m + "@chaos.test>";
              total.incrementAndGet();
              if (c.send("app@internet.example", "user@example.test",
                  "Message-ID: " + id + "\nSubject: kill\n\n" + filler).isPositive()) {
                accepted.incrementAndGet();
              }
            }
          } catch (IOException e) {
            // the client saw no 2xx for the message in flight: the sender keeps it
          }
        }
      }, pool));
    }
    return CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).thenApply(v -> {
      pool.shutdown();
      return new Outcome(accepted.get(), total.get());
    });
  }

  /**
   * Every acceptance is delivered. A backend that died between queueing a message and sending its
   * 250 delivers a message its client saw fail (SMTP's own lost-reply window, which no proxy can
   * close), so deliveries may exceed acceptances, but only by messages whose clients got no 2xx.
   * No message accepted twice; at least 90% accepted (the rest got 4xx and would retry).
   *
   * <p>Deliveries are counted per backend queue entry, not per Maildir file: Postfix stopped after
   * {@code virtual(8)} wrote the file but before the queue manager removed the queue file delivers
   * that entry again after its restart (at-least-once delivery, Postfix's own contract). Such
   * copies carry the queue ID of the one SMTP acceptance they came from; a Message-ID under two
   * queue IDs would be a second acceptance, which is what Sluice must never cause.
   */
  private void assertEveryAcceptanceDeliveredOnce(Outcome o) {
    // A backend killed while delivering may have deferred messages; Postfix would retry them after
    // minutes of backoff, so ask it to retry now.
    try {
      await("every acceptance delivered").atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofSeconds(2))
          .until(() -> {
            pair.a().flush();
            pair.b().flush();
            return acceptances().size() >= o.accepted();
          });
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      throw new AssertionError("delivered " + acceptances().size() + " of " + o.accepted() + " acceptances; queued: a "
          + pair.a().queuedCount() + ", b " + pair.b().queuedCount() + "; maillog lines that are not deliveries:\n"
          + String.join("\n", notDelivered(pair.a().maillog())) + "\n" + String.join("\n", notDelivered(pair.b().maillog())), e);
    }
    assertThat(settledAcceptances()).as("every acceptance delivered; extras only from lost replies")
        .isBetween(o.accepted(), o.total());
    assertThat(o.accepted()).as("accepted of %d", o.total()).isGreaterThanOrEqualTo(o.total() * 9 / 10);
    assertNoMessageAcceptedTwice();
  }

  /** The last maillog lines about deferrals, bounces and failures: what kept a message back. */
  private static List<String> notDelivered(List<String> maillog) {
    List<String> out = maillog.stream()
        .filter(l -> l.contains("status=deferred") || l.contains("status=bounced") || l.contains("warning")
            || l.contains("fatal") || l.contains("panic"))
        .toList();
    return out.subList(Math.max(0, out.size() - 20), out.size());
  }

  /**
   * Waits until deliveries stop changing: sessions cut mid-DATA leave partial queue files that never
   * complete, so "queue empty" is not the end condition here.
   */
  private int settledAcceptances() {
    AtomicInteger last = new AtomicInteger(-1);
    await().pollInterval(Duration.ofMillis(500)).during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(60))
        .until(() -> last.getAndSet(acceptances().size()) == acceptances().size());
    return acceptances().size();
  }

  private static final Pattern MESSAGE_ID = Pattern.compile("(?im)^Message-ID:\\s*(<[^>]+>)");
  /** The queue ID in the Received header Postfix's smtpd adds (the first one in the message). */
  private static final Pattern QUEUE_ID = Pattern.compile("(?ms)^Received: .*?\\(Postfix\\) with \\S+ id (\\w+)");

  /** Message-ID → the distinct backend acceptances ("backend/queue ID") it was delivered from. */
  private Map<String, Set<String>> acceptancesByMessageId() {
    Map<String, Set<String>> out = new TreeMap<>();
    for (PostfixInstance backend : List.of(pair.a(), pair.b())) {
      for (String m : backend.deliveredMessageContents()) {
        Matcher id = MESSAGE_ID.matcher(m);
        Matcher queue = QUEUE_ID.matcher(m);
        assertThat(id.find() && queue.find()).as("Message-ID and Postfix queue ID in%n%s", m).isTrue();
        out.computeIfAbsent(id.group(1), k -> new TreeSet<>()).add(backend.address() + ":" + backend.port() + "/" + queue.group(1));
      }
    }
    return out;
  }

  /** Every distinct backend acceptance that was delivered. */
  private Set<String> acceptances() {
    Set<String> all = new HashSet<>();
    acceptancesByMessageId().values().forEach(all::addAll);
    return all;
  }

  private void assertNoMessageAcceptedTwice() {
    Map<String, Set<String>> twice = new TreeMap<>(acceptancesByMessageId());
    twice.values().removeIf(accepted -> accepted.size() < 2);
    assertThat(twice).as("Message-IDs accepted by a backend more than once").isEmpty();
  }

  /** Lets time pass for the chaos schedule (not a wait for a condition). */
  private static void pause(Duration d) {
    await().pollDelay(d).atMost(d.plusSeconds(1)).until(() -> true);
  }
}
