package dev.sluice.health;

import static dev.sluice.health.PassiveHealth.Verdict.ALREADY_EJECTED;
import static dev.sluice.health.PassiveHealth.Verdict.COUNTED;
import static dev.sluice.health.PassiveHealth.Verdict.EJECTED;
import static dev.sluice.health.PassiveHealth.Verdict.KEPT_BY_TIER_CAP;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Backend;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.Location;
import dev.sluice.config.PoolConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class PassiveHealthTest {
  static final long S = 1_000_000_000L;
  final AtomicLong clock = new AtomicLong(1_000 * S);
  final PoolConfig.Passive rules = new PoolConfig.Passive(3, Duration.ofSeconds(10), Duration.ofSeconds(60));

  static List<Backend> backends(int... priorities) {
    List<Backend> out = new ArrayList<>();
    for (int p : priorities) {
      int i = out.size();
      out.add(new Backend("p", new BackendConfig("b" + i, new HostPort("127.0.0.1", 2500 + i), 1, p, Map.of(), Location.NONE), i));
    }
    return out;
  }

  PassiveHealth passive(List<Backend> bs) {
    return new PassiveHealth(rules, bs, clock::get);
  }

  @Test
  void ejectsAfterConsecutiveFailuresAndSuccessBreaksTheRun() {
    List<Backend> bs = backends(1, 1);
    PassiveHealth p = passive(bs);
    Backend b = bs.get(0);
    assertThat(p.failure(b)).isEqualTo(COUNTED);
    assertThat(p.failure(b)).isEqualTo(COUNTED);
    p.success(b);
    assertThat(p.failure(b)).isEqualTo(COUNTED);
    assertThat(p.failure(b)).isEqualTo(COUNTED);
    assertThat(p.failure(b)).isEqualTo(EJECTED);
    assertThat(p.ejected(b)).isTrue();
    assertThat(p.failure(b)).isEqualTo(ALREADY_EJECTED);
    assertThat(p.remainingNanos(b)).isEqualTo(10 * S);
    assertThat(p.remainingText(b)).isEqualTo("10s");
    clock.addAndGet(1_000); // a microsecond later the log still says 10s, not 9999ms
    assertThat(p.remainingText(b)).isEqualTo("10s");
    clock.addAndGet(10 * S - 1_000);
    assertThat(p.ejected(b)).isFalse();
    assertThat(p.returnedAt(b)).isEqualTo(clock.get());
  }

  @Test
  void ejectionTimeDoublesOnRepeatUpToTheCap() {
    List<Backend> bs = backends(1, 1);
    PassiveHealth p = passive(bs);
    Backend b = bs.get(0);
    List<Long> durations = new ArrayList<>();
    for (int round = 0; round < 5; round++) {
      for (int i = 0; i < 3; i++) {
        p.failure(b);
      }
      durations.add(p.remainingNanos(b) / S);
      clock.addAndGet(p.remainingNanos(b) + S); // back, then failing again a second later
    }
    assertThat(durations).containsExactly(10L, 20L, 40L, 60L, 60L);
  }

  @Test
  void backOffStartsOverAfterAQuietPeriod() {
    List<Backend> bs = backends(1, 1);
    PassiveHealth p = passive(bs);
    Backend b = bs.get(0);
    for (int i = 0; i < 3; i++) {
      p.failure(b);
    }
    clock.addAndGet(10 * S);
    for (int i = 0; i < 3; i++) {
      p.failure(b);
    }
    assertThat(p.remainingNanos(b)).isEqualTo(20 * S);
    clock.addAndGet(20 * S + 61 * S); // more than max_eject_for without trouble
    for (int i = 0; i < 3; i++) {
      p.failure(b);
    }
    assertThat(p.remainingNanos(b)).isEqualTo(10 * S);
  }

  @Test
  void neverEjectsMoreThanHalfOfATier() {
    List<Backend> bs = backends(1, 1, 1, 1, 2);
    PassiveHealth p = passive(bs);
    List<PassiveHealth.Verdict> last = new ArrayList<>();
    for (Backend b : bs) {
      PassiveHealth.Verdict v = null;
      for (int i = 0; i < 3; i++) {
        v = p.failure(b);
      }
      last.add(v);
    }
    // Tier 1 has four backends: two may go. Tier 2 has one: it may not go at all.
    assertThat(last).containsExactly(EJECTED, EJECTED, KEPT_BY_TIER_CAP, KEPT_BY_TIER_CAP, KEPT_BY_TIER_CAP);
    // Once one returns, another may be ejected.
    clock.addAndGet(10 * S);
    assertThat(p.failure(bs.get(2))).isEqualTo(EJECTED);
  }

  @Test
  void anEjectionEndedByRecoveryStillDoublesTheNextOne() {
    List<Backend> bs = backends(1, 1);
    PassiveHealth p = new PassiveHealth(new PoolConfig.Passive(1, Duration.ofSeconds(10), Duration.ofSeconds(60)), bs, clock::get);
    Backend b = bs.get(0);
    assertThat(p.endEjection(b)).as("not ejected: nothing to end").isFalse();
    assertThat(p.failure(b)).isEqualTo(EJECTED);
    clock.addAndGet(2 * S);
    assertThat(p.endEjection(b)).isTrue();
    assertThat(p.ejected(b)).isFalse();
    assertThat(p.returnedAt(b)).as("back now: slow start counts from here").isEqualTo(clock.get());
    assertThat(p.endEjection(b)).isFalse();
    assertThat(p.failure(b)).isEqualTo(EJECTED);
    assertThat(p.remainingText(b)).isEqualTo("20s");
  }
}
