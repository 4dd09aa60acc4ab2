package dev.sluice.health;

/** How one probe ended, before rise/fall smoothing. */
public enum ProbeOutcome {
  /** Every step answered as a healthy server would. */
  OK,
  /** A 4xx at MAIL FROM or RCPT TO: the server is alive but refusing this kind of sender. */
  BACK_PRESSURE,
  /** Connect, banner, EHLO, STARTTLS failure or any timeout. */
  FAILED,
  /**
   * A 5xx to the probe's MAIL FROM or RCPT TO: the probe itself is wrong for this server (sender or
   * recipient refused permanently). Counted as a failure so a server is never silently trusted, and
   * reported with the profile name so the operator fixes the probe.
   */
  MISCONFIGURED;

  /** The state this outcome leads to once it has repeated {@code fall} times. */
  HealthState failureState() {
    return this == BACK_PRESSURE ? HealthState.DEGRADED : HealthState.DOWN;
  }
}
