package dev.sluice.cli;

import dev.sluice.config.ConfigLoader;
import dev.sluice.config.ConfigValues;
import dev.sluice.config.SluiceConfig;
import dev.sluice.health.HealthState;
import dev.sluice.health.ProbeTarget;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.TrafficGenerator;
import dev.sluice.runtime.SluiceServer;
import dev.sluice.runtime.Transport;
import io.netty.channel.EventLoopGroup;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code sluice demo}: a self-contained run on one machine with no files. Three embedded SMTP
 * backends behind two listeners: {@code internet} (smtp mode, every message balanced on its own,
 * probed as an outside sender) fed by one "email security gateway" address over a few long
 * connections, and {@code relay} (tcp mode, probed as an inside sender) fed by twenty "internal
 * application" addresses. A third of the way in, one backend goes into back pressure ({@code 452
 * 4.3.1} to outside senders only, the seed's pitfall 4); two thirds in it recovers. The table shows
 * each backend's messages and its health under both profiles: drained from the internet listener,
 * still serving the relay, and no message deferred on the way. The dashboard runs on a free loopback
 * port, printed at start.
 */
@Command(name = "demo", description = "Run a self-contained demo: embedded backends, traffic, live table.",
    mixinStandardHelpOptions = true)
public final class DemoCommand implements Callable<Integer> {
  @Option(names = "--duration", converter = DurationConverter.class,
      description = "Stop after this long and print a final table (default: run until Ctrl-C).")
  Duration duration;

  @Option(names = "--port", defaultValue = "2525", description = "Listener port on 127.0.0.1 (default: ${DEFAULT-VALUE}; 0 = any free port).")
  int port;

  @Option(names = "--every", defaultValue = "5s", converter = DurationConverter.class,
      description = "How often to print the table (default: ${DEFAULT-VALUE}).")
  Duration every;

