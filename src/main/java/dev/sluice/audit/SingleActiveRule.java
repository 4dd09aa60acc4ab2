package dev.sluice.audit;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.SluiceConfig;
import java.util.List;
import java.util.SortedMap;
import java.util.stream.Collectors;

/**
 * SL013: the best priority tier of a pool holds a single backend while others wait in lower tiers,
 * so that one server takes all the mail (seed pitfall 1: a preferred server by priority). Reported
 * at that backend; it may be acknowledged there or on its pool.
 */
final class SingleActiveRule extends ConfigRule {
  SingleActiveRule() {
    super("SL013", Severity.WARNING, Pitfall.WEIGHTS, "one server takes all the mail");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (PoolConfig pool : c.pools().values()) {
      SortedMap<Integer, List<BackendConfig>> tiers = tiers(pool);
      List<BackendConfig> first = tiers.get(tiers.firstKey());
      if (first.size() != 1 || tiers.size() == 1) {
        continue;
      }
      BackendConfig active = first.get(0);
      String standby = pool.backends().stream().filter(b -> b != active)
          .map(b -> b.name() + " (priority " + b.priority() + ")").collect(Collectors.joining(", "));
      out.add(finding(Target.backend(pool, active),
          active.name() + " is the only priority-" + active.priority() + " backend of pool " + q(pool.name()),
          active.name() + " receives all the mail; " + standby + " only when it is not eligible. This is the "
              + "seed's SERVER1, preferred by priority. Fine for a deliberate active/standby design.",
          "Give the other servers priority: " + active.priority() + " so they share the mail, or acknowledge "
              + "SL013 on the backend or pool if standby is intended."));
    }
  }
}
