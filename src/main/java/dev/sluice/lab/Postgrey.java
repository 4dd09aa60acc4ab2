package dev.sluice.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

/**
 * The postgrey (Debian's postgrey package) of one {@link PostfixInstance} that greylists: the
 * policy server many Postfix sites run, on a loopback TCP port with its own database in the
 * instance's directory, asked at every {@code RCPT TO} ({@link #restriction()}). It defers a (client
 * /24, sender, recipient) triplet seen for the first time with {@code 450 4.2.0 … Greylisted} and lets
 * it pass when it comes back after the delay.
 *
 * <p>Automatic whitelisting of clients is off: behind a balancer every session comes from the
 * balancer's address, which postgrey would otherwise whitelist after a few passes, ending
 * greylisting for everyone. The port is chosen once, so a restart ({@link #forget()}) needs no change
 * to Postfix's configuration. Lifecycle calls come from the owning instance's synchronized methods.
 */
final class Postgrey {
  private final Path dir;
  private final Duration delay;
  private final int port;
  private PeerDaemon daemon;

  /**
   * @param dir the database directory (created on {@link #start()})
   * @param delay how long a new triplet is deferred; whole seconds, at least one
   */
  Postgrey(Path dir, Duration delay, int port) {
    this.dir = dir;
    this.delay = delay;
    this.port = port;
  }

  /** The Postfix restriction that asks this postgrey. */
  String restriction() {
    return "check_policy_service inet:127.0.0.1:" + port;
  }

  /** Starts postgrey, unless it runs, and waits until it listens. */
  void start() {
    if (daemon != null) {
      return;
    }
    try {
      Files.createDirectories(dir);
      // Started as root, postgrey switches to its own user, which must be able to write the database.
      UserPrincipalLookupService users = dir.getFileSystem().getUserPrincipalLookupService();
      try {
        Files.setOwner(dir, users.lookupPrincipalByName("postgrey"));
      } catch (IOException e) {
        // Not root, or no postgrey user: postgrey then runs as the current user, which owns dir.
      }
      List<String> cmd = List.of(PeerDaemon.binary("postgrey", "postgrey"), "--inet=127.0.0.1:" + port,
          "--dbdir=" + dir, "--delay=" + delay.toSeconds(), "--auto-whitelist-clients=0",
          "--pidfile=" + dir.resolve("pid"));
      daemon = PeerDaemon.start(cmd, dir, Duration.ofSeconds(30), () -> PostfixInstance.portOpen("127.0.0.1", port, 300));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start postgrey in " + dir, e);
    }
  }

  /** Stops postgrey, if it runs. */
  void stop() {
    if (daemon != null) {
      daemon.close();
      daemon = null;
    }
  }

  /**
   * Restarts postgrey with an empty database, on the same port: every triplet is new again. smtpd
   * reconnects to a policy server that went away and asks again, so no reload is needed.
   */
  void forget() {
    boolean running = daemon != null;
    stop();
    if (!Files.isDirectory(dir)) {
      return; // never started: nothing to forget
    }
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        Files.delete(f);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot empty postgrey's database in " + dir, e);
    }
    if (running) {
      start();
    }
  }
}