  @Override
  public Integer call() throws Exception {
    PrintStream out = System.out;
    Transport transport = Transport.best();
    EventLoopGroup group = transport.newGroup(1);
    List<EmbeddedSmtpServer> backends = new ArrayList<>();
    SluiceServer sluice = null;
    TrafficGenerator traffic = null;
    try {
      for (int i = 1; i <= 3; i++) {
        backends.add(new EmbeddedSmtpServer("server" + i, "corp.example")
            .start(new InetSocketAddress("127.0.0.1", 0), group, transport));
      }
      SluiceConfig config = ConfigLoader.parse(yaml(backends), "demo.yaml");
      sluice = new SluiceServer(config);
      try {
        sluice.start();
      } catch (SluiceServer.StartupException e) {
        System.err.println(e.getMessage() + "\n(try --port 0 for any free port)");
        return 2;
      }
      InetSocketAddress internet = sluice.listener("internet").boundAddress();
      InetSocketAddress relay = sluice.listener("relay").boundAddress();
      out.println("Sluice demo");
      out.println("  internet  " + endpoint(internet) + "  smtp mode: each message balanced on its own; health probed as an"
          + " outside sender");
      out.println("  relay     " + endpoint(relay) + "  tcp mode: health probed as an inside sender");
      out.println("  traffic   one gateway (127.0.0.50, 3 long connections) -> internet; 20 applications"
          + " (127.0.0.101-120) -> relay");
      out.println("  health    probed every " + ConfigValues.formatDuration(probeInterval(duration))
          + " as a sender would (EHLO, MAIL FROM); 2 probes to change state");
      out.println("Try it yourself:  swaks --server " + endpoint(internet) + " --to you@corp.example --from someone@internet.example");
      out.println("Dashboard:        http://" + endpoint(sluice.admin().boundAddress()) + "/   (metrics at /metrics, API at /api/state)");
      out.println();
      traffic = new TrafficGenerator(senders(internet, relay));
      traffic.start();
      run(out, sluice, backends, traffic);
      return 0;
    } finally {
      if (traffic != null) {
        traffic.close();
      }
      if (sluice != null) {
        sluice.shutdown(Duration.ofSeconds(2));
      }
      backends.forEach(EmbeddedSmtpServer::close);
      group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  private void run(PrintStream out, SluiceServer sluice, List<EmbeddedSmtpServer> backends, TrafficGenerator traffic)
      throws InterruptedException {
    long start = System.nanoTime();
    long total = duration == null ? Long.MAX_VALUE : duration.toNanos();
    // Without a duration the back-pressure episode runs from 20 s to 40 s.
    long pressureOn = duration == null ? Duration.ofSeconds(20).toNanos() : total / 3;
    long pressureOff = duration == null ? Duration.ofSeconds(40).toNanos() : 2 * total / 3;
    EmbeddedSmtpServer victim = backends.get(2);
    long nextTable = every.toNanos();
    while (true) {
      long now = System.nanoTime() - start;
      if (now >= total) {
        break;
      }
      if (now >= pressureOn && now < pressureOff && !victim.backPressure()) {
        victim.setBackPressure(true);
        out.println(">>> " + victim.name() + " enters back pressure: 452 4.3.1 to senders outside corp.example");
      } else if (now >= pressureOff && victim.backPressure()) {
        victim.setBackPressure(false);
        out.println(">>> " + victim.name() + " recovers");
      }
      if (now >= nextTable) {
        printTable(out, sluice, backends, traffic, now);
        nextTable += every.toNanos();
      }
      Thread.sleep(100);
    }
    printTable(out, sluice, backends, traffic, System.nanoTime() - start);
  }

  private static String endpoint(InetSocketAddress a) {
    return a.getHostString() + ":" + a.getPort();
  }

  private static void printTable(PrintStream out, SluiceServer sluice, List<EmbeddedSmtpServer> backends,
      TrafficGenerator traffic, long elapsedNanos) {
    long all = backends.stream().mapToLong(EmbeddedSmtpServer::messages).sum();
    out.printf("t=%3ds  %-8s %-16s %-9s %-9s %8s %6s  %s%n", elapsedNanos / 1_000_000_000L, "backend", "address",
        "external", "internal", "messages", "share", "refused (452)");
    for (EmbeddedSmtpServer b : backends) {
      double share = all == 0 ? 0 : 100.0 * b.messages() / all;
      out.printf("        %-8s %-16s %-9s %-9s %8d %5.1f%%  %d%n", b.name(), "127.0.0.1:" + b.port(),
          state(sluice, b, "external", "internet"), state(sluice, b, "internal", "relay"), b.messages(), share,
          b.refusedAtMailFrom());
    }
    out.printf("        clients saw: %d accepted, %d deferred (4xx), %d rejected (5xx), %d connection errors%n%n",
        traffic.accepted(), traffic.deferred(), traffic.rejected(), traffic.failed());
    out.flush();
  }

  /** The backend's state for a listener: its probe state, or EJECTED while live traffic ejected it. */
  private static String state(SluiceServer sluice, EmbeddedSmtpServer b, String profile, String listener) {
    ProbeTarget t = sluice.health().all().stream()
        .filter(x -> x.backend().name().equals(b.name()) && x.key().profile().equals(profile))
        .findFirst().orElse(null);
    if (t == null) {
      return HealthState.UNKNOWN.name();
    }
    return t.state() == HealthState.UP && sluice.passive(listener).ejected(t.backend()) ? "EJECTED" : t.state().name();
  }

  /**
   * Time between health probes: 2 s, or less for a short {@code --duration}, so that the back-pressure
   * episode in the middle third is seen and its end too before the final table. Seeing a change takes
   * up to three intervals (rise and fall are 2, plus the probe already under way), and a third of the
   * duration must hold that: a fifteenth of it, at least 300 ms.
   */
  static Duration probeInterval(Duration duration) {
    Duration normal = Duration.ofSeconds(2);
    if (duration == null) {
      return normal;
    }
    Duration fitted = Duration.ofMillis(Math.max(300, duration.toMillis() / 15));
    return fitted.compareTo(normal) < 0 ? fitted : normal;
  }

  private String yaml(List<EmbeddedSmtpServer> backends) {
    StringBuilder sb = new StringBuilder();
    // The admin endpoint on any free loopback port: the demo prints the dashboard's address.
    sb.append("admin:\n  listen: 127.0.0.1:0\n");
    long interval = probeInterval(duration).toMillis();
    String timing = "    interval: " + interval + "ms\n    timeout: " + interval * 3 / 4 + "ms\n    rise: 2\n    fall: 2\n";
    sb.append("health:\n  external:\n    steps: [connect, banner, ehlo, mail_from, quit]\n")
        .append("    mail_from: probe@internet.example\n").append(timing)
        .append("  internal:\n    steps: [connect, banner, ehlo, mail_from, quit]\n")
        .append("    mail_from: health@corp.example\n").append(timing);
    sb.append("pools:\n  hub:\n    algorithm: round_robin\n    backends:\n");
    for (EmbeddedSmtpServer b : backends) {
      sb.append("      - { name: ").append(b.name()).append(", address: 127.0.0.1:").append(b.port()).append(" }\n");
    }
    sb.append("listeners:\n  internet:\n    listen: 127.0.0.1:").append(port).append('\n')
        .append("    mode: smtp\n    balance: transaction\n    pool: hub\n    health: external\n    trust: external\n")
        .append("    hostname: mx.demo.invalid\n")
        // One source address per trust zone (SL001), as docs/security.md advises. The demo has no
        // certificate and its embedded servers take no XCLIENT: acknowledged, so the demo's start
        // shows what a clean layout logs.
        .append("    source_address: 127.0.0.21\n    acknowledge: [SL002, SL006]\n");
    sb.append("  relay:\n    listen: 127.0.0.1:").append(port == 0 ? 0 : port + 1).append('\n')
        .append("    mode: tcp\n    pool: hub\n    health: internal\n    trust: internal\n    allow: [127.0.0.0/8]\n")
        .append("    source_address: 127.0.0.22\n");
    return sb.toString();
  }

  /** One gateway address with long connections to the internet listener; twenty applications to the relay. */
  private static List<TrafficGenerator.Sender> senders(InetSocketAddress internet, InetSocketAddress relay)
      throws java.net.UnknownHostException {
    List<TrafficGenerator.Sender> s = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      s.add(new TrafficGenerator.Sender("gateway" + i, internet, InetAddress.getByName("127.0.0.50"), "news@internet.example",
          50, 20));
    }
    for (int i = 101; i <= 120; i++) {
      s.add(new TrafficGenerator.Sender("app" + i, relay, InetAddress.getByName("127.0.0." + i), "app" + i + "@corp.example",
          1, 1));
    }
    return s;
  }
}
