package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.ListenerConfig;
import dev.sluice.testing.Loopback;
import java.net.InetAddress;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Failed logins per client address, on a fake clock. */
class AuthFailureLimiterTest {
  final AtomicLong clock = new AtomicLong(1_000_000_000L);
  final AuthFailureLimiter limiter = new AuthFailureLimiter(new ListenerConfig.Rate(3, Duration.ofHours(1)), clock::get);
  final InetAddress guesser = Loopback.client(90);
  final InetAddress neighbour = Loopback.client(91);

  @Test
  void theBudgetIsPerAddressAndRefillsOverThePeriod() {
    for (int i = 0; i < 2; i++) {
      limiter.failed(guesser);
      assertThat(limiter.exhausted(guesser)).isFalse();
    }
    limiter.failed(guesser);
    assertThat(limiter.exhausted(guesser)).isTrue();
    assertThat(limiter.exhausted(neighbour)).as("another address").isFalse();
    clock.addAndGet(Duration.ofMinutes(19).toNanos());
    assertThat(limiter.exhausted(guesser)).as("a third of the period has not passed").isTrue();
    clock.addAndGet(Duration.ofMinutes(2).toNanos());
    assertThat(limiter.exhausted(guesser)).as("one login again after 20 minutes").isFalse();
    limiter.failed(guesser);
    assertThat(limiter.exhausted(guesser)).isTrue();
  }

  @Test
  void aClientIsForgottenOnceItsBudgetIsFullAgain() {
    limiter.failed(guesser);
    assertThat(limiter.remembered()).isEqualTo(1);
    clock.addAndGet(Duration.ofHours(1).toNanos());
    assertThat(limiter.exhausted(guesser)).isFalse();
    assertThat(limiter.remembered()).isZero();
  }

  @Test
  void theTableStaysBoundedUnderAFloodOfAddresses() throws Exception {
    byte[] a = {10, 0, 0, 0};
    for (int i = 0; i < AuthFailureLimiter.MAX_CLIENTS + 5_000; i++) {
      a[1] = (byte) (i >> 16);
      a[2] = (byte) (i >> 8);
      a[3] = (byte) i;
      limiter.failed(InetAddress.getByAddress(a));
    }
    limiter.failed(guesser);
    limiter.failed(guesser);
    limiter.failed(guesser);
    assertThat(limiter.remembered()).isLessThanOrEqualTo(AuthFailureLimiter.MAX_CLIENTS);
    assertThat(limiter.exhausted(guesser)).as("the emptiest buckets are the last to go").isTrue();
  }

  @Test
  void withoutALimitNothingIsKept() {
    AuthFailureLimiter none = new AuthFailureLimiter(null, clock::get);
    for (int i = 0; i < 100; i++) {
      none.failed(guesser);
    }
    assertThat(none.exhausted(guesser)).isFalse();
    assertThat(none.remembered()).isZero();
  }
}
