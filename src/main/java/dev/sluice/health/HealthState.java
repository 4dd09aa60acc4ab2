package dev.sluice.health;

/**
 * The health of one backend under one health profile (DESIGN §6). Only {@link #UP} is eligible
 * for traffic.
 */
public enum HealthState {
  /** No probe has finished yet. Not eligible. */
  UNKNOWN,
  /** {@code rise} consecutive clean probes. */
  UP,
  /** Back pressure: a 4xx at MAIL FROM or RCPT TO on {@code fall} consecutive probes. */
  DEGRADED,
  /** Connect, banner, EHLO or TLS failures (or timeouts) on {@code fall} consecutive probes. */
  DOWN
}
