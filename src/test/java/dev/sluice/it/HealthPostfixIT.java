package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.balance.Backend;
import dev.sluice.cli.Main;
import dev.sluice.health.HealthState;
import dev.sluice.health.ProbeKey;
import dev.sluice.health.ProbeTarget;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.PostfixPair;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SmtplibResult;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Health as a sender sees it, against real Postfix: back pressure that refuses outside senders at
 * MAIL FROM (sender restriction, {@code smtpd_delay_reject = no}) drains a server from the internet
 * listener only, while the internal relay listener keeps using it; the server returns after {@code
 * rise} clean probes; and no message is lost on the way.
 *
 * <p>Each listener has its own {@code source_address}, so Postfix's log and the Received headers of
 * delivered messages tell which listener a session or message came from.
 */
@Tag("integration")
class HealthPostfixIT {
  static final String INTERNET_SOURCE = "127.0.0.21";
  static final String RELAY_SOURCE = "127.0.0.22";
  static final String PROBE_SENDER = "probe@internet.example";
  static final String INTERNET_SENDER = "news@internet.example";
  static final String RELAY_SENDER = "app@corp.example";
  static final Duration INTERVAL = Duration.ofSeconds(1);
  /** Jitter (±10%) and the probe's own time on top of whole intervals. */
  static final Duration MARGIN = Duration.ofMillis(1500);

  static PostfixPair pair;
  static PostfixInstance pfA;
  static PostfixInstance pfB;
  SluiceFixture sluice;

  @BeforeAll
  static void startPostfix() {
    pair = PostfixPair.start("health", b -> b);
    pfA = pair.a();
    pfB = pair.b();
  }

  @AfterAll
  static void stopPostfix() {
    if (pair != null) {
      pair.close();
    }
  }

  @AfterEach
  void stopSluice() {
    if (sluice != null) {
      sluice.close();
    }
    if (pfA.backPressure()) {
      pfA.setBackPressure(false);
    }
  }

  void start() throws Exception {
    sluice = SluiceFixture.start("""
        health:
          external:
            steps: [connect, banner, ehlo, mail_from, quit]
            helo: probe-external.sluice.test
            mail_from: %s
            interval: 1s
            timeout: 900ms
            rise: 2
            fall: 2
          internal:
            steps: [connect, banner, ehlo, mail_from, quit]
            helo: probe-internal.sluice.test
            mail_from: health@corp.example
            interval: 1s
            timeout: 900ms
            rise: 2
            fall: 2
        pools:
          hub:
            algorithm: round_robin
            passive: { consecutive_failures: 3, eject_for: 1s, max_eject_for: 2s }
            backends:
              - { name: a, address: "%s:%d" }
              - { name: b, address: "%s:%d" }
        listeners:
          internet:
            listen: 127.0.0.1:0
            mode: smtp
            hostname: mx.sluice.test
            pool: hub
            health: external
            source_address: %s
          relay:
            listen: 127.0.0.1:0
            mode: tcp
            pool: hub
            health: internal
            source_address: %s
        """.formatted(PROBE_SENDER, pfA.address(), pfA.port(), pfB.address(), pfB.port(), INTERNET_SOURCE, RELAY_SOURCE));
  }

  ProbeTarget target(String profile, String source, String backend) throws Exception {
    Backend b = sluice.server().pools().get("hub").backends().stream().filter(x -> x.name().equals(backend)).findFirst()
        .orElseThrow();
    return sluice.server().health().target(new ProbeKey(profile, InetAddress.getByName(source)), b);
  }

  /** Messages A delivered that came through the listener with {@code source} as its source address. */
  static long deliveredVia(PostfixInstance pf, String source) {
    return pf.deliveredMessageContents().stream().filter(m -> m.contains("[" + source + "]")).count();
  }

  static List<String> maillogSince(PostfixInstance pf, int fromLine) {
    List<String> all = pf.maillog();
    return all.subList(Math.min(fromLine, all.size()), all.size());
  }

  static long count(List<String> lines, String... parts) {
    return lines.stream().filter(l -> List.of(parts).stream().allMatch(l::contains)).count();
  }

