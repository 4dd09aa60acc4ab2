package dev.sluice.audit;

import dev.sluice.config.IpLiteral;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;

/**
 * SL014: an internal listener admits the whole internet ({@code allow} holds {@code 0.0.0.0/0} or
 * {@code ::/0}, which is also the default). The servers trust an internal listener as a relay, so
 * anyone who reaches it can relay through them (seed pitfall 5). A listener bound to a loopback
 * address is not reported: only the host itself can reach it.
 */
final class InternalOpenRule extends Rule {
  // Documentation addresses (RFC 5737, RFC 3849) stand for "some host on the internet".
  private static final List<InetAddress> INTERNET = List.of(address("203.0.113.1"), address("2001:db8::1"));

  InternalOpenRule() {
    super("SL014", Severity.ERROR, Pitfall.OPEN_RELAY, "internal listener open to the internet");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.INTERNAL)) {
      if (isLoopback(l.listen().host()) || !coversInternet(l.allow()) || INTERNET.stream().noneMatch(l::admits)) {
        continue;
      }
      out.add(finding(l.location(),
          "internal listener " + q(l.name()) + " allows every address",
          "The servers relay for this listener's traffic (that is what trust: internal is for). With allow "
              + "0.0.0.0/0 (written, or the default when allow is left out) anyone who can reach " + l.listen()
              + " can relay mail to any domain: the seed's open relay without even passing the internet listener.",
          "Set allow to the networks of the hosts that relay, e.g. allow: [10.0.0.0/8].",
          l.acknowledge()));
    }
  }

  private static InetAddress address(String literal) {
    try {
      return InetAddress.getByAddress(IpLiteral.parse(literal));
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e); // a constant literal: cannot happen
    }
  }
}
