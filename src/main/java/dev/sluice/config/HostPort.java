package dev.sluice.config;

import java.net.InetSocketAddress;

/**
 * A host (IP literal or name) and a TCP port, as written in the config ({@code 127.0.0.1:2525},
 * {@code [::1]:25}).
 *
 * <p>Immutable; safe to share between threads.
 */
public record HostPort(String host, int port) {

  /** The socket address, resolving the host now if it is a name. */
  public InetSocketAddress toSocketAddress() {
    return new InetSocketAddress(host, port);
  }

  @Override
  public String toString() {
    return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
  }
}
