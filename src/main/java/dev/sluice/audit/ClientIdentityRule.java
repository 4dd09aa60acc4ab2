package dev.sluice.audit;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL002: an external listener with {@code client_identity: none}, its own or that of some of its
 * backends (a backend's own {@code client_identity} overrides the listener's). Those servers see
 * only Sluice's address, which is source NAT with all its consequences (seed pitfall 3).
 */
final class ClientIdentityRule extends ConfigRule {
  ClientIdentityRule() {
    super("SL002", Severity.WARNING, Pitfall.SOURCE_NAT, "client address hidden");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      List<BackendConfig> pool = poolOf(c, l).backends();
      List<String> hidden = pool.stream()
          .filter(b -> l.clientIdentityTowards(b) == ClientIdentity.NONE).map(BackendConfig::name).toList();
      if (hidden.isEmpty()) {
        continue;
      }
      // Only some backends (their own client_identity, or the listener's where they set none): named.
      boolean all = hidden.size() == pool.size();
      String which = all ? "" : "backend" + (hidden.size() == 1 ? " " : "s ") + String.join(", ", hidden);
      String carry = (l.mode() == Mode.TCP
          ? "Set client_identity: proxy_v2 (Postfix: smtpd_upstream_proxy_protocol = haproxy)"
          : "Set client_identity: xclient (Postfix: smtpd_authorized_xclient_hosts = Sluice's source address)")
          + (all ? "" : " on " + which);
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " has client_identity: none" + (all ? "" : " towards " + which),
          "The servers see every internet connection as coming from Sluice: protocol logs lose the real "
              + "client (the seed's 25,976 hits from the balancer's one address) and address-based rules "
              + "(which receive connector answers, allow lists, reputation) judge Sluice instead of the sender. "
              + "Exchange speaks neither XCLIENT nor PROXY: there the address can only be carried by connecting "
              + "from it (client_identity: transparent), or the defence is a source_address used by this "
              + "listener alone.",
          carry + ". For Exchange: client_identity: transparent, with the servers' route back to the internet "
              + "through Sluice (docs/security.md, transparent mode); or give this listener its own "
              + "source_address, scope an 'Internet' receive connector to that address, and acknowledge SL002 "
              + "on the listener."));
    }
  }
}
