package dev.sluice.audit;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.IpLiteral;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.SluiceConfig;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * SL025: a transparent listener admits clients of an address family that none of its pool's
 * backends has. Their connections cannot come from their own addresses (an IPv6 client cannot be
 * the source of a connection to an IPv4 server), so every such client is told no server is
 * available. A listener on {@code [::]} admits both families (Linux's default dual-stack socket);
 * its {@code allow} ranges narrow that. Backends written as names are not resolved: a pool with
 * one counts as reaching both families, so the rule stays silent rather than guess. A listener that
 * is transparent towards some backends only (a backend's own {@code client_identity}) can serve
 * either family through the others, so it is reported only when all are transparent.
 */
final class TransparentFamilyRule extends ConfigRule {
  private enum Family { IPV4, IPV6 }

  TransparentFamilyRule() {
    super("SL025", Severity.WARNING, Pitfall.SOURCE_NAT, "transparent listener cannot serve a client family");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : c.listeners().values()) {
      if (!c.clientIdentitiesOf(l).contains(ClientIdentity.TRANSPARENT)) {
        continue;
      }
      Set<Family> missing = admitted(l);
      for (BackendConfig b : poolOf(c, l).backends()) {
        byte[] bytes = IpLiteral.parse(b.address().host());
        if (bytes == null || l.clientIdentityTowards(b) != ClientIdentity.TRANSPARENT) {
          // a name: could be either family; a backend that is not transparent takes either family
          missing.clear();
        } else {
          missing.remove(bytes.length == 4 ? Family.IPV4 : Family.IPV6);
        }
      }
      if (missing.isEmpty()) {
        continue;
      }
      String family = missing.contains(Family.IPV6) ? "IPv6" : "IPv4";
      out.add(finding(Target.listener(l),
          "transparent listener " + q(l.name()) + " admits " + family + " clients but pool " + q(l.pool())
              + " has no " + family + " backend",
          "With client_identity: transparent each connection to a server comes from the client's own address, "
              + "and an " + family + " address can only connect to an " + family + " server. Every " + family
              + " client of " + q(l.name()) + " is told no server is available (451 4.3.0 at MAIL FROM, 421 4.3.2 "
              + "in tcp mode), though the servers are up.",
          "Add " + family + " addresses of the servers to pool " + q(l.pool()) + ", or listen on an address of the "
              + "other family only (or narrow allow: to it)."));
    }
  }

  /** The address families {@code l} takes clients of: its listen address's, narrowed by {@code allow}. */
  private static Set<Family> admitted(ListenerConfig l) {
    byte[] listen = IpLiteral.parse(l.listen().host());
    Set<Family> out = EnumSet.noneOf(Family.class);
    if (listen == null || listen.length == 4) {
      out.add(Family.IPV4);
    } else {
      out.add(Family.IPV6);
      boolean any = true;
      for (byte x : listen) {
        any &= x == 0;
      }
      if (any) {
        out.add(Family.IPV4); // [::]: dual-stack
      }
    }
    out.removeIf(f -> l.allow().stream().noneMatch(r -> r.isV4() == (f == Family.IPV4)));
    return out;
  }
}
