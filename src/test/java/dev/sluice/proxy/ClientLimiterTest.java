package dev.sluice.proxy;

import static dev.sluice.proxy.ClientLimiter.Admission.ADMITTED;
import static dev.sluice.proxy.ClientLimiter.Admission.RATE_EXCEEDED;
import static dev.sluice.proxy.ClientLimiter.Admission.TOO_MANY_CONNECTIONS;
import static dev.sluice.proxy.ClientLimiter.Admission.TOO_MANY_FROM_CLIENT;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.ListenerConfig;
import dev.sluice.testing.Loopback;
import java.net.InetAddress;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ClientLimiterTest {
  final AtomicLong clock = new AtomicLong(1_000_000_000_000L);
  static final InetAddress A = Loopback.client(10);
  static final InetAddress B = Loopback.client(11);

  ClientLimiter limiter(int max, int perClient, ListenerConfig.Rate rate) {
    return new ClientLimiter(new ListenerConfig.Limits(max, perClient, rate, 1000, 10, Duration.ofMinutes(5), null), clock::get);
  }

  @Test
  void totalLimitHoldsAndFreesOnRelease() {
    ClientLimiter l = limiter(2, 0, null);
    assertThat(l.admit(A)).isEqualTo(ADMITTED);
    assertThat(l.admit(B)).isEqualTo(ADMITTED);
    assertThat(l.admit(B)).isEqualTo(TOO_MANY_CONNECTIONS);
    l.release(A);
    assertThat(l.admit(B)).isEqualTo(ADMITTED);
    assertThat(l.open()).isEqualTo(2);
  }

  @Test
  void perClientLimitDoesNotTouchOtherClients() {
    ClientLimiter l = limiter(0, 2, null);
    assertThat(l.admit(A)).isEqualTo(ADMITTED);
    assertThat(l.admit(A)).isEqualTo(ADMITTED);
    assertThat(l.admit(A)).isEqualTo(TOO_MANY_FROM_CLIENT);
    assertThat(l.admit(B)).isEqualTo(ADMITTED);
    l.release(A);
    assertThat(l.admit(A)).isEqualTo(ADMITTED);
    assertThat(l.open()).isEqualTo(3);
  }

  @Test
  void rateAllowsABurstThenRefillsOverTime() {
    ClientLimiter l = limiter(0, 0, new ListenerConfig.Rate(3, Duration.ofSeconds(3)));
    for (int i = 0; i < 3; i++) {
      assertThat(l.admit(A)).isEqualTo(ADMITTED);
      l.release(A);
    }
    assertThat(l.admit(A)).isEqualTo(RATE_EXCEEDED);
    assertThat(l.admit(B)).as("another client has its own bucket").isEqualTo(ADMITTED);
    clock.addAndGet(Duration.ofMillis(1100).toNanos());
    assertThat(l.admit(A)).isEqualTo(ADMITTED);
    assertThat(l.admit(A)).isEqualTo(RATE_EXCEEDED);
  }

  @Test
  void stateIsForgottenWhenAClientIsIdleWithAFullBucket() {
    ClientLimiter l = limiter(0, 5, new ListenerConfig.Rate(2, Duration.ofSeconds(2)));
    assertThat(l.admit(A)).isEqualTo(ADMITTED);
    l.release(A);
    assertThat(l.trackedClients()).isEqualTo(1);
    clock.addAndGet(Duration.ofSeconds(2).toNanos());
    assertThat(l.admit(A)).isEqualTo(ADMITTED);
    l.release(A);
    clock.addAndGet(Duration.ofSeconds(2).toNanos());
    assertThat(l.admit(B)).isEqualTo(ADMITTED);
    l.release(B);
    assertThat(l.trackedClients()).isLessThanOrEqualTo(2);
    assertThat(l.open()).isZero();
  }
}
