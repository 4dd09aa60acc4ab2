package dev.sluice.balance;

/**
 * {@code least_latency}: the candidate with the lowest {@code latencyEwma × (active() + 1) /
 * weight}, i.e. the expected wait behind the work already queued there, scaled by capacity. A
 * backend with no latency sample yet scores 0 and is therefore preferred, so it gets measured
 * instead of being judged on nothing; ties (several unmeasured backends) go by smooth weighted
 * round robin. Measured backends seldom tie, so weights scale latencies rather than set shares:
 * with mail one message at a time, the backend with the best weighted latency takes each message.
 *
 * <p>Thread-safe; lock-free except for ties (see {@link LeastLoadSelector}).
 */
public final class LeastLatency extends LeastLoadSelector {
  /** @param poolSize number of backends in the pool; every {@link Backend#index()} is below it */
  public LeastLatency(int poolSize) {
    super(poolSize);
  }

  @Override
  double load(Backend b) {
    return (double) b.latencyEwmaNanos() * (b.active() + 1);
  }
}
