package dev.sluice.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;

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

  /** Open file descriptors of this process (Linux). */
  public static int openFileDescriptors() {
    String[] fds = new java.io.File("/proc/self/fd").list();
    return fds == null ? -1 : fds.length;
  }
}
