package dev.sluice.health;

import dev.sluice.balance.Backend;
import dev.sluice.balance.Eligibility;
import dev.sluice.config.HealthProfile;

/**
 * One backend judged under one {@link ProbeKey}: its tracker, last result and the figures the data
 * path reads. Written only by the event loop that runs its probes; read by any thread through the
 * volatile fields.
 */
public final class ProbeTarget {
  private final ProbeKey key;
  private final Backend backend;
  private final HealthProfile profile;
  final HealthTracker tracker;
  private volatile HealthState state = HealthState.UNKNOWN;
  private volatile long eligibleSince = Eligibility.NOT_ELIGIBLE;
  private volatile ProbeResult last;
  private volatile boolean decided;

  ProbeTarget(ProbeKey key, Backend backend, HealthProfile profile, long nowNanos) {
    this.key = key;
    this.backend = backend;
    this.profile = profile;
    this.tracker = new HealthTracker(profile.rise(), profile.fall(), nowNanos);
  }

  public ProbeKey key() {
    return key;
  }

  public Backend backend() {
    return backend;
  }

  public HealthProfile profile() {
    return profile;
  }

  public HealthState state() {
    return state;
  }

  /** The last finished probe, or null before the first one. */
  public ProbeResult lastResult() {
    return last;
  }

  /** Whether at least one probe has finished. */
  public boolean decided() {
    return decided;
  }

  /** See {@link Eligibility#eligibleSince}. */
  public long eligibleSince() {
    return eligibleSince;
  }

  /** Applies a probe result; returns the previous state when the state changed, else null. */
  HealthState apply(ProbeResult result, long nowNanos) {
    last = result;
    HealthState previous = tracker.record(result.outcome(), nowNanos);
    decided = true;
    if (previous != null) {
      state = tracker.state();
      if (state == HealthState.UP) {
        // Up from the very first probe: serve at full weight. Up after an outage: slow start.
        eligibleSince = previous == HealthState.UNKNOWN ? Eligibility.ALWAYS : nowNanos;
      } else {
        eligibleSince = Eligibility.NOT_ELIGIBLE;
      }
    }
    return previous;
  }
}
