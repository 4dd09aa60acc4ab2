package dev.sluice.balance;

import java.util.List;
import java.util.random.RandomGenerator;

/**
 * {@code random_two}: the power of two choices. Draws two distinct candidates at random, each with
 * probability proportional to its weight, and keeps the one with the lower {@code active() /
 * weight}. Nearly as even as least-connections, yet concurrent pickers (several event loops, several
 * Sluice nodes) do not all pile onto the same momentarily least-loaded backend.
 *
 * <p>Thread-safe: the generator need not be (a seeded {@link java.util.SplittableRandom} is fine);
 * its two draws per pick are taken under a short lock, the rest runs unlocked.
 */
public final class PowerOfTwoChoices implements Selector {
  private final RandomGenerator random;

  public PowerOfTwoChoices(RandomGenerator random) {
    this.random = random;
  }

  @Override
  public Backend select(List<Backend> candidates, double[] weights, SelectionKey key) {
    int n = candidates.size();
    if (n == 1) {
      return candidates.get(0);
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
      total += weights[i];
    }
    double u1;
    double u2;
    // Locking the generator itself, not a private lock, also covers one generator shared by
    // several selectors.
    synchronized (random) {
      u1 = random.nextDouble();
      u2 = random.nextDouble();
    }
    int first = sample(weights, n, u1 * total, -1);
    // Second draw without the first: its weight leaves the total, so the pair stays distinct.
    int second = sample(weights, n, u2 * (total - weights[first]), first);
    Backend a = candidates.get(first);
    Backend b = candidates.get(second);
    // a.active / wa <= b.active / wb, cross-multiplied; ties keep the first draw (already random).
    return (double) a.active() * weights[second] <= (double) b.active() * weights[first] ? a : b;
  }

  /**
   * The index whose cumulative weight range holds {@code target}, skipping {@code skip}. Falls back
   * to the last non-skipped index when rounding leaves {@code target} just past the end.
   */
  private static int sample(double[] weights, int n, double target, int skip) {
    int last = -1;
    for (int i = 0; i < n; i++) {
      if (i == skip) {
        continue;
      }
      last = i;
      target -= weights[i];
      if (target < 0) {
        return i;
      }
    }
    return last;
  }
}
