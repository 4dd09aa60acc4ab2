package dev.sluice.health;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.BackendTls;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.proxy.tls.BackendTlsContext;
import java.net.InetAddress;

/**
 * Who a probe pretends to be, and how it sets up its session, as the listener's traffic does: a
 * health profile sent from a source address, with the client identity the backend takes from the
 * listener (a PROXY header first, or XCLIENT/XFORWARD after EHLO; the backend's own {@code
 * client_identity} or the listener's) and the listener's TLS towards backends. A backend that refuses
 * what every live session needs (XCLIENT from Sluice's address, a certificate Sluice cannot
 * verify) is DOWN for that listener, not UP while each message fails. Listeners sharing all of
 * these share one set of probes; a listener with its own source address gets its own, because a
 * backend may treat that address differently (trust zones, the seed's pitfall 5).
 *
 * @param source null for "any local address"
 * @param tls the listener's TLS client context; null exactly when {@code backendTls} is NONE
 */
public record ProbeKey(String profile, InetAddress source, ClientIdentity identity, BackendTls backendTls,
    BackendTlsContext tls) {

  public ProbeKey {
    if ((tls == null) != (backendTls == BackendTls.NONE)) {
      throw new IllegalArgumentException("a TLS context goes with backend_tls starttls or require, only");
    }
  }

  /** A probe with no client identity and no TLS towards the backend. */
  public ProbeKey(String profile, InetAddress source) {
    this(profile, source, ClientIdentity.NONE, BackendTls.NONE, null);
  }

  /**
   * The probes of listener {@code l} under {@code profile} towards a backend whose own {@code
   * client_identity} is {@code backendOwn} (null: the listener's); {@code tls} is the listener's
   * backend TLS context.
   */
  public static ProbeKey of(String profile, ListenerConfig l, ClientIdentity backendOwn, BackendTlsContext tls) {
    ClientIdentity towards = l.clientIdentityTowards(backendOwn);
    // A transparent connection's probes have no client to speak for: they come from source_address
    // (or the host's choice) and are the same probes as those of a listener without identity.
    ClientIdentity identity = towards == ClientIdentity.TRANSPARENT ? ClientIdentity.NONE : towards;
    return new ProbeKey(profile, l.sourceAddress(), identity, l.backendTls(), tls);
  }

  /** The PROXY header version to send first (0: none). */
  public int proxyVersion() {
    return identity.proxyVersion();
  }

  @Override
  public String toString() {
    return (source == null ? profile : profile + "@" + source.getHostAddress())
        + (identity == ClientIdentity.NONE ? "" : "+" + identity.name().toLowerCase(java.util.Locale.ROOT))
        + (backendTls == BackendTls.NONE ? "" : "+tls" + (backendTls == BackendTls.REQUIRE ? "_required" : ""));
  }
}
