package dev.sluice.balance;

import static dev.sluice.balance.Pools.counts;
import static dev.sluice.balance.Pools.ipv4;
import static dev.sluice.balance.Pools.numbered;
import static dev.sluice.balance.Pools.picks;
import static dev.sluice.balance.Pools.weighted;
import static dev.sluice.balance.Pools.weightsOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PowerOfTwoChoicesTest {
  private static final long SEED = 0x5eed_0001L;

  @Test
  void of_two_backends_always_takes_the_less_loaded() {
    List<Backend> backends = weighted(1, 1);
    WeightedLeastConnectionsTest.activate(backends.get(0), 3);
    PowerOfTwoChoices p2c = new PowerOfTwoChoices(new SplittableRandom(SEED));

    List<String> picked = picks(100, i -> p2c.select(backends, weightsOf(backends), ipv4(i)));

    assertThat(picked).as("seed %d", SEED).containsOnly("b");
  }

  @Test
  void never_picks_the_most_loaded_of_several() {
    List<Backend> backends = numbered(5);
    for (int i = 0; i < 5; i++) {
      WeightedLeastConnectionsTest.activate(backends.get(i), i); // b4 is the busiest
    }
    PowerOfTwoChoices p2c = new PowerOfTwoChoices(new SplittableRandom(SEED));

    Map<String, Integer> counts =
        counts(picks(10_000, i -> p2c.select(backends, weightsOf(backends), ipv4(i))));

    // Rank r (0 = least loaded) wins when drawn with a busier one: P = (4 - r) / C(5,2).
    assertThat(counts).as("seed %d", SEED).doesNotContainKey("b4");
    assertThat(counts.get("b0") / 10_000.0).as("seed %d", SEED).isCloseTo(0.4, within(0.02));
    assertThat(counts.get("b3") / 10_000.0).as("seed %d", SEED).isCloseTo(0.1, within(0.02));
  }

  @Test
  void samples_by_weight_when_loads_tie() {
    List<Backend> backends = weighted(1, 1, 8);
    WeightedLeastConnectionsTest.activate(backends.get(2), 8);
    // All at active/weight = 0 except c at 1: c never wins; a and b split evenly.
    PowerOfTwoChoices p2c = new PowerOfTwoChoices(new SplittableRandom(SEED));

    Map<String, Integer> counts =
        counts(picks(10_000, i -> p2c.select(backends, weightsOf(backends), ipv4(i))));

    assertThat(counts).as("seed %d", SEED).doesNotContainKey("c");
    assertThat(counts.get("a") / 10_000.0).as("seed %d", SEED).isCloseTo(0.5, within(0.03));
  }

  @Test
  void draws_two_distinct_candidates_in_proportion_to_weight() {
    // a is by far the busiest, so it can only win if both draws were a: that must never happen.
    List<Backend> backends = weighted(6, 3, 1);
    WeightedLeastConnectionsTest.activate(backends.get(0), 60); // a: 60/6 = 10; b, c: 0
    PowerOfTwoChoices p2c = new PowerOfTwoChoices(new SplittableRandom(SEED));

    Map<String, Integer> counts =
        counts(picks(20_000, i -> p2c.select(backends, weightsOf(backends), ipv4(i))));

    assertThat(counts).as("seed %d", SEED).doesNotContainKey("a");
    // b and c tie, so the first draw wins between them. b wins when drawn first (.3), or when a
    // is drawn first (.6) and b second (3 of the remaining 4): .3 + .6 × 3/4 = .75.
    assertThat(counts.get("b") / 20_000.0).as("seed %d", SEED).isCloseTo(0.75, within(0.015));
  }

  @Test
  void a_single_candidate_needs_no_draw() {
    List<Backend> one = weighted(1);
    assertThat(new PowerOfTwoChoices(new SplittableRandom(SEED)).select(one, new double[] {1}, ipv4(0)))
        .isSameAs(one.get(0));
  }
}
