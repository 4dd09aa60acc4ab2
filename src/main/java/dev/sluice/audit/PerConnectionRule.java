package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Balance;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL009: an external listener balances per connection ({@code mode: tcp}, or smtp with {@code
 * balance: connection}). A gateway sends many messages over one long connection, so they all land
 * on one server whatever the algorithm (seed pitfall 2).
 */
final class PerConnectionRule extends ConfigRule {
  PerConnectionRule() {
    super("SL009", Severity.WARNING, Pitfall.SCHEDULING_VS_PERSISTENCE, "per-connection balancing");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      String how;
      if (l.mode() == Mode.TCP) {
        how = "mode: tcp";
      } else if (l.balance() == Balance.CONNECTION) {
        how = "balance: connection";
      } else {
        continue;
      }
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " balances per connection (" + how + ")",
          "An email security gateway keeps a connection open and sends message after message over it; "
              + "balancing per connection sends all of them to the server that got the connection, so one "
              + "gateway can still load one server, as in the seed.",
          "Use mode: smtp with balance: transaction (the default), so every MAIL FROM is scheduled afresh. "
              + "If the servers must terminate TLS themselves (tcp mode), acknowledge SL009."));
    }
  }
}
