package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The idle decision on a fake clock: one check per call, as the event loop would run them. */
class IdleWatchTest {
  static final long SECOND = 1_000_000_000L;
  final AtomicLong now = new AtomicLong(1000 * SECOND);
  final AtomicLong activity = new AtomicLong();
  final AtomicInteger idleCalls = new AtomicInteger();

  IdleWatch watch(boolean endsSession) {
    return new IdleWatch(null, Duration.ofSeconds(8), activity::get, () -> {
      idleCalls.incrementAndGet();
      return endsSession;
    }, now::get);
  }

  /** Advances the clock by one check interval (an eighth of the timeout) and runs a check. */
  boolean step(IdleWatch w) {
    now.addAndGet(SECOND);
    return w.quietTooLong();
  }

  @Test
  void aQuietSessionEndsAtTheFirstCheckAfterTheTimeout() {
    IdleWatch w = watch(true);
    for (int i = 1; i < 8; i++) {
      assertThat(step(w)).as("check %d, %d s quiet", i, i).isFalse();
    }
    assertThat(step(w)).as("8 s quiet").isTrue();
    assertThat(idleCalls).hasValue(1);
  }

  @Test
  void activityBetweenChecksStartsTheQuietPeriodAgain() {
    IdleWatch w = watch(true);
    for (int i = 0; i < 100; i++) {
      activity.incrementAndGet();
      assertThat(step(w)).isFalse();
    }
    // Quiet from the last check that saw activity: the timeout counts from there.
    for (int i = 1; i < 8; i++) {
      assertThat(step(w)).isFalse();
    }
    assertThat(step(w)).isTrue();
    assertThat(idleCalls).hasValue(1);
  }

  @Test
  void aSessionThatDeclinesGetsAFullPeriodBeforeItIsAskedAgain() {
    IdleWatch w = watch(false); // e.g. waiting for a backend reply
    for (int i = 0; i < 8; i++) {
      step(w);
    }
    assertThat(idleCalls).hasValue(1);
    for (int i = 1; i < 8; i++) {
      assertThat(step(w)).isFalse();
    }
    assertThat(idleCalls).as("not asked again within the next period").hasValue(1);
    assertThat(step(w)).as("declined again").isFalse();
    assertThat(idleCalls).hasValue(2);
  }

  @Test
  void noWatchWithoutATimeout() {
    assertThat(IdleWatch.start(null, Duration.ZERO, activity::get, () -> true)).isNull();
  }
}
