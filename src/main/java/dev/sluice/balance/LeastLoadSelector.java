package dev.sluice.balance;

import java.util.List;

/**
 * Shared core of the "least loaded relative to weight" algorithms: picks the candidate with the
 * lowest {@code load(b) / weight}. Candidates that tie (above all idle ones, which is every
 * backend when mail arrives one message at a time) are picked by smooth weighted round robin among
 * themselves, so weights 3:1 still give 75% and 25% when nothing is ever busy, and equal weights
 * alternate. nginx's {@code least_conn} breaks ties the same way.
 *
 * <p>Ties go to a {@link SmoothWeightedRoundRobin} of its own (state per backend), which only
 * ties touch.
 *
 * <p>Thread-safe: loads are read without coordination (concurrent picks may see the same figure
 * and choose the same backend; the next pick corrects it); a tie is settled in one short
 * synchronized pass.
 */
abstract sealed class LeastLoadSelector implements Selector permits WeightedLeastConnections, LeastLatency {
  private final SmoothWeightedRoundRobin tieBreak;

  /** @param poolSize number of backends in the pool; every {@link Backend#index()} is below it */
  LeastLoadSelector(int poolSize) {
    this.tieBreak = new SmoothWeightedRoundRobin(poolSize);
  }

  /** The backend's load, ≥ 0; the selector divides it by the effective weight. */
  abstract double load(Backend b);

  @Override
  public final Backend select(List<Backend> candidates, double[] weights, SelectionKey key) {
    int n = candidates.size();
    int best = 0;
    double bestLoad = load(candidates.get(0));
    double bestWeight = weights[0];
    int ties = 1;
    for (int i = 1; i < n; i++) {
      double l = load(candidates.get(i));
      // Compares l / w with bestLoad / bestWeight cross-multiplied: no division on the hot path,
      // and exact for integral loads and weights, so equal ratios really tie.
      double lhs = l * bestWeight;
      double rhs = bestLoad * weights[i];
      if (lhs < rhs) {
        best = i;
        bestLoad = l;
        bestWeight = weights[i];
        ties = 1;
      } else if (lhs == rhs) {
        ties++;
      }
    }
    return ties == 1 ? candidates.get(best) : amongTied(candidates, weights, best, bestLoad, bestWeight);
  }

  /**
   * Smooth weighted round robin over the candidates from {@code best} on whose ratio equals the
   * minimum. Loads may have moved since the first pass (other event loops); whatever still ties
   * takes part, and {@code best} always does.
   */
  private Backend amongTied(List<Backend> candidates, double[] weights, int best, double bestLoad, double bestWeight) {
    return tieBreak.selectAmong(candidates, weights,
        i -> i == best || i > best && load(candidates.get(i)) * bestWeight == bestLoad * weights[i]);
  }
}
