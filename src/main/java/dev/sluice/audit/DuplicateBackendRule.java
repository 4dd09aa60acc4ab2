package dev.sluice.audit;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.SluiceConfig;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SL017: two backends of one pool have the same address (host:port as written, host
 * case-insensitive). That server gets the share of both entries: an uneven weighting by accident
 * (seed pitfall 1). Reported at the second entry; it may be acknowledged there or on its pool.
 */
final class DuplicateBackendRule extends ConfigRule {
  DuplicateBackendRule() {
    super("SL017", Severity.WARNING, Pitfall.WEIGHTS, "duplicate backend");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (PoolConfig pool : c.pools().values()) {
      Map<String, BackendConfig> seen = new HashMap<>();
      for (BackendConfig b : pool.backends()) {
        BackendConfig first = seen.putIfAbsent(addressKey(b.address()), b);
        if (first == null) {
          continue;
        }
        out.add(finding(Target.backend(pool, b),
            b.name() + " in pool " + q(pool.name()) + " is the same server as " + first.name(),
            "Both entries point at " + b.address() + " (line " + first.location().line() + "), so that server "
                + "receives the shares of both while the others get less: the seed's accidental imbalance.",
            "Remove the duplicate entry; if the server should carry more, raise its weight instead."));
      }
    }
  }
}
