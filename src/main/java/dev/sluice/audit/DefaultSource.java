package dev.sluice.audit;

import java.net.InetAddress;
import java.util.Optional;

/**
 * The local address this host's routing picks for a connection to a destination when the socket is
 * not bound to one: where a listener without {@code source_address} connects from. Finding it is
 * I/O (a route lookup), so the audit's rules take it as a function: {@code sluice audit} passes one
 * that asks the kernel, tests pass a fixed map, and {@link #UNKNOWN} knows nothing.
 *
 * <p>Loopback destinations never reach it: their default source is the loopback address of the
 * family ({@code 127.0.0.1}, {@code ::1}), whatever the host.
 */
@FunctionalInterface
public interface DefaultSource {
  /** Knows no route: a listener without {@code source_address} matches only another without one. */
  DefaultSource UNKNOWN = destination -> Optional.empty();

  /** The address a connection to {@code destination} would come from, or empty when unknown. */
  Optional<InetAddress> towards(InetAddress destination);
}
