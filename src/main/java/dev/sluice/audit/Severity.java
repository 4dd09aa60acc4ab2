package dev.sluice.audit;

/**
 * How much a finding matters. {@code sluice audit} exits 2 for an unacknowledged {@link #ERROR}, 1
 * for an unacknowledged {@link #WARNING}; {@link #INFO} never changes the exit status.
 */
public enum Severity {
  /** Mail can be lost, relayed for strangers, or the balancer taken over. */
  ERROR,
  /** Mail flows, but not the way the administrator most likely intends (the seed's silent pitfalls). */
  WARNING,
  /** Worth knowing; often a deliberate choice. */
  INFO
}
