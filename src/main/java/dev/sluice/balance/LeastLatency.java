package dev.sluice.balance;

/**
 * {@code least_latency}: the candidate with the lowest {@code latencyEwma × (active() + 1) /
 * weight}, i.e. the expected wait behind the work already queued there, scaled by capacity. A
 * backend with no latency sample yet scores 0 and is therefore preferred, so it gets measured
 * instead of being judged on nothing; ties (including several unmeasured backends) rotate.
 *
 * <p>Thread-safe; lock-free (see {@link WeightedLeastConnections} on stale figures).
 */
public final class LeastLatency extends RotatingMinimumSelector {
  @Override
  double load(Backend b) {
    return (double) b.latencyEwmaNanos() * (b.active() + 1);
  }
}
