package dev.sluice.audit;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.IpLiteral;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.Location;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.SluiceConfig;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * One audit check with a stable code. Most look at a whole {@link SluiceConfig} ({@link ConfigRule});
 * SL022 ({@link UnusedAcknowledgementRule}) looks at what those found. Either reports through
 * {@link #finding}, naming the {@link Target} each finding is about; {@code finding} fills in what
 * every finding of the rule shares and decides whether it is acknowledged.
 *
 * <p>Rules are pure and stateless: the same configuration always gives the same findings.
 */
public abstract class Rule {
  private final String code;
  private final Severity severity;
  private final Pitfall pitfall;
  private final String name;

  protected Rule(String code, Severity severity, Pitfall pitfall, String name) {
    this.code = code;
    this.severity = severity;
    this.pitfall = pitfall;
    this.name = name;
  }

  public final String code() {
    return code;
  }

  public final Severity severity() {
    return severity;
  }

  public final Pitfall pitfall() {
    return pitfall;
  }

  /** The rule's short name, the start of every finding's title ({@code open relay risk}). */
  public final String name() {
    return name;
  }

  /**
   * Whether the findings depend on where a listener without {@code source_address} connects from
   * ({@link DefaultSource}), which an audit without route lookups does not know.
   */
  boolean readsRoutes() {
    return false;
  }

  /**
   * A finding of this rule about {@code about}, located where that object is written. It is
   * acknowledged when the {@code acknowledge} list of {@code about}, or of an object enclosing it (a
   * backend's pool), names this rule's code.
   */
  protected final Finding finding(Target about, String detail, String explanation, String fix) {
    return finding(about, about.location(), detail, explanation, fix);
  }

  /** A finding about {@code about} located at {@code at}, a place inside it (one of its entries). */
  protected final Finding finding(Target about, Location at, String detail, String explanation, String fix) {
    return new Finding(code, severity, name + ": " + detail, at, about, pitfall, explanation, fix,
        about.acknowledges(code));
  }

  // Helpers shared by several rules.

  static List<ListenerConfig> listeners(SluiceConfig c, Trust trust) {
    return c.listeners().values().stream().filter(l -> l.trust() == trust).toList();
  }

  static PoolConfig poolOf(SluiceConfig c, ListenerConfig l) {
    return c.pools().get(l.pool());
  }

  /** The pool's backends by priority tier, best tier first, each tier in file order. */
  static SortedMap<Integer, List<BackendConfig>> tiers(PoolConfig pool) {
    SortedMap<Integer, List<BackendConfig>> tiers = new TreeMap<>();
    for (BackendConfig b : pool.backends()) {
      tiers.computeIfAbsent(b.priority(), p -> new ArrayList<>()).add(b);
    }
    return tiers;
  }

  /**
   * A backend address as a comparable key: {@code host:port} as written, host in lower case (DNS
   * names are case-insensitive). Nothing is resolved, so the audit never depends on DNS.
   */
  static String addressKey(HostPort a) {
    return new HostPort(a.host().toLowerCase(Locale.ROOT), a.port()).toString();
  }

  /**
   * Whether a server learns each client's own address through {@code identity} ({@code xclient},
   * {@code proxy_v1}, {@code proxy_v2}, or {@code transparent}: the connection comes from it) and
   * judges relaying by it. {@code xforward} only changes its logs.
   */
  static boolean carriesClientAddress(ListenerConfig.ClientIdentity identity) {
    return switch (identity) {
      case XCLIENT, PROXY_V1, PROXY_V2, TRANSPARENT -> true;
      case NONE, XFORWARD -> false;
    };
  }

  /** {@code 'name'}: how findings quote a configured name. */
  static String q(String name) {
    return "'" + name + "'";
  }

  /**
   * Whether {@code host} is a loopback address. Only an IP literal can be (listen addresses always
   * are); a name is never resolved, so it counts as another host.
   */
  static boolean isLoopback(String host) {
    byte[] bytes = IpLiteral.parse(host);
    if (bytes == null) {
      return false; // a name: cannot tell without resolving, so assume reachable
    }
    try {
      return InetAddress.getByAddress(bytes).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false; // unreachable: the bytes come from a parsed literal
    }
  }
}
