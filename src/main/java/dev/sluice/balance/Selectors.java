package dev.sluice.balance;

import dev.sluice.config.PoolConfig;
import java.util.random.RandomGenerator;

/** Creates the {@link Selector} for a pool's configured {@code algorithm}. */
public final class Selectors {
  private Selectors() {}

  /**
   * @param poolSize number of backends in the pool (indices 0 .. poolSize-1)
   * @param random randomness for {@code random_two}; need not be thread-safe
   */
  public static Selector forAlgorithm(
      PoolConfig.Algorithm algorithm, int poolSize, RandomGenerator random) {
    return switch (algorithm) {
      case ROUND_ROBIN -> new SmoothWeightedRoundRobin(poolSize);
      case LEAST_CONNECTIONS -> new WeightedLeastConnections(poolSize);
      case SOURCE_HASH -> new ConsistentSourceHash();
      case RANDOM_TWO -> new PowerOfTwoChoices(random);
      case LEAST_LATENCY -> new LeastLatency(poolSize);
    };
  }
}
