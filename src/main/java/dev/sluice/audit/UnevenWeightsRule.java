package dev.sluice.audit;

import dev.sluice.balance.Shares;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.SluiceConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;

/**
 * SL004: backends of one priority tier carry different weights, so one server takes more of the
 * mail (seed pitfall 1). The finding prints every backend's expected share within its tier
 * (weight / sum of the tier's weights) and names the tiers that get traffic only on failure.
 */
final class UnevenWeightsRule extends ConfigRule {
  UnevenWeightsRule() {
    super("SL004", Severity.WARNING, Pitfall.WEIGHTS, "uneven weights");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (PoolConfig pool : c.pools().values()) {
      SortedMap<Integer, List<BackendConfig>> tiers = tiers(pool);
      boolean uneven = tiers.values().stream()
          .anyMatch(tier -> tier.stream().mapToInt(BackendConfig::weight).distinct().count() > 1);
      if (!uneven) {
        continue;
      }
      List<String> lines = new ArrayList<>();
      int first = tiers.firstKey();
      for (Map.Entry<Integer, List<BackendConfig>> tier : tiers.entrySet()) {
        String shares = shares(tier.getValue());
        lines.add(tier.getKey() == first
            ? "tier " + tier.getKey() + ": " + shares
            : "tier " + tier.getKey() + " (only when no better tier has an eligible backend): " + shares);
      }
      boolean latency = pool.algorithm() == PoolConfig.Algorithm.LEAST_LATENCY;
      out.add(finding(Target.pool(pool),
          latency
              ? "pool " + q(pool.name()) + " weighs its backends' latencies unevenly: " + shares(tiers.get(first))
              : "pool " + q(pool.name()) + " expects " + shares(tiers.get(first)),
          (latency
              ? "With least_latency a weight divides the backend's measured reply time, so these are not "
                  + "shares: a backend of weight 3 takes the message unless it is more than three times "
                  + "slower, and with mail one message at a time it can take nearly all of it. Weights "
                  + "within each tier: "
              : "Expected share of new traffic within each tier: ")
              + String.join("; ", lines) + ". The seed's "
              + "SERVER1 carried most of the mail because of a weighting nobody meant.",
          "Give the backends of a tier equal weight (or leave weight out: it defaults to 1). If the skew is "
              + "deliberate, e.g. a bigger server, add acknowledge: [SL004] to the pool."));
    }
  }

  /** {@code server1 75% (3/4), server2 25% (1/4)}. */
  private static String shares(List<BackendConfig> tier) {
    return Shares.of(tier, BackendConfig::name, BackendConfig::weight);
  }
}
