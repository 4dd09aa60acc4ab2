package dev.sluice.config;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/** A named set of backends with its scheduling algorithm, persistence and passive-health rules. */
public record PoolConfig(
    String name,
    Algorithm algorithm,
    Persistence persistence,
    Duration slowStart,
    Passive passive,
    List<BackendConfig> backends,
    Map<String, Location> acknowledge,
    Location location) {

  public PoolConfig {
    backends = List.copyOf(backends);
    acknowledge = Ordered.copyOf(acknowledge);
  }

  /** {@code algorithm}: who gets a new connection or transaction (DESIGN §5). */
  public enum Algorithm {
    ROUND_ROBIN,
    LEAST_CONNECTIONS,
    SOURCE_HASH,
    RANDOM_TWO,
    LEAST_LATENCY
  }

  /**
   * {@code persistence}: whether a returning client goes back to the same backend. Separate from
   * the algorithm on purpose (the seed's pitfall 2). {@code maxEntries} bounds the table.
   */
  public record Persistence(Mode mode, Duration ttl, int maxEntries) {
    public static final Persistence NONE = new Persistence(Mode.NONE, Duration.ZERO, 0);

    public enum Mode {
      NONE,
      SOURCE_IP
    }
  }

  /**
   * {@code passive}: ejection from failures seen in live traffic. {@code ejectFor} doubles on each
   * repeat up to {@code maxEjectFor}.
   */
  public record Passive(int consecutiveFailures, Duration ejectFor, Duration maxEjectFor) {
    public static final Passive DEFAULT =
        new Passive(3, Duration.ofSeconds(30), Duration.ofMinutes(5));
  }
}
