package dev.sluice.balance;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Shared core of the "least loaded relative to weight" algorithms: picks the candidate with the
 * lowest {@code load(b) / weight}. When several tie (typically idle backends), they take turns: a
 * rotating counter chooses which of the tied candidates wins, so each gets an equal share however
 * the tied ones sit among the others.
 *
 * <p>Thread-safe: the only shared state is the rotation counter, touched only on ties.
 */
abstract sealed class RotatingMinimumSelector implements Selector
    permits WeightedLeastConnections, LeastLatency {
  private final AtomicInteger rotation = new AtomicInteger();

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
    if (ties == 1) {
      return candidates.get(best);
    }
    // Second pass for the turn-th of the tied. Loads may have moved meanwhile (other event loops);
    // if the tie has dissolved before the turn-th is found, the first minimum is still a fine pick.
    int turn = Math.floorMod(rotation.getAndIncrement(), ties);
    for (int i = best; i < n; i++) {
      if (load(candidates.get(i)) * bestWeight == bestLoad * weights[i] && turn-- == 0) {
        return candidates.get(i);
      }
    }
    return candidates.get(best);
  }
}
