package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL001: an external and an internal listener reach the same backend from the same source
 * address. Servers tell relay clients from internet senders by the connecting address, so a relay
 * connector that trusts the internal listener also trusts the internet (seed pitfall 5).
 *
 * <p>Addresses are compared as written ({@code host:port}, host case-insensitive); nothing is
 * resolved, so the audit never depends on DNS. Two unset {@code source_address}es count as the same:
 * both listeners then connect from the host's default address, which is the seed's exact layout. So
 * does an unset one whose default source towards the backend ({@link DefaultSource}, {@code 127.0.0.1}
 * for a loopback backend) is the address the other listener sets ({@link SharedSource}).
 *
 * <p>With a transparent internal listener the servers trust the client ranges it admits, not an
 * address of Sluice's: reported when the external listener connects from inside those ranges.
 *
 * <p>Not reported for a backend that the external listener hands each client's own address to
 * ({@code client_identity: xclient}, {@code proxy_v1} or {@code proxy_v2}, the listener's or the
 * backend's own): the servers then judge
 * relaying by the internet sender's address, not by the shared source address, and Sluice never
 * falls back to sending as itself when the server refuses the identity. {@code xforward} does not
 * count: it only changes what the server logs.
 */
final class OpenRelayRule extends ConfigRule {
  private final DefaultSource routes;

  /** {@code routes}: where a listener without {@code source_address} connects from. */
  OpenRelayRule(DefaultSource routes) {
    super("SL001", Severity.ERROR, Pitfall.OPEN_RELAY, "open relay risk");
    this.routes = routes;
  }

  @Override
  boolean readsRoutes() {
    return true;
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig ext : listeners(c, Trust.EXTERNAL)) {
      for (ListenerConfig internal : listeners(c, Trust.INTERNAL)) {
        for (SharedSource.Shared shared : SharedSource.between(c, ext, internal, ext, routes)) {
          report(ext, internal, shared, out);
        }
      }
    }
  }

  private void report(ListenerConfig ext, ListenerConfig internal, SharedSource.Shared shared, List<Finding> out) {
    out.add(finding(Target.listener(ext),
        "external listener " + q(ext.name()) + " and internal listener " + q(internal.name())
            + " reach " + String.join(", ", shared.backends())
            + (shared.trustedAlike() ? " from addresses the servers trust alike" : " from the same source address"),
        "Both connect from " + shared.source() + ". A server cannot tell internet mail from internal relay "
            + "traffic by address, so a relay connector that trusts " + q(internal.name()) + " (line "
            + internal.location().line() + ") also lets any internet sender relay to any domain: the "
            + "seed's open relay (Exchange's 'Internal Relay' connector with the balancer's address in "
            + "its remote IP ranges).",
        shared.trustedAlike()
            ? "Give " + q(ext.name()) + " a source_address outside the client ranges " + q(internal.name())
                + " admits (and outside the relay connector's remote IP ranges), or make it transparent too."
            : "Give each listener its own source_address (e.g. 10.0.0.21 on " + q(ext.name()) + ", 10.0.0.22 on "
                + q(internal.name()) + ") and let only the internal one's address into the relay connector."));
  }
}
