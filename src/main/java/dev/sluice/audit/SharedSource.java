package dev.sluice.audit;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.IpLiteral;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.SluiceConfig;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Where two listeners reach the same backend from the same local address, so that the backend
 * cannot tell their clients apart: both set the same {@code source_address}; neither sets one (both
 * connect from the host's default address); or one sets none and the host's routing picks, towards
 * that backend, exactly the address the other sets ({@link DefaultSource}).
 *
 * <p>Backend addresses are compared as written ({@code host:port}, host case-insensitive). Nothing is
 * resolved: the default source is looked up only for IP literals, and towards a loopback backend it
 * is the family's loopback address ({@code 127.0.0.1}, {@code ::1}) without asking anyone. Pure,
 * given a pure {@link DefaultSource}.
 */
final class SharedSource {
  private static final InetAddress V4_LOOPBACK = literal(new byte[] {127, 0, 0, 1});
  private static final InetAddress V6_LOOPBACK = literal(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  private static final String BOTH_DEFAULT = "the host's default address (no source_address on either)";

  /**
   * @param backends the backend addresses both listeners reach from the same source, in the first
   *     listener's pool order
   * @param source that source, as the explanation says it ("10.0.0.21", "the host's default
   *     address ...", or the address and why the listener without one uses it)
   * @param trustedAlike the connections of one listener come from its clients' own addresses
   *     (transparent), and the other's from inside the client ranges it admits
   */
  record Shared(List<String> backends, String source, boolean trustedAlike) {}

  private SharedSource() {}

  /**
   * The backends {@code a} and {@code b} both reach from one source address, among those that
   * {@code hiding} (one of the two) does not hand the client's address to ({@link
   * Rule#carriesClientAddress}, judged per backend: a backend's own {@code client_identity} overrides
   * the listener's). When {@code b} is transparent towards a backend the servers see its clients'
   * own addresses, so what they trust for it is the client ranges it admits ({@code allow}): then
   * the backends {@code a} reaches from an address inside those ranges. Likewise with {@code a}
   * transparent and {@code b} not (its {@code source_address} and default address say nothing about
   * where its connections come from). One result per such case that has backends: usually one, two
   * when some shared backends are reached transparently and others are not.
   */
  static List<Shared> between(SluiceConfig c, ListenerConfig a, ListenerConfig b, ListenerConfig hiding,
      DefaultSource routes) {
    Map<String, List<BackendConfig>> ofA = backendsByAddress(c, a);
    Map<String, List<BackendConfig>> ofB = backendsByAddress(c, b);
    // The shared addresses, grouped by whether a and b are transparent towards them. A pool may list
    // one address twice with different identities: each pair of entries counts on its own.
    Map<List<Boolean>, Map<String, String>> groups = new LinkedHashMap<>();
    ofA.forEach((key, entriesOfA) -> {
      for (BackendConfig backendOfA : entriesOfA) {
        for (BackendConfig backendOfB : ofB.getOrDefault(key, List.of())) {
          if (Rule.carriesClientAddress(hiding.clientIdentityTowards(hiding == a ? backendOfA : backendOfB))) {
            continue;
          }
          List<Boolean> transparent = List.of(a.clientIdentityTowards(backendOfA) == ClientIdentity.TRANSPARENT,
              b.clientIdentityTowards(backendOfB) == ClientIdentity.TRANSPARENT);
          groups.computeIfAbsent(transparent, t -> new LinkedHashMap<>()).put(key, backendOfA.address().host());
        }
      }
    });
    List<Shared> out = new ArrayList<>();
    groups.forEach((transparent, hosts) -> within(hosts, a, b, transparent.get(0), transparent.get(1), routes)
        .ifPresent(out::add));
    return out;
  }

  private static Optional<Shared> within(Map<String, String> hosts, ListenerConfig a, ListenerConfig b,
      boolean aTransparent, boolean bTransparent, DefaultSource routes) {
    if (bTransparent) {
      return insideAdmittedRanges(hosts, a, b, routes);
    }
    if (aTransparent) {
      return insideAdmittedRanges(hosts, b, a, routes);
    }
    InetAddress sa = a.sourceAddress();
    InetAddress sb = b.sourceAddress();
    if (sa == null && sb == null) {
      return shared(List.copyOf(hosts.keySet()), BOTH_DEFAULT, false);
    }
    if (sa != null && sb != null) {
      return sa.equals(sb) ? shared(List.copyOf(hosts.keySet()), sa.getHostAddress(), false) : Optional.empty();
    }
    ListenerConfig unset = sa == null ? a : b;
    ListenerConfig set = sa == null ? b : a;
    InetAddress source = set.sourceAddress();
    List<String> backends = new ArrayList<>();
    Set<String> towards = new LinkedHashSet<>();
    hosts.forEach((key, host) -> {
      if (defaultSource(host, routes).filter(source::equals).isPresent()) {
        backends.add(key);
        towards.add(host);
      }
    });
    return shared(backends, source.getHostAddress() + " (" + Rule.q(unset.name()) + " sets no source_address, and the "
        + "host's routing picks " + source.getHostAddress() + ", the source_address of " + Rule.q(set.name())
        + ", for its connections to " + String.join(", ", towards) + ")", false);
  }

  private static Optional<Shared> insideAdmittedRanges(Map<String, String> hosts, ListenerConfig a,
      ListenerConfig transparent, DefaultSource routes) {
    List<String> backends = new ArrayList<>();
    Set<String> from = new LinkedHashSet<>();
    hosts.forEach((key, host) -> {
      Optional<InetAddress> source = a.sourceAddress() != null ? Optional.of(a.sourceAddress()) : defaultSource(host, routes);
      source.filter(s -> transparent.allow().stream().anyMatch(r -> r.contains(s))).ifPresent(s -> {
        backends.add(key);
        from.add(s.getHostAddress());
      });
    });
    return shared(backends, "addresses the servers trust alike: " + Rule.q(a.name()) + " from " + String.join(", ", from)
        + (a.sourceAddress() == null ? " (the host's default address)" : "") + ", and " + Rule.q(transparent.name())
        + " from its clients' own addresses (client_identity: transparent), within "
        + transparent.allow().stream().map(Object::toString).collect(java.util.stream.Collectors.joining(", "))
        + ", which include " + String.join(", ", from), true);
  }

  /**
   * The address a connection to {@code host} comes from when no source address is bound: the
   * loopback address of the family for a loopback host, what {@code routes} says for another IP
   * literal, and unknown for a name (nothing is resolved).
   */
  static Optional<InetAddress> defaultSource(String host, DefaultSource routes) {
    byte[] bytes = IpLiteral.parse(host);
    if (bytes == null) {
      return Optional.empty();
    }
    InetAddress destination;
    try {
      destination = InetAddress.getByAddress(bytes);
    } catch (UnknownHostException e) {
      return Optional.empty(); // unreachable: the bytes come from a parsed literal
    }
    if (destination.isLoopbackAddress()) {
      return Optional.of(destination instanceof Inet4Address ? V4_LOOPBACK : V6_LOOPBACK);
    }
    return routes.towards(destination);
  }

  private static Optional<Shared> shared(List<String> backends, String source, boolean trustedAlike) {
    return backends.isEmpty() ? Optional.empty() : Optional.of(new Shared(backends, source, trustedAlike));
  }

  /** The pool's backends by address ({@link Rule#addressKey}), in pool order. */
  private static Map<String, List<BackendConfig>> backendsByAddress(SluiceConfig c, ListenerConfig l) {
    Map<String, List<BackendConfig>> out = new LinkedHashMap<>();
    for (BackendConfig b : Rule.poolOf(c, l).backends()) {
      out.computeIfAbsent(Rule.addressKey(b.address()), k -> new ArrayList<>()).add(b);
    }
    return out;
  }

  private static InetAddress literal(byte[] bytes) {
    try {
      return InetAddress.getByAddress(bytes);
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e); // unreachable: 4 or 16 bytes
    }
  }
}
