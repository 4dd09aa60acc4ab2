package dev.sluice.lab;

import dev.sluice.config.Cidr;
import dev.sluice.config.ConfigException;
import dev.sluice.config.ConfigLoader;
import dev.sluice.health.HealthState;
import dev.sluice.health.ProbeResult;
import dev.sluice.health.ProbeTarget;
import dev.sluice.runtime.SluiceServer;
import dev.sluice.runtime.Transport;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Runs lab scenarios in this process: for every run, fresh embedded SMTP servers on loopback, a
 * Sluice started from the run's YAML, the scripted traffic through it, and the counts on both
 * sides (what each server accepted, what the senders were told). Runs share nothing but the
 * servers' event loops, so one run cannot leak state into the next.
 *
 * <p>Back pressure is switched by message count, not by time: after a third of the messages the
 * last server refuses outside senders, after two thirds it recovers, and each time the run waits
 * until the internet listener's probe has looked at that server twice (the second probe started
 * after the switch). The outcome therefore depends on the configuration, not on machine speed.
 */
public final class Lab {
  private static final Duration HEALTH_WAIT = Duration.ofSeconds(10);

  private final int messages;

  /** @param messages messages per run; at least 30, so that every third of a run carries traffic */
  public Lab(int messages) {
    if (messages < 30) {
      throw new IllegalArgumentException("messages must be at least 30, got " + messages);
    }
    this.messages = messages;
  }

  public int messages() {
    return messages;
  }

  /** Relay attempts an outside host makes per run of the open-relay scenario. */
  int relayAttempts() {
    return Math.max(5, messages / 30);
  }

  /** Runs every run of {@code scenario} in order. */
  public ScenarioResult run(Scenario scenario) throws Exception {
    Transport transport = Transport.best();
    EventLoopGroup group = transport.newGroup(1);
    try {
      List<RunResult> results = new ArrayList<>();
      for (LabRun run : scenario.runs()) {
        results.add(run(scenario, run, group, transport));
      }
      return new ScenarioResult(scenario, results);
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  private RunResult run(Scenario scenario, LabRun run, EventLoopGroup group, Transport transport) throws Exception {
    List<EmbeddedSmtpServer> servers = new ArrayList<>();
    SluiceServer sluice = null;
    try {
      for (int i = 1; i <= scenario.servers(); i++) {
        EmbeddedSmtpServer s = new EmbeddedSmtpServer("server" + i, "corp.example");
        if (scenario.episode() == Scenario.Episode.RELAY_ATTEMPTS) {
          // The seed's "Internal Relay" connector: only the relay listener's address may relay.
          s.relayControl(List.of(Cidr.parse(Scenario.TRUSTED_SOURCE + "/32")), List.of("corp.example"));
        }
        servers.add(s.start(new InetSocketAddress("127.0.0.1", 0), group, transport));
      }
      sluice = start(run, servers);
      ScriptedTraffic traffic = new ScriptedTraffic(sluice.listener("internet").boundAddress(),
          sluice.listener("relay").boundAddress());
      EmbeddedSmtpServer victim = servers.get(servers.size() - 1);
      SluiceServer running = sluice;
      ScriptedTraffic.Outcome client = traffic.send(messages, sent -> {
        if (scenario.episode() == Scenario.Episode.BACK_PRESSURE && (sent == messages / 3 || sent == 2 * messages / 3)) {
          victim.setBackPressure(sent == messages / 3);
          awaitTwoProbes(running, victim.name());
        }
      });
      int attempts = scenario.episode() == Scenario.Episode.RELAY_ATTEMPTS ? relayAttempts() : 0;
      int relayed = traffic.relayAttempts(attempts);
      Map<String, Long> perServer = new LinkedHashMap<>();
      servers.forEach(s -> perServer.put(s.name(), s.messages()));
      return new RunResult(run.name(), run.config().summary(scenario.servers()), perServer, client, attempts, relayed);
    } finally {
      if (sluice != null) {
        sluice.shutdown(Duration.ofSeconds(1));
      }
      servers.forEach(EmbeddedSmtpServer::close);
    }
  }

  private static SluiceServer start(LabRun run, List<EmbeddedSmtpServer> servers)
      throws ConfigException, SluiceServer.StartupException, InterruptedException {
    String yaml = run.config().yaml(servers.stream().map(EmbeddedSmtpServer::address).toList());
    SluiceServer sluice = new SluiceServer(ConfigLoader.parse(yaml, "lab-" + run.name() + ".yaml"));
    sluice.start();
    awaitAllUp(sluice);
    return sluice;
  }

  /**
   * Waits until every backend is UP under every profile: the first probe of a cold JVM can time
   * out, and traffic sent then would measure the lab's start-up rather than the configuration.
   */
  private static void awaitAllUp(SluiceServer sluice) {
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
