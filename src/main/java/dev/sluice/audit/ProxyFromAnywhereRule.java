package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL015: an external listener accepts a PROXY header from any address. The header states the
 * client's address, so any internet sender could claim an internal one and be judged (by Sluice's
 * ACL and, through client_identity, by the servers) as that host (seed pitfall 5).
 */
final class ProxyFromAnywhereRule extends Rule {
  ProxyFromAnywhereRule() {
    super("SL015", Severity.ERROR, Pitfall.OPEN_RELAY, "client address can be forged");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      if (!coversInternet(l.acceptProxy())) {
        continue;
      }
      out.add(finding(l.location(),
          "external listener " + q(l.name()) + " accepts PROXY headers from anyone",
          "A PROXY header tells Sluice who the client is. Accepted from any address, an internet sender can "
              + "claim to be 10.0.0.5, pass allow/deny as that host and have that address handed to the "
              + "servers, whose relay rules may trust it.",
          "Set accept_proxy to the addresses of your own upstream proxies or gateways only.",
          l.acknowledge()));
    }
  }
}
