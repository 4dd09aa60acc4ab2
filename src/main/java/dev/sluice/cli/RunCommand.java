package dev.sluice.cli;

import dev.sluice.config.ConfigException;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.SluiceConfig;
import dev.sluice.runtime.SluiceServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import sun.misc.Signal;

/**
 * {@code sluice run -c FILE}: runs the balancer until SIGTERM or SIGINT, then stops accepting, lets
 * sessions finish within the grace period and exits 0. SIGHUP reloads the file (see {@link
 * SluiceServer#reload()}); a bad file is reported and the running configuration stays. Exit 2 for a bad config or a listener that
 * cannot be opened.
 */
@Command(name = "run", description = "Run the balancer.", mixinStandardHelpOptions = true)
public final class RunCommand implements Callable<Integer> {
  @Option(names = {"-c", "--config"}, required = true, description = "Configuration file (sluice.yaml).")
  Path config;

  @Option(
      names = "--grace",
      defaultValue = "30s",
      converter = DurationConverter.class,
      description = "How long sessions in flight may take to finish at shutdown (default: ${DEFAULT-VALUE}).")
  Duration grace;

  @Override
  public Integer call() throws Exception {
    SluiceConfig cfg;
    try {
      cfg = ConfigLoader.load(config);
    } catch (ConfigException e) {
      System.err.print(e.describe());
      return 2;
    }
    SluiceServer server = new SluiceServer(cfg);
    try {
      server.start();
    } catch (SluiceServer.StartupException e) {
      System.err.println(e.getMessage());
      server.close();
      return 2;
    }
    System.out.print(server.describeState());
    System.out.flush();
    CountDownLatch stop = new CountDownLatch(1);
    // Our own handlers instead of shutdown hooks: a SIGTERM is an ordinary, successful end of
    // service for a balancer (exit 0 after draining), not a crash (the JVM's default is 143).
    Signal.handle(new Signal("TERM"), s -> stop.countDown());
    Signal.handle(new Signal("INT"), s -> stop.countDown());
    // SIGHUP: reload. Off the signal thread, so a slow reload never delays the next signal.
    java.util.concurrent.ExecutorService reloader = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "sluice-reload");
      t.setDaemon(true);
      return t;
    });
    Signal.handle(new Signal("HUP"), s -> reloader.execute(() -> {
      SluiceServer.ReloadResult r = server.reload();
      if (r.ok()) {
        System.out.println("reloaded " + config + (r.changes().isEmpty() ? "" : ": " + String.join("; ", r.changes())));
      } else {
        System.err.println("reload refused, still running the previous configuration:\n" + r.message());
      }
    }));
    stop.await();
    System.out.println("stopping: no new sessions; waiting up to " + grace.toSeconds() + "s for sessions in flight");
    server.shutdown(grace);
    System.out.println("stopped");
    return 0;
  }
}
