package dev.sluice.lab;

import dev.sluice.config.ConfigException;
import dev.sluice.config.ConfigLoader;
import dev.sluice.health.HealthState;
import dev.sluice.health.ProbeResult;
import dev.sluice.health.ProbeTarget;
import dev.sluice.runtime.SluiceServer;
import dev.sluice.runtime.Transport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs lab scenarios in this process: for every scenario, its backends on loopback (embedded SMTP
 * servers or real Postfix, see {@link LabBackends}); for every run, a fresh Sluice started from the
 * run's YAML, the backends {@link LabBackend#reset() reset}, the scripted traffic through Sluice, and
 * the counts on both sides (what each server accepted, what the senders were told). Runs share the
 * backends' processes but no counts and no Sluice state, so one run cannot leak into the next.
 *
 * <p>The greylisting scenario sends {@link GreylistTraffic} instead of the seed's traffic: every
 * message retried until accepted, in queue runs the backends' {@link LabBackends#greylistDelay()
 * greylisting delay} apart.
 *
 * <p>Back pressure is switched by message count, not by time: after a third of the messages the
 * last server refuses outside senders, after two thirds it recovers, and each time the run waits
 * until the internet listener's probe has looked at that server twice (the second probe started
 * after the switch). The outcome therefore depends on the configuration, not on machine speed.
 */
public final class Lab {
  private static final Logger log = LoggerFactory.getLogger(Lab.class);
  private static final Duration HEALTH_WAIT = Duration.ofSeconds(10);

  private final int messages;
  private final LabBackends backends;

  /** Against embedded backends, which the lab owns; see {@link #Lab(int, LabBackends)}. */
  public Lab(int messages) {
    this(messages, null);
  }

  /**
   * @param messages messages per run; at least 30, so that every third of a run carries traffic
   * @param backends where the servers come from; the caller closes it (null: embedded, owned by each
   *     {@link #run})
   */
  public Lab(int messages, LabBackends backends) {
    if (messages < 30) {
      throw new IllegalArgumentException("messages must be at least 30, got " + messages);
    }
    this.messages = messages;
    this.backends = backends;
  }

  public int messages() {
    return messages;
  }

  /** Relay attempts an outside host makes per run of the open-relay scenario. */
  int relayAttempts() {
    return Math.max(5, messages / 30);
  }

  /** Runs every run of {@code scenario} in order, against one set of backends. */
  public ScenarioResult run(Scenario scenario) throws Exception {
    LabBackends source = backends != null ? backends : LabBackends.embedded();
    List<LabBackend> servers = List.of();
    try {
      // Open relay: the seed's "Internal Relay" connector, only the relay listener's address may relay.
      servers = source.start(scenario.servers(),
          scenario.episode() == Scenario.Episode.RELAY_ATTEMPTS ? Scenario.TRUSTED_SOURCE : null,
          scenario.episode() == Scenario.Episode.GREYLISTING);
      List<RunResult> results = new ArrayList<>();
      for (LabRun run : scenario.runs()) {
        String unavailable = run.config().internetTransparent() ? Transport.best().transparentUnavailable() : null;
        if (unavailable != null) {
          // Not run rather than failed: the other runs still show the scenario.
          log.warn("{} {}: skipped, transparent mode is not available here: {}", scenario.id(), run.name(), unavailable);
          continue;
        }
        results.add(run(scenario, run, servers, source));
      }
      return new ScenarioResult(scenario, results, source.description());
    } finally {
      closeAll(servers);
      if (source != backends) {
        source.close();
      }
    }
  }