  @Test
  void backPressureDrainsTheInternetListenerOnlyAndNothingIsLost() throws Exception {
    pfA.awaitQueueEmpty();
    pfB.awaitQueueEmpty();
    int baseTotal = pfA.deliveredCount() + pfB.deliveredCount();
    start();
    ProbeTarget externalA = target("external", INTERNET_SOURCE, "a");
    ProbeTarget internalA = target("internal", RELAY_SOURCE, "a");
    assertThat(externalA.state()).isEqualTo(HealthState.UP);
    assertThat(internalA.state()).isEqualTo(HealthState.UP);
    int internet = sluice.address("internet").getPort();
    int relay = sluice.address("relay").getPort();

    // The internet clients send several messages per connection (smtp mode balances each one);
    // the relay clients one per connection, since tcp mode picks a backend per connection.
    Traffic internetTraffic = new Traffic(internet, "127.0.0.41", INTERNET_SENDER, 6);
    Traffic relayTraffic = new Traffic(relay, "127.0.0.42", RELAY_SENDER, 1);
    try {
      // Before: both listeners use A.
      await("both listeners deliver to A").atMost(Duration.ofSeconds(30))
          .until(() -> deliveredVia(pfA, INTERNET_SOURCE) >= 3 && deliveredVia(pfA, RELAY_SOURCE) >= 3);

      pfA.setBackPressure(true);
      await("A DEGRADED under external within 2 probe intervals").atMost(INTERVAL.multipliedBy(2).plus(MARGIN))
          .pollInterval(Duration.ofMillis(20))
          .until(() -> externalA.state() == HealthState.DEGRADED);
      assertThat(internalA.state()).as("the internal sender is still accepted").isEqualTo(HealthState.UP);
      assertThat(externalA.lastResult().transcript()).anySatisfy(l -> assertThat(l).startsWith("S: 452 4.3.1 "));

      // From here on the internet listener must not open a single session to A.
      int logMark = pfA.maillog().size();
      long internetAtMark = deliveredVia(pfA, INTERNET_SOURCE);
      long relayAtMark = deliveredVia(pfA, RELAY_SOURCE);
      int internetAcceptedAtMark = internetTraffic.accepted();
      // The window also lasts until a probe has been refused in it: on a fast machine the traffic
      // alone can pass in less than one probe interval, leaving nothing to check the probes by.
      await("relay traffic still reaches A, internet traffic flows to B").atMost(Duration.ofSeconds(30))
          .until(() -> deliveredVia(pfA, RELAY_SOURCE) >= relayAtMark + 5
              && internetTraffic.accepted() >= internetAcceptedAtMark + 30
              && count(maillogSince(pfA, logMark), "reject: MAIL from unknown[" + INTERNET_SOURCE + "]") > 0);
      assertThat(internalA.state()).isEqualTo(HealthState.UP);
      assertThat(externalA.state()).isEqualTo(HealthState.DEGRADED);
      List<String> during = maillogSince(pfA, logMark);
      assertThat(deliveredVia(pfA, INTERNET_SOURCE)).as("internet messages delivered by A while degraded")
          .isEqualTo(internetAtMark);
      assertThat(count(during, "from=<" + INTERNET_SENDER + ">")).as("internet transactions tried on A while degraded")
          .isZero();
      // Every session from the internet listener's address is a probe, refused at its MAIL FROM
      // (give or take the one probe that may straddle each end of the window).
      long connects = count(during, " connect from unknown[" + INTERNET_SOURCE + "]");
      long probeRefusals = count(during, "reject: MAIL from unknown[" + INTERNET_SOURCE + "]", "from=<" + PROBE_SENDER + ">",
          "helo=<probe-external.sluice.test>");
      assertThat(probeRefusals).as(String.join("\n", during)).isPositive();
      assertThat(connects).as(String.join("\n", during)).isBetween(probeRefusals - 1, probeRefusals + 1);

      // Back pressure off: A returns to the internet listener after `rise` clean probes.
      int offMark = pfA.maillog().size();
      pfA.setBackPressure(false);
      await("A UP under external after rise clean probes").atMost(INTERVAL.multipliedBy(2).plus(MARGIN))
          .pollInterval(Duration.ofMillis(20))
          .until(() -> externalA.state() == HealthState.UP);
      await("the UP verdict followed two clean probes in A's log").atMost(Duration.ofSeconds(5))
          .until(() -> count(maillogSince(pfA, offMark), "disconnect from unknown[" + INTERNET_SOURCE + "]",
              "ehlo=1 mail=1 rset=1 quit=1") >= 2);
      long internetAfterRecovery = deliveredVia(pfA, INTERNET_SOURCE);
      await("internet traffic reaches A again").atMost(Duration.ofSeconds(30))
          .until(() -> deliveredVia(pfA, INTERNET_SOURCE) >= internetAfterRecovery + 3);
    } finally {
      internetTraffic.stop();
      relayTraffic.stop();
    }
    SmtplibResult internetTotal = internetTraffic.total();
    SmtplibResult relayTotal = relayTraffic.total();
    // smtp mode retried every refused transaction on B: the clients never saw the 452.
    assertThat(internetTotal.deferred() + internetTotal.rejected() + internetTotal.errors()).as(internetTotal.output()).isZero();
    assertThat(relayTotal.deferred() + relayTotal.rejected() + relayTotal.errors()).as(relayTotal.output()).isZero();
    int accepted = internetTotal.accepted() + relayTotal.accepted();
    await().atMost(Duration.ofSeconds(60)).until(() -> pfA.deliveredCount() + pfB.deliveredCount() - baseTotal >= accepted);
    pfA.awaitQueueEmpty();
    pfB.awaitQueueEmpty();
    assertThat(pfA.deliveredCount() + pfB.deliveredCount() - baseTotal).as("delivered == accepted").isEqualTo(accepted);

    // Probes and traffic leave from the listeners' source addresses, and every session ends with QUIT.
    for (PostfixInstance pf : List.of(pfA, pfB)) {
      List<String> log = pf.maillog();
      assertThat(count(log, "disconnect from unknown[" + INTERNET_SOURCE + "]")).isPositive();
      assertThat(count(log, "disconnect from unknown[" + RELAY_SOURCE + "]")).isPositive();
      assertThat(pf.deliveredMessageContents()).allSatisfy(m -> assertThat(m).containsAnyOf("[" + INTERNET_SOURCE + "]",
          "[" + RELAY_SOURCE + "]"));
      assertThat(log).noneMatch(l -> l.contains("lost connection"));
    }
  }

