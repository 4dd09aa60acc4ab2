package dev.sluice.report;

import java.util.List;

/**
 * Tunables of the default report's findings. Immutable.
 *
 * @param natShare a server's sessions share from one client address at or above which {@code
 *     source-nat} fires (default 0.9)
 * @param natMinSessions fewest sessions a server needs before {@code source-nat} is judged
 * @param imbalance max/mean session share at or above which {@code imbalance} fires (default 1.5)
 * @param expectedConnectors connectors/listeners that should receive traffic ({@code --connector})
 */
public record Thresholds(double natShare, long natMinSessions, double imbalance, List<String> expectedConnectors) {
  /** The documented defaults. */
  public static final Thresholds DEFAULTS = new Thresholds(0.9, 20, 1.5, List.of());

  public Thresholds {
    expectedConnectors = List.copyOf(expectedConnectors);
  }
}