  private RunResult run(Scenario scenario, LabRun run, List<LabBackend> servers, LabBackends source)
      throws Exception {
    long t0 = System.nanoTime();
    servers.forEach(LabBackend::reset);
    long t1 = System.nanoTime();
    SluiceServer sluice = start(run, servers, source.probeTimeout());
    long t2 = System.nanoTime();
    try {
      ScriptedTraffic.Outcome client;
      GreylistTraffic.Retries retries = null;
      int attempts = 0;
      int relayed = 0;
      if (scenario.episode() == Scenario.Episode.GREYLISTING) {
        GreylistTraffic.Outcome o = new GreylistTraffic(sluice.listener("internet").boundAddress(),
            source.greylistDelay()).send(messages);
        client = o.client();
        retries = o.retries();
      } else {
        ScriptedTraffic traffic = new ScriptedTraffic(sluice.listener("internet").boundAddress(),
            sluice.listener("relay").boundAddress());
        LabBackend victim = servers.get(servers.size() - 1);
        client = traffic.send(messages, sent -> {
          if (scenario.episode() == Scenario.Episode.BACK_PRESSURE && (sent == messages / 3 || sent == 2 * messages / 3)) {
            victim.setBackPressure(sent == messages / 3);
            awaitTwoProbes(sluice, victim.name());
          }
        });
        attempts = scenario.episode() == Scenario.Episode.RELAY_ATTEMPTS ? relayAttempts() : 0;
        relayed = traffic.relayAttempts(attempts);
      }
      long t3 = System.nanoTime();
      Map<String, Long> perServer = new LinkedHashMap<>();
      for (LabBackend s : servers) {
        s.settle();
        perServer.put(s.name(), s.messages());
      }
      log.debug("{} {}: reset {} ms, Sluice up {} ms, traffic {} ms, settle {} ms", scenario.id(), run.name(),
          ms(t1 - t0), ms(t2 - t1), ms(t3 - t2), ms(System.nanoTime() - t3));
      return new RunResult(run.name(), run.config().summary(scenario.servers()), perServer, client, attempts, relayed,
          retries);
    } finally {
      sluice.shutdown(Duration.ofSeconds(1));
    }
  }

  private static SluiceServer start(LabRun run, List<LabBackend> servers, Duration probeTimeout)
      throws ConfigException, SluiceServer.StartupException, InterruptedException {
    String yaml = run.config().yaml(servers.stream().map(LabBackend::address).toList(), probeTimeout);
    SluiceServer sluice = new SluiceServer(ConfigLoader.parse(yaml, "lab-" + run.name() + ".yaml")).auditAtRun(false);
    sluice.start();
    try {
      awaitAllUp(sluice);
    } catch (RuntimeException e) {
      sluice.shutdown(Duration.ofSeconds(1));
      throw e;
    }
    return sluice;
  }

  /**
   * Waits until every backend is UP under every profile: the first probe of a cold JVM can time
   * out, and traffic sent then would measure the lab's start-up rather than the configuration.
   */
  private static void awaitAllUp(SluiceServer sluice) {
    // Also the first probes of a Postfix that forks an smtpd per probe on a loaded machine.
    await(() -> sluice.health().all().stream().allMatch(t -> t.state() == HealthState.UP), "every backend UP");
  }

  /**
   * Waits until the internet listener's probe of {@code backend} has finished two more probes. Probes
   * of one backend never overlap, so the second one started after the caller's change and its
   * verdict (rise and fall are 1) is the health the rest of the run is balanced on.
   */
  private static void awaitTwoProbes(SluiceServer sluice, String backend) {
    ProbeTarget target = sluice.health().all().stream()
        .filter(t -> t.backend().name().equals(backend) && t.key().profile().equals("external"))
        .findFirst().orElseThrow();
    ProbeResult[] seen = {target.lastResult()};
    int[] fresh = {0};
    await(() -> {
      ProbeResult last = target.lastResult();
      if (last != seen[0]) {
        seen[0] = last;
        fresh[0]++;
      }
      return fresh[0] >= 2;
    }, "two probes of " + backend);
  }

  /** Closes the backends in parallel: stopping a Postfix takes a second or two, mostly waiting. */
  private static void closeAll(List<LabBackend> servers) {
    List<Thread> closing = new ArrayList<>();
    for (LabBackend s : servers) {
      Thread t = new Thread(() -> {
        try {
          s.close();
        } catch (RuntimeException e) {
          log.warn("could not stop {}: {}", s.name(), e.getMessage());
        }
      }, "lab-close-" + s.name());
      t.start();
      closing.add(t);
    }
    for (Thread t : closing) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return; // the shutdown hook stops what is still running
      }
    }
  }

  private static long ms(long nanos) {
    return nanos / 1_000_000;
  }

  /** Polls {@code condition} until it holds; a volatile health field offers nothing to wait on. */
  private static void await(BooleanSupplier condition, String what) {
    long deadline = System.nanoTime() + HEALTH_WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("lab: no " + what + " within " + HEALTH_WAIT.toSeconds() + " s");
      }
      try {
        Thread.sleep(5); // far below the probe interval, so no probe result is missed
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for " + what, e);
      }
    }
  }
}
