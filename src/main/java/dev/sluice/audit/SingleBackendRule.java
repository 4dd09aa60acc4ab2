package dev.sluice.audit;

import dev.sluice.config.PoolConfig;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL008: a pool with a single backend. Balancing adds a hop without adding availability: when that
 * server is down or under back pressure, every message is deferred until it recovers.
 */
final class SingleBackendRule extends ConfigRule {
  SingleBackendRule() {
    super("SL008", Severity.WARNING, Pitfall.GENERAL, "no redundancy");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (PoolConfig pool : c.pools().values()) {
      if (pool.backends().size() != 1) {
        continue;
      }
      String only = pool.backends().get(0).name();
      out.add(finding(Target.pool(pool),
          "pool " + q(pool.name()) + " has one backend, " + only,
          "When " + only + " is down or refusing mail (452 4.3.1 back pressure) there is no other server: "
              + "every sender gets a temporary error and queues its mail until " + only + " recovers.",
          "Add a second backend; a priority: 2 standby is enough for failover."));
    }
  }
}
