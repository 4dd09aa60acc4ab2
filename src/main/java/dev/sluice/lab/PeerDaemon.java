package dev.sluice.lab;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * A real peer daemon started in the foreground (postgrey behind the lab's Postfix, dnsmasq in
 * tests): its output goes to {@code out} in its own directory, and a start waits until the daemon
 * is ready, failing with that output when it exits first. Closing it stops the daemon.
 */
public final class PeerDaemon implements AutoCloseable {
  private final Process process;

  private PeerDaemon(Process process) {
    this.process = process;
  }

  /** Where Debian's {@code debPackage} installs {@code name}, or an explanation of how to get it. */
  public static String binary(String name, String debPackage) {
    for (String dir : List.of("/usr/sbin/", "/usr/bin/")) {
      if (Files.isExecutable(Path.of(dir + name))) {
        return dir + name;
      }
    }
    throw new IllegalStateException(name + " not found: apt-get install -y " + debPackage + " (./test installs it)");
  }

  /**
   * Runs {@code command} with its output in {@code dir}/out and waits until {@code ready} says so.
   *
   * @throws IllegalStateException with the daemon's output when it exits or is not ready within
   *     {@code atMost} (it is stopped then)
   */
  public static PeerDaemon start(List<String> command, Path dir, Duration atMost, Callable<Boolean> ready)
      throws IOException {
    Path out = dir.resolve("out");
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
    PeerDaemon d = new PeerDaemon(p);
    String name = Path.of(command.get(0)).getFileName().toString();
    long deadline = System.nanoTime() + atMost.toNanos();
    try {
      while (!ready.call()) {
        if (!p.isAlive()) {
          throw new IllegalStateException(name + " exited: " + Files.readString(out));
        }
        if (System.nanoTime() - deadline > 0) {
          throw new IllegalStateException(name + " not ready within " + atMost.toMillis() + " ms: " + Files.readString(out));
        }
        Thread.sleep(50);
      }
      return d;
    } catch (Exception e) {
      d.close();
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      throw e instanceof RuntimeException re ? re : new IllegalStateException("starting " + name + ": " + e, e);
    }
  }

  /** Stops the daemon (SIGTERM) and waits for it to exit. Idempotent. */
  @Override
  public void close() {
    process.destroy();
    try {
      process.waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
