package dev.sluice.health;

/**
 * The rise/fall state machine for one backend under one profile. Pure: the caller passes the time.
 *
 * <p>Rules: the first finished probe decides the state at once (so a fresh Sluice serves as soon
 * as its backends answer); after that, {@code fall} consecutive bad probes leave {@link
 * HealthState#UP} and {@code rise} consecutive clean probes return to it. Among the non-eligible
 * states, the latest bad outcome decides between DOWN and DEGRADED at once, since it changes no
 * traffic and the operator should see the current cause.
 *
 * <p>Not thread-safe: each tracker is owned by the event loop that runs its probes.
 */
public final class HealthTracker {
  private final int rise;
  private final int fall;
  private HealthState state = HealthState.UNKNOWN;
  private long since;
  private int goodRun;
  private int badRun;

  public HealthTracker(int rise, int fall, long nowNanos) {
    if (rise < 1 || fall < 1) {
      throw new IllegalArgumentException("rise and fall must be >= 1");
    }
    this.rise = rise;
    this.fall = fall;
    this.since = nowNanos;
  }

  public HealthState state() {
    return state;
  }

  /** Nano time of the last state change (or of creation). */
  public long since() {
    return since;
  }

  /**
   * Records one probe outcome.
   *
   * @return the previous state when this outcome changed the state, else null
   */
  public HealthState record(ProbeOutcome outcome, long nowNanos) {
    HealthState next = next(outcome);
    if (next == state) {
      return null;
    }
    HealthState previous = state;
    state = next;
    since = nowNanos;
    return previous;
  }

  private HealthState next(ProbeOutcome outcome) {
    if (outcome == ProbeOutcome.OK) {
      badRun = 0;
      goodRun++;
      if (state == HealthState.UNKNOWN || goodRun >= rise) {
        return HealthState.UP;
      }
      return state;
    }
    goodRun = 0;
    badRun++;
    if (state == HealthState.UP) {
      return badRun >= fall ? outcome.failureState() : HealthState.UP;
    }
    return outcome.failureState();
  }
}
