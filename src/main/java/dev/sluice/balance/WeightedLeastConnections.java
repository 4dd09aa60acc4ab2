package dev.sluice.balance;

/**
 * {@code least_connections}: the candidate with the fewest sessions or transactions in progress
 * relative to its weight ({@code active() / weight}); ties, such as idle backends, go by smooth
 * weighted round robin. So a backend of weight 2 carries about twice the concurrent work of one of
 * weight 1 under load, and twice the messages when they come one at a time. (Counting the one
 * being placed, {@code (active() + 1) / weight}, never ties between unequal weights: mail arriving
 * one message at a time all went to the heaviest backend.)
 *
 * <p>Thread-safe; lock-free except for ties (see {@link LeastLoadSelector}).
 */
public final class WeightedLeastConnections extends LeastLoadSelector {
  /** @param poolSize number of backends in the pool; every {@link Backend#index()} is below it */
  public WeightedLeastConnections(int poolSize) {
    super(poolSize);
  }

  @Override
  double load(Backend b) {
    return b.active();
  }
}
