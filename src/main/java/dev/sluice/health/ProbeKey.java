package dev.sluice.health;

import java.net.InetAddress;

/**
 * Who a probe pretends to be: a health profile sent from a source address, with the PROXY header
 * version the listener's backends expect (0: none). Listeners sharing all three share one set of
 * probes; a listener with its own source address gets its own, because a backend may treat that
 * address differently (trust zones, the seed's pitfall 5). {@code source} is null for "any local
 * address".
 */
public record ProbeKey(String profile, InetAddress source, int proxyVersion) {

  public ProbeKey(String profile, InetAddress source) {
    this(profile, source, 0);
  }

  @Override
  public String toString() {
    return (source == null ? profile : profile + "@" + source.getHostAddress()) + (proxyVersion == 0 ? "" : "+proxy_v" + proxyVersion);
  }
}