  /** Runs {@code sluice probe backend ARGS…} in-process; returns the exit status and what it printed. */
  static CommandRun probeBackend(String... args) {
    PrintStream original = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int status;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      List<String> all = new ArrayList<>(List.of("probe", "backend"));
      all.addAll(List.of(args));
      status = Main.execute(all.toArray(String[]::new));
    } finally {
      System.setOut(original);
    }
    return new CommandRun(status, buf.toString(StandardCharsets.UTF_8));
  }

  record CommandRun(int status, String out) {}

  @Test
  void probeBackendShowsThe452AndDegradedForAnOutsideSenderOnly() {
    pfA.setBackPressure(true);
    String target = pfA.address() + ":" + pfA.port();

    CommandRun outside = probeBackend(target, "--mail-from", "someone@internet.example");
    assertThat(outside.status()).as(outside.out()).isEqualTo(1);
    assertThat(outside.out())
        .contains("C: MAIL FROM:<someone@internet.example>")
        .contains("S: 452 4.3.1 <someone@internet.example>: Sender address rejected: Insufficient system resources")
        .contains("DEGRADED: back pressure at MAIL FROM: 452 4.3.1");

    CommandRun inside = probeBackend(target, "--mail-from", "x@corp.example");
    assertThat(inside.status()).as(inside.out()).isZero();
    assertThat(inside.out()).contains("S: 250 2.1.0 Ok").contains("UP: all steps answered");

    // Both probes ended politely, as every probe must.
    List<String> log = pfA.maillog();
    assertThat(count(log, "disconnect from", "ehlo=1 mail=0/1 rset=1 quit=1")).isPositive();
    assertThat(log).noneMatch(l -> l.contains("lost connection"));
  }

  /** Sends batches of messages with smtplib from one client address until stopped, adding up the outcomes. */
  static final class Traffic {
    private final CompletableFuture<SmtplibResult> run;
    private volatile boolean stop;
    private volatile int accepted;

    Traffic(int port, String clientAddress, String sender, int perConnection) {
      run = CompletableFuture.supplyAsync(() -> {
        int acc = 0;
        int def = 0;
        int rej = 0;
        int err = 0;
        StringBuilder out = new StringBuilder();
        while (!stop) {
          SmtplibResult r = SmtpClients.smtplib("127.0.0.1", port, clientAddress, 6, perConnection, sender, "user@example.test");
          acc += r.accepted();
          def += r.deferred();
          rej += r.rejected();
          err += r.errors();
          if (r.accepted() != r.total()) {
            out.append(r.output());
          }
          accepted = acc;
        }
        return new SmtplibResult(acc, def, rej, err, List.of(), 0, false, out.toString());
      }, task -> {
        // Its own thread: two generators run for the whole test, and the common pool may have a
        // single worker on two CPUs (Java 25 then ran the second only after the first stopped).
        Thread t = new Thread(task, "traffic-" + clientAddress);
        t.setDaemon(true);
        t.start();
      });
    }

    int accepted() {
      return accepted;
    }

    /** Asks the generator to stop after its current batch. */
    void stop() {
      stop = true;
    }

    /** Waits for the last batch; the totals (codes are not kept), with the output of imperfect batches. */
    SmtplibResult total() throws Exception {
      return run.get(3, TimeUnit.MINUTES);
    }
  }
}
