package dev.sluice.health;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Backend;
import dev.sluice.balance.Eligibility;
import dev.sluice.config.HealthProfile;
import dev.sluice.config.PoolConfig;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ListenerEligibilityTest {
  static final long S = 1_000_000_000L;
  final AtomicLong clock = new AtomicLong(100 * S);

  ProbeResult result(ProbeOutcome o) {
    return new ProbeResult(o, o.name(), List.of(), 0, null);
  }

  @Test
  void combinesHealthAdminStateAndPassiveEjection() {
    List<Backend> bs = PassiveHealthTest.backends(1, 1);
    Backend b = bs.get(0);
    ProbeKey key = new ProbeKey("external", null);
    ProbeTarget t = new ProbeTarget(key, b, HealthProfile.DEFAULT, clock.get());
    PassiveHealth passive = new PassiveHealth(new PoolConfig.Passive(1, Duration.ofSeconds(10), Duration.ofSeconds(60)), bs, clock::get);
    ListenerEligibility e = new ListenerEligibility(java.util.Arrays.asList(t, null), passive);

    assertThat(e.eligibleSince(b)).as("before any probe").isEqualTo(Eligibility.NOT_ELIGIBLE);
    t.apply(result(ProbeOutcome.OK), clock.get());
    assertThat(e.eligibleSince(b)).as("up from the first probe: no ramp").isEqualTo(Eligibility.ALWAYS);
    assertThat(e.eligibleSince(bs.get(1))).as("not probed under this key").isEqualTo(Eligibility.NOT_ELIGIBLE);

    b.setAdminState(Backend.AdminState.DRAINING);
    assertThat(e.eligibleSince(b)).isEqualTo(Eligibility.NOT_ELIGIBLE);
    b.setAdminState(Backend.AdminState.DISABLED);
    assertThat(e.eligibleSince(b)).isEqualTo(Eligibility.NOT_ELIGIBLE);
    b.setAdminState(Backend.AdminState.ENABLED);

    passive.failure(b);
    assertThat(e.eligibleSince(b)).as("ejected").isEqualTo(Eligibility.NOT_ELIGIBLE);
    clock.addAndGet(10 * S);
    assertThat(e.eligibleSince(b)).as("back from ejection: slow start from then").isEqualTo(clock.get());

    // Down and up again through probes: eligible since the return to UP.
    t.apply(result(ProbeOutcome.FAILED), clock.addAndGet(S));
    t.apply(result(ProbeOutcome.FAILED), clock.addAndGet(S));
    assertThat(t.state()).isEqualTo(HealthState.DOWN);
    assertThat(e.eligibleSince(b)).isEqualTo(Eligibility.NOT_ELIGIBLE);
    t.apply(result(ProbeOutcome.OK), clock.addAndGet(S));
    long upAt = clock.addAndGet(S);
    t.apply(result(ProbeOutcome.OK), upAt);
    assertThat(t.state()).isEqualTo(HealthState.UP);
    assertThat(e.eligibleSince(b)).isEqualTo(upAt);
  }

  @Test
  void knowsWhichProbeTargetsAreItsOwn() {
    List<Backend> bs = PassiveHealthTest.backends(1, 1);
    ProbeTarget mine = new ProbeTarget(new ProbeKey("external", null), bs.get(0), HealthProfile.DEFAULT, clock.get());
    ProbeTarget otherKey = new ProbeTarget(new ProbeKey("internal", null), bs.get(0), HealthProfile.DEFAULT, clock.get());
    ProbeTarget otherBackend = new ProbeTarget(new ProbeKey("external", null), bs.get(1), HealthProfile.DEFAULT, clock.get());
    PassiveHealth passive = new PassiveHealth(new PoolConfig.Passive(1, Duration.ofSeconds(10), Duration.ofSeconds(60)), bs, clock::get);
    ListenerEligibility e = new ListenerEligibility(java.util.Arrays.asList(mine, null), passive);
    assertThat(e.probes(mine)).isTrue();
    assertThat(e.probes(otherKey)).isFalse();
    assertThat(e.probes(otherBackend)).isFalse();
  }
}
