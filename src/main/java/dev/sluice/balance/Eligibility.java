package dev.sluice.balance;

/**
 * Whether a backend may receive new work for the calling listener, and since when.
 *
 * <p>Supplied per call to {@link PoolBalancer#select} by whoever owns health state (a backend can be
 * healthy under one listener's health profile and not under another's). The answer's time feeds
 * slow start: a backend eligible for less than the pool's {@code slow_start} gets a reduced weight.
 *
 * <p>Implementations are called from event loops concurrently and should be cheap (a volatile read):
 * {@link PoolBalancer#select} calls it once per backend in the tiers it examines.
 */
@FunctionalInterface
public interface Eligibility {
  /** The backend must not be chosen (down, ejected, draining). */
  long NOT_ELIGIBLE = Long.MIN_VALUE;

  /** The backend is eligible and was never down, so it gets full weight at once (no ramp). */
  long ALWAYS = Long.MIN_VALUE + 1;

  /** Every backend eligible at full weight, for pools without health checks and for tests. */
  Eligibility ALL = b -> ALWAYS;

  /**
   * @return {@link #NOT_ELIGIBLE}, {@link #ALWAYS}, or the time (on the balancer's nano clock) since
   *     which {@code b} has been continuously eligible
   */
  long eligibleSince(Backend b);
}
