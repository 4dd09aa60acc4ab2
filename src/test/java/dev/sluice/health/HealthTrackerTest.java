package dev.sluice.health;

import static dev.sluice.health.HealthState.DEGRADED;
import static dev.sluice.health.HealthState.DOWN;
import static dev.sluice.health.HealthState.UNKNOWN;
import static dev.sluice.health.HealthState.UP;
import static dev.sluice.health.ProbeOutcome.BACK_PRESSURE;
import static dev.sluice.health.ProbeOutcome.FAILED;
import static dev.sluice.health.ProbeOutcome.MISCONFIGURED;
import static dev.sluice.health.ProbeOutcome.OK;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class HealthTrackerTest {

  /** rise, fall, outcomes, expected state after each outcome. */
  static Stream<Arguments> tables() {
    return Stream.of(
        Arguments.of(2, 2, List.of(OK, OK, OK), List.of(UP, UP, UP)),
        Arguments.of(2, 2, List.of(FAILED, OK, OK), List.of(DOWN, DOWN, UP)),
        Arguments.of(2, 2, List.of(OK, FAILED, OK, FAILED, FAILED), List.of(UP, UP, UP, UP, DOWN)),
        Arguments.of(2, 3, List.of(OK, FAILED, FAILED, FAILED), List.of(UP, UP, UP, DOWN)),
        Arguments.of(1, 1, List.of(OK, BACK_PRESSURE, OK), List.of(UP, DEGRADED, UP)),
        Arguments.of(2, 2, List.of(OK, BACK_PRESSURE, BACK_PRESSURE, OK, OK), List.of(UP, UP, DEGRADED, DEGRADED, UP)),
        // Among non-eligible states the latest cause shows at once.
        Arguments.of(3, 2, List.of(OK, FAILED, FAILED, BACK_PRESSURE, FAILED), List.of(UP, UP, DOWN, DEGRADED, DOWN)),
        // A mixed bad run still counts towards fall; the last outcome names the state.
        Arguments.of(2, 2, List.of(OK, FAILED, BACK_PRESSURE), List.of(UP, UP, DEGRADED)),
        // A good probe in the middle of a recovery run resets it.
        Arguments.of(3, 1, List.of(FAILED, OK, OK, FAILED, OK, OK, OK), List.of(DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, UP)),
        Arguments.of(2, 2, List.of(MISCONFIGURED), List.of(DOWN)),
        Arguments.of(2, 2, List.of(BACK_PRESSURE), List.of(DEGRADED)));
  }

  @ParameterizedTest
  @MethodSource("tables")
  void followsRiseFallTable(int rise, int fall, List<ProbeOutcome> outcomes, List<HealthState> expected) {
    HealthTracker t = new HealthTracker(rise, fall, 0);
    List<HealthState> seen = new ArrayList<>();
    long now = 0;
    for (ProbeOutcome o : outcomes) {
      t.record(o, now += 1000);
      seen.add(t.state());
    }
    assertThat(seen).as("rise=%d fall=%d outcomes=%s", rise, fall, outcomes).isEqualTo(expected);
  }

  @Test
  void reportsPreviousStateAndTimeOfChange() {
    HealthTracker t = new HealthTracker(2, 1, 5);
    assertThat(t.state()).isEqualTo(UNKNOWN);
    assertThat(t.record(OK, 10)).isEqualTo(UNKNOWN);
    assertThat(t.since()).isEqualTo(10);
    assertThat(t.record(OK, 20)).isNull();
    assertThat(t.since()).isEqualTo(10);
    assertThat(t.record(FAILED, 30)).isEqualTo(UP);
    assertThat(t.since()).isEqualTo(30);
  }

  @Test
  void rejectsNonsenseThresholds() {
    assertThatThrownBy(() -> new HealthTracker(0, 1, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new HealthTracker(1, 0, 0)).isInstanceOf(IllegalArgumentException.class);
  }
}
