package dev.sluice.balance;

import static dev.sluice.balance.Pools.counts;
import static dev.sluice.balance.Pools.ipv4;
import static dev.sluice.balance.Pools.picks;
import static dev.sluice.balance.Pools.weighted;
import static dev.sluice.balance.Pools.weightsOf;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SmoothWeightedRoundRobinTest {
  private static List<String> run(List<Backend> backends, int n) {
    SmoothWeightedRoundRobin rr = new SmoothWeightedRoundRobin(backends.size());
    double[] weights = weightsOf(backends);
    return picks(n, i -> rr.select(backends, weights, ipv4(i)));
  }

  @Test
  void weights_5_1_1_give_nginx_sequence_repeating() {
    List<String> cycle = List.of("a", "a", "b", "a", "c", "a", "a");

    List<String> picked = run(weighted(5, 1, 1), 7 * 100);

    for (int c = 0; c < 100; c++) {
      assertThat(picked.subList(c * 7, c * 7 + 7)).as("cycle %d", c).isEqualTo(cycle);
    }
  }

  @Test
  void equal_weights_alternate() {
    List<String> picked = run(weighted(1, 1), 1000);

    assertThat(picked.subList(0, 4)).containsExactly("a", "b", "a", "b");
    assertThat(counts(picked)).isEqualTo(Map.of("a", 500, "b", 500));
  }

  @Test
  void weights_3_1_interleave_and_keep_the_exact_ratio() {
    List<String> picked = run(weighted(3, 1), 4000);

    assertThat(picked.subList(0, 8)).containsExactly("a", "a", "b", "a", "a", "a", "b", "a");
    assertThat(counts(picked)).isEqualTo(Map.of("a", 3000, "b", 1000));
    // Smooth: b never waits more than one cycle, a never runs more than 3 in a row.
    assertThat(String.join("", picked)).doesNotContain("aaaa").doesNotContain("bb");
  }

  @Test
  void fractional_weights_keep_their_ratio() {
    List<Backend> backends = weighted(1, 1);
    SmoothWeightedRoundRobin rr = new SmoothWeightedRoundRobin(2);
    double[] weights = {2.5, 0.5}; // slow start scales weights to non-integers

    List<String> picked = picks(6000, i -> rr.select(backends, weights, ipv4(i)));

    assertThat(counts(picked)).isEqualTo(Map.of("a", 5000, "b", 1000));
  }

  @Test
  void state_is_per_backend_and_survives_a_candidate_leaving_and_returning() {
    List<Backend> all = weighted(5, 1, 1);
    SmoothWeightedRoundRobin rr = new SmoothWeightedRoundRobin(3);
    double[] weights = weightsOf(all);
    List<String> picked = picks(3, i -> rr.select(all, weights, ipv4(i)));
    assertThat(picked).containsExactly("a", "a", "b");

    // c leaves for a while; a and b share 5:1 on their own.
    List<Backend> withoutC = all.subList(0, 2);
    List<String> meanwhile = picks(600, i -> rr.select(withoutC, weights, ipv4(i)));
    assertThat(counts(meanwhile)).isEqualTo(Map.of("a", 500, "b", 100));

    // c returns with the credit it had (a and b's sum is back where it was after each 6-pick
    // cycle), so the 5:1:1 cycle resumes exactly where it stopped: a c a a | a a b a c a a.
    List<String> resumed = picks(4 + 7 * 10, i -> rr.select(all, weights, ipv4(i)));
    assertThat(resumed.subList(0, 4)).containsExactly("a", "c", "a", "a");
    assertThat(counts(resumed.subList(4, resumed.size())))
        .isEqualTo(Map.of("a", 50, "b", 10, "c", 10));
  }

  @Test
  void candidate_order_does_not_matter_to_the_per_backend_state() {
    List<Backend> all = weighted(5, 1, 1);
    List<Backend> reversed = new java.util.ArrayList<>(all);
    Collections.reverse(reversed);
    SmoothWeightedRoundRobin rr = new SmoothWeightedRoundRobin(3);

    List<String> picked = picks(700, i -> rr.select(reversed, weightsOf(reversed), ipv4(i)));

    assertThat(counts(picked)).isEqualTo(Map.of("a", 500, "b", 100, "c", 100));
  }
}
