package dev.sluice.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.List;

/**
 * A throwaway postgrey (Debian's postgrey package), the greylisting policy server many Postfix
 * sites run, on a loopback TCP port with its own database: a Postfix backend asks it with {@code
 * check_policy_service inet:127.0.0.1:PORT}. It defers a (client /24, sender, recipient) triplet
 * seen for the first time and lets it pass when it comes back after {@code delay}.
 */
public final class Postgrey implements AutoCloseable {
  private final int port;
  private PeerDaemon daemon;

  private Postgrey(int port) {
    this.port = port;
  }

  /** Starts postgrey with a greylisting delay of {@code delay} and waits until it listens. */
  public static Postgrey start(Duration delay) throws IOException {
    int port = Loopback.freePort();
    Path dir = Files.createTempDirectory("postgrey");
    // Run as root, postgrey switches to its own user, which must be able to write the database.
    UserPrincipalLookupService users = dir.getFileSystem().getUserPrincipalLookupService();
    try {
      Files.setOwner(dir, users.lookupPrincipalByName("postgrey"));
    } catch (IOException e) {
      // Not root, or no postgrey user: postgrey then runs as the current user, which owns dir.
    }
    List<String> cmd = List.of(PeerDaemon.binary("postgrey", "postgrey"), "--inet=127.0.0.1:" + port,
        "--dbdir=" + dir, "--delay=" + delay.toSeconds(), "--pidfile=" + dir.resolve("pid"));
    Postgrey g = new Postgrey(port);
    g.daemon = PeerDaemon.start(cmd, dir, Duration.ofSeconds(30), g::listens);
    return g;
  }

  private boolean listens() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 300);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** The Postfix restriction that asks this postgrey. */
  public String restriction() {
    return "check_policy_service inet:127.0.0.1:" + port;
  }

  @Override
  public void close() {
    daemon.close();
  }
}
