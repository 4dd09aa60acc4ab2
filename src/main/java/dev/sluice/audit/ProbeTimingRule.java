package dev.sluice.audit;

import dev.sluice.config.ConfigValues;
import dev.sluice.config.HealthProfile;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL012: a health profile's {@code timeout} is at least 80% of its {@code interval}. A server slowed
 * by load is then probed back to back and one slow reply more marks it down, so the pool flaps
 * exactly when it is busy.
 */
final class ProbeTimingRule extends ConfigRule {
  ProbeTimingRule() {
    super("SL012", Severity.INFO, Pitfall.SHALLOW_HEALTH, "probe timeout close to interval");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (HealthProfile p : c.health().values()) {
      // timeout >= 0.8 * interval, in whole milliseconds without rounding.
      if (p.timeout().toMillis() * 5 < p.interval().toMillis() * 4) {
        continue;
      }
      String timeout = ConfigValues.formatDuration(p.timeout());
      String interval = ConfigValues.formatDuration(p.interval());
      out.add(finding(Target.profile(p),
          "health profile " + q(p.name()) + " waits up to " + timeout + " every " + interval,
          "A server slowed by load answers near the timeout, so probes run back to back and add to its load, "
              + "and one slow reply more turns it DOWN: the pool flaps exactly when it is busiest.",
          "Keep timeout well under interval, e.g. interval: 5s with timeout: 3s."));
    }
  }
}
