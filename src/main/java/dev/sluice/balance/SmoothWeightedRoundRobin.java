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
   * One pick in which only the candidates whose position passes {@code among} (at least one must)
   * may win. Every candidate still gains its weight and the winner loses the total of all of them,
   * so a backend passed over because it was busy is owed its turns and gets them once it is
   * eligible again: shares follow the weights over time, whatever the order of the candidates.
   * What a backend can be owed or owe is capped at the total weight, so a long exclusion does not
   * end in a burst. With every candidate eligible this is exactly {@link #select}.
   * {@link LeastLoadSelector} settles its ties with it.
   */
  synchronized Backend selectAmong(List<Backend> candidates, double[] weights, IntPredicate among) {
    int n = candidates.size();
    double total = 0;
    int best = -1;
    double bestCurrent = Double.NEGATIVE_INFINITY;
    boolean everyone = true;
    for (int i = 0; i < n; i++) {
      int index = candidates.get(i).index();
      double c = current[index] + weights[i];
      current[index] = c;
      total += weights[i];
      if (!among.test(i)) {
        everyone = false;
      } else if (c > bestCurrent) {
        // Strictly greater: the first of equals wins, as in nginx, which makes 5:1:1 give a a b a c a a.
        bestCurrent = c;
        best = i;
      }
    }
    Backend chosen = candidates.get(best);
    current[chosen.index()] -= total;
    if (!everyone) {
      for (int i = 0; i < n; i++) {
        int index = candidates.get(i).index();
        current[index] = Math.max(-total, Math.min(total, current[index]));
      }
    }
    return chosen;
  }
}
