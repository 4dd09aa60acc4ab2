package dev.sluice.testing;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * A real peer daemon a test starts in the foreground (dnsmasq, postgrey): its output goes to
 * {@code out} in its own directory, and a start waits until the daemon is ready, failing with that
 * output when it exits first. Closing it stops the daemon.
 */
final class PeerDaemon implements AutoCloseable {
  private final Process process;

  private PeerDaemon(Process process) {
    this.process = process;
  }

  /** Where Debian's {@code debPackage} installs {@code name}, or an explanation of how to get it. */
  static String binary(String name, String debPackage) {
    for (String dir : List.of("/usr/sbin/", "/usr/bin/")) {
      if (Files.isExecutable(Path.of(dir + name))) {
        return dir + name;
      }
    }
    throw new IllegalStateException(name + " not found: apt-get install -y " + debPackage + " (./test installs it)");
  }

  /** Runs {@code command} with its output in {@code dir}/out and waits until {@code ready} says so. */
  static PeerDaemon start(List<String> command, Path dir, Duration atMost, Callable<Boolean> ready) throws IOException {
    Path out = dir.resolve("out");
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
    PeerDaemon d = new PeerDaemon(p);
    await().atMost(atMost).until(() -> {
      if (!p.isAlive()) {
        throw new IllegalStateException(Path.of(command.get(0)).getFileName() + " exited: " + Files.readString(out));
      }
      return ready.call();
    });
    return d;
  }

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
