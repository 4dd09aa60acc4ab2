package dev.sluice.config;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The {@code resolver:} section: the DNS servers Sluice asks for its clients' host names, which it
 * passes to backends as XCLIENT/XFORWARD {@code NAME} (and XCLIENT {@code REVERSE_NAME}) and writes
 * in a listener's Received line ({@code received_header}). Absent
 * ({@link #NONE}): no lookups, and backends are told the name is {@code [UNAVAILABLE]}.
 *
 * <p>{@code servers} empty means the name servers of the system ({@code /etc/resolv.conf}).
 * {@code timeout} bounds the whole lookup of one client (PTR, then the forward check of the name).
 * Immutable.
 */
public record ResolverConfig(boolean enabled, List<HostPort> servers, Duration timeout, Map<String, Location> acknowledge,
    Location location) {
  /** Default time one client's lookup may take before its name is {@code [TEMPUNAVAIL]}. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);

  /** Longest {@code timeout} allowed: the client's first transaction waits for the lookup. */
  public static final Duration MAX_TIMEOUT = Duration.ofMinutes(1);

  /** No {@code resolver:} section: no lookups. */
  public static final ResolverConfig NONE = new ResolverConfig(false, List.of(), DEFAULT_TIMEOUT, Map.of(), Location.NONE);

  /** DNS port, for servers written without one. */
  public static final int DNS_PORT = 53;

  public ResolverConfig {
    servers = List.copyOf(servers);
    acknowledge = Ordered.copyOf(acknowledge);
  }

  /** Whether {@code other} asks as this one does: the same settings, wherever each is written. */
  public boolean asksLike(ResolverConfig other) {
    return enabled == other.enabled && servers.equals(other.servers) && timeout.equals(other.timeout);
  }
}
