package dev.sluice.balance;

import java.util.List;
import java.util.function.IntPredicate;

/**
 * {@code round_robin}: nginx's smooth weighted round robin. On each pick every candidate's
 * {@code current} grows by its weight, the largest wins and loses the total of the weights. Weights
 * 5:1:1 give {@code a a b a c a a}: the ratio is exact over each cycle and picks of one backend are
 * spread out rather than bunched.
 *
 * <p>{@code current} is kept per backend (by {@link Backend#index()}), not per candidate position,
 * so a backend that leaves the candidate set and returns resumes where it was and the others are not
 * reshuffled.
 *
 * <p>Thread-safe: a pick is one short synchronized pass over the candidates.
 */
public final class SmoothWeightedRoundRobin implements Selector {
  private final double[] current;

  /** @param poolSize number of backends in the pool; every {@link Backend#index()} is below it */
  public SmoothWeightedRoundRobin(int poolSize) {
    this.current = new double[poolSize];
  }

  @Override
  public Backend select(List<Backend> candidates, double[] weights, SelectionKey key) {
    return selectAmong(candidates, weights, i -> true);
  }

  /**
   * One pick among the candidates whose position passes {@code among} (at least one must); the
   * others neither gain nor lose. {@link LeastLoadSelector} settles its ties with it.
   */
  synchronized Backend selectAmong(List<Backend> candidates, double[] weights, IntPredicate among) {
    int n = candidates.size();
    double total = 0;
    int best = -1;
    double bestCurrent = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      if (!among.test(i)) {
        continue;
      }
      int index = candidates.get(i).index();
      double c = current[index] + weights[i];
      current[index] = c;
      total += weights[i];
      // Strictly greater: the first of equals wins, as in nginx, which makes 5:1:1 give a a b a c a a.
      if (c > bestCurrent) {
        bestCurrent = c;
        best = i;
      }
    }
    Backend chosen = candidates.get(best);
    current[chosen.index()] -= total;
    return chosen;
  }
}
