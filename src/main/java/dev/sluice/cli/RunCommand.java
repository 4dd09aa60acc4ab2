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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * {@code sluice run -c FILE}: runs the balancer until SIGTERM or SIGINT, then stops accepting, lets
 * sessions finish within the grace period and exits 0. SIGHUP reloads the file (see {@link
 * SluiceServer#reload()}); a bad file is reported and the running configuration stays. Exit 2 for a bad config or a listener that
 * cannot be opened.
 */
@Command(name = "run", description = "Run the balancer.", mixinStandardHelpOptions = true)
public final class RunCommand implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(RunCommand.class);

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
    SluiceServer server = new SluiceServer(cfg).auditRoutes(new KernelRoutes());
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
    // (The server logs the outcome of each reload, with the changes or the error.)
    SignalHandler before = Signal.handle(new Signal("HUP"), s -> reloader.execute(server::reload));
    if (before == SignalHandler.SIG_IGN) {
      // Started with SIGHUP ignored (nohup): the JVM keeps it ignored, so say so rather than
      // leaving an operator's kill -HUP without effect and without a word.
      log.warn("SIGHUP is ignored in this process (started under nohup?): kill -HUP will not reload; use"
          + " POST /api/reload, or start Sluice without nohup (e.g. under systemd)");
    }
    stop.await();
    log.info("stopping: no new sessions; waiting up to {}s for sessions in flight", grace.toSeconds());
    server.shutdown(grace);
    log.info("stopped");
    return 0;
  }
}
