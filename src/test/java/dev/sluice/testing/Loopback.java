package dev.sluice.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.LabSmtpClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.time.Duration;

/** Loopback helpers for tests: distinct 127.x client addresses and free ports. */
public final class Loopback {
  private Loopback() {}

  /** {@code 127.0.0.n}: a distinct client address on this machine (Linux routes all of 127/8 to lo). */
  public static InetAddress client(int n) {
    try {
      return InetAddress.getByName("127.0.0." + n);
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A port that was free a moment ago (nothing listens on it now: connecting is refused). */
  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Keeps a session busy for {@code total}: a NOOP every 300 ms, each of which must be answered
   * {@code 250}. Idle-timeout tests use it to show that a talking client is not idle.
   */
  public static void keepTalking(LabSmtpClient c, Duration total) throws IOException {
    long until = System.nanoTime() + total.toNanos();
    while (System.nanoTime() < until) {
      await().pollDelay(Duration.ofMillis(300)).until(() -> true); // Awaitility as a pacer
      assertThat(c.command("NOOP").code()).isEqualTo(250);
    }
  }

  /** Open file descriptors of this process (Linux). */
  public static int openFileDescriptors() {
    String[] fds = new java.io.File("/proc/self/fd").list();
    return fds == null ? -1 : fds.length;
  }
}
