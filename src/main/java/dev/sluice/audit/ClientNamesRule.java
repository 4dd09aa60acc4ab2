package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL023: an external smtp listener passes the client on with XCLIENT or XFORWARD (to any of its
 * backends: a backend's own {@code client_identity} counts), or names it in
 * its Received line ({@code received_header}), but the configuration has no {@code resolver:}, so
 * every client's host name is {@code [UNAVAILABLE]} (or {@code unknown} in the line): the
 * client's address survives the balancer, its name does not (seed pitfall 3, one step further).
 */
final class ClientNamesRule extends ConfigRule {
  ClientNamesRule() {
    super("SL023", Severity.INFO, Pitfall.SOURCE_NAT, "client names not looked up");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    if (c.resolver().enabled()) {
      return;
    }
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      java.util.Set<ClientIdentity> identities = c.clientIdentitiesOf(l);
      boolean carriesIdentity = identities.contains(ClientIdentity.XCLIENT) || identities.contains(ClientIdentity.XFORWARD);
      if (l.mode() != Mode.SMTP) {
        continue;
      }
      if (!carriesIdentity) {
        if (l.receivedHeader()) {
          out.add(finding(Target.listener(l),
              "external listener " + q(l.name()) + " writes every client as 'unknown' in its Received line",
              "received_header names the client by its verified host name, which only a resolver: section looks "
                  + "up; without one the line reads 'from HELO (unknown [address])' for every sender, and "
                  + "header analysers and spam filters lose the name.",
              "Add a top-level 'resolver:' (the system's name servers) or 'resolver: { servers: [your DNS "
                  + "servers] }'; or acknowledge SL023 on the listener if the address is enough."));
        }
        continue;
      }
      String command = identities.contains(ClientIdentity.XCLIENT) ? "XCLIENT" : "XFORWARD";
      // Named when only some backends get the command (their own client_identity, or the listener's).
      List<String> told = poolOf(c, l).backends().stream()
          .filter(b -> l.clientIdentityTowards(b).name().equals(command)).map(dev.sluice.config.BackendConfig::name).toList();
      String to = told.size() == poolOf(c, l).backends().size() ? ""
          : " to backend" + (told.size() == 1 ? " " : "s ") + String.join(", ", told);
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " sends " + command + to + " with NAME=[UNAVAILABLE] for every client",
          "Without a resolver: section Sluice looks up no host names, so the servers log every client as "
              + "unknown[address], and host-name restrictions judge every client as nameless: with XCLIENT, "
              + "Postfix's reject_unknown_client_hostname and reject_unknown_reverse_client_hostname defer "
              + "mail they would accept without the balancer, and spam filters lose the name they score.",
          "Add a top-level 'resolver:' (the system's name servers) or 'resolver: { servers: [your DNS "
              + "servers] }'; Sluice then sends the name Postfix would find itself (PTR, checked forward). "
              + "If the servers use no host-name checks and you do not want the lookups, acknowledge SL023 "
              + "on the listener."));
    }
  }
}
