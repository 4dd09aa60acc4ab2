package dev.sluice.config;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/** A named set of backends with its scheduling algorithm, persistence and passive-health rules. */
public record PoolConfig(
    String name,
    Algorithm algorithm,
    Persistence persistence,
    DeferralAffinity deferralAffinity,
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
   * {@code deferral_affinity}: in smtp mode, a sender that one backend deferred with a temporary
   * verdict on the message (greylisting's {@code 450 4.2.0}, {@code 451 4.7.1}) goes back to that
   * backend, from the same client network, for {@code ttl} after the deferral, so its retry meets
   * the backend that remembers it. {@link #OFF} ({@code deferral_affinity: none}) turns it off;
   * {@code maxEntries} bounds the table.
   */
  public record DeferralAffinity(Duration ttl, int maxEntries) {
    public static final DeferralAffinity OFF = new DeferralAffinity(Duration.ZERO, 0);

    public boolean enabled() {
      return maxEntries > 0;
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
