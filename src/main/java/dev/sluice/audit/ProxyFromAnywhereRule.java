package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL015: a listener accepts a PROXY header from the internet ({@code accept_proxy} admits as much as
 * {@link InternetReach} calls open). The header states the client's address, so any internet sender
 * could claim an internal one and be judged (by Sluice's ACL and, through client_identity, by the
 * servers) as that host (seed pitfall 5). On an internal listener that is an open relay outright:
 * the forged address is exactly what {@code allow} and the servers' relay rules trust.
 */
final class ProxyFromAnywhereRule extends ConfigRule {
  ProxyFromAnywhereRule() {
    super("SL015", Severity.ERROR, Pitfall.OPEN_RELAY, "client address can be forged");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : c.listeners().values()) {
      if (!InternetReach.openToTheInternet(l.acceptProxy(), List.of())) {
        continue;
      }
      boolean internal = l.trust() == ListenerConfig.Trust.INTERNAL;
      out.add(finding(Target.listener(l),
          (internal ? "internal" : "external") + " listener " + q(l.name()) + " accepts PROXY headers from anyone",
          "A PROXY header tells Sluice who the client is. Accepted from the internet, any sender can "
              + "claim to be 10.0.0.5, pass allow/deny as that host and have that address handed to the "
              + "servers, whose relay rules may trust it."
              + (internal ? " On an internal listener that makes it an open relay: the claimed address is what allow "
                  + "and the servers' relay rules admit." : ""),
          "Set accept_proxy to the addresses of your own upstream proxies or gateways only."));
    }
  }
}
