package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL014: an internal listener admits the internet ({@code allow} less {@code deny} is what {@link
 * InternetReach} calls open; {@code 0.0.0.0/0} is also the default). The servers trust an internal listener as a relay, so
 * anyone who reaches it can relay through them (seed pitfall 5). A listener bound to a loopback
 * address is not reported: only the host itself can reach it.
 */
final class InternalOpenRule extends ConfigRule {
  InternalOpenRule() {
    super("SL014", Severity.ERROR, Pitfall.OPEN_RELAY, "internal listener open to the internet");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.INTERNAL)) {
      if (isLoopback(l.listen().host()) || !InternetReach.openToTheInternet(l.allow(), l.deny())) {
        continue;
      }
      out.add(finding(Target.listener(l),
          "internal listener " + q(l.name()) + " allows the internet",
          "The servers relay for this listener's traffic (that is what trust: internal is for). With allow "
              + "0.0.0.0/0 (written, the default when allow is left out, or ranges that add up to a large part "
              + "of the internet) anyone who can reach " + l.listen()
              + " can relay mail to any domain: the seed's open relay without even passing the internet listener.",
          "Set allow to the networks of the hosts that relay, e.g. allow: [10.0.0.0/8]."));
    }
  }
}
