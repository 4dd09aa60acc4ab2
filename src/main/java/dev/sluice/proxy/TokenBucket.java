package dev.sluice.proxy;

import dev.sluice.config.ListenerConfig;

/**
 * A token bucket for one client under a {@link ListenerConfig.Rate}: it holds at most {@code
 * count} tokens and refills continuously, {@code count} per period ({@code 60/m}: a burst of 60,
 * then one a second). Used for {@code connection_rate} and {@code auth_failures}.
 *
 * <p>Not thread-safe: callers touch a bucket only inside their map's atomic compute functions.
 */
class TokenBucket {
  private double tokens;
  private long refilledAt;

  /** A full bucket at {@code now} (nanoseconds). */
  TokenBucket(ListenerConfig.Rate rate, long now) {
    this.tokens = rate == null ? 0 : rate.count();
    this.refilledAt = now;
  }

  /** Adds what the time since the last refill earned, up to the bucket's size. */
  final void refill(ListenerConfig.Rate rate, long now) {
    double perNano = rate.count() / (double) rate.per().toNanos();
    tokens = Math.min(rate.count(), tokens + (now - refilledAt) * perNano);
    refilledAt = now;
  }

  /** Whether a whole token is there. */
  final boolean hasToken() {
    return tokens >= 1;
  }

  /** Takes one token (none below zero). */
  final void take() {
    tokens = Math.max(0, tokens - 1);
  }

  /** Whether the bucket is full again: then it is the same as no bucket, and may be dropped. */
  final boolean full(ListenerConfig.Rate rate) {
    return rate == null || tokens >= rate.count();
  }

  /** Tokens left (to drop the fullest first). */
  final double tokens() {
    return tokens;
  }
}
