package dev.sluice.balance;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Shared core of the "least loaded relative to weight" algorithms: picks the candidate with the
 * lowest {@code load(b) / weight}, starting the scan at a rotating position so that ties (typically
 * several idle backends) are shared in turn rather than always going to the first.
 *
 * <p>Thread-safe: the only shared state is the rotation counter.
 */
abstract sealed class RotatingMinimumSelector implements Selector
    permits WeightedLeastConnections, LeastLatency {
  private final AtomicInteger rotation = new AtomicInteger();

  /** The backend's load, ≥ 0; the selector divides it by the effective weight. */
  abstract double load(Backend b);

  @Override
  public final Backend select(List<Backend> candidates, double[] weights, SelectionKey key) {
    int n = candidates.size();
    int start = Math.floorMod(rotation.getAndIncrement(), n);
    int best = start;
    double bestLoad = load(candidates.get(start));
    double bestWeight = weights[start];
    for (int step = 1; step < n; step++) {
      int i = start + step;
      if (i >= n) {
        i -= n;
      }
      double l = load(candidates.get(i));
      // l / w < bestLoad / bestWeight, cross-multiplied: no division on the hot path, and exact
      // for integral loads and weights, so equal ratios really tie.
      if (l * bestWeight < bestLoad * weights[i]) {
        best = i;
        bestLoad = l;
        bestWeight = weights[i];
      }
    }
    return candidates.get(best);
  }
}
