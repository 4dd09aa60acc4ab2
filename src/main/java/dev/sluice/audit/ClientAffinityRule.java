package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.PoolConfig.Algorithm;
import dev.sluice.config.PoolConfig.Persistence;
import dev.sluice.config.SluiceConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * SL005: an external listener's pool picks or pins backends by client address ({@code algorithm:
 * source_hash} or {@code persistence: source_ip}). Internet mail comes from few addresses, often a
 * single security gateway, which is then pinned to one server (seed pitfall 2).
 *
 * <p>Reported at the listener, not the pool: the same pool may rightly use affinity for internal
 * clients, and the fix is then a separate pool for the external listener.
 */
final class ClientAffinityRule extends ConfigRule {
  ClientAffinityRule() {
    super("SL005", Severity.WARNING, Pitfall.SCHEDULING_VS_PERSISTENCE, "gateway imbalance");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      PoolConfig pool = poolOf(c, l);
      List<String> knobs = new ArrayList<>();
      if (pool.algorithm() == Algorithm.SOURCE_HASH) {
        knobs.add("algorithm: source_hash");
      }
      if (pool.persistence().mode() == Persistence.Mode.SOURCE_IP) {
        knobs.add("persistence: source_ip");
      }
      if (knobs.isEmpty()) {
        continue;
      }
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " uses pool " + q(pool.name()) + " with " + String.join(" and ", knobs),
          "Internet mail arrives from few addresses; behind an email security gateway it is one. Choosing or "
              + "pinning the server by client address sends all of it to one server while the others idle: "
              + "the seed's imbalance that survived fixing the weights. Scheduling and persistence are "
              + "separate knobs, and both must ignore the client address here.",
          "Set algorithm: round_robin (or least_connections) and persistence: none on the pool; if an "
              + "internal listener needs affinity, give it its own pool with the same backends."));
    }
  }
}
