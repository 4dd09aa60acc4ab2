package dev.sluice.balance;

import static dev.sluice.balance.Pools.counts;
import static dev.sluice.balance.Pools.ipv4;
import static dev.sluice.balance.Pools.picks;
import static dev.sluice.balance.Pools.weighted;
import static dev.sluice.balance.Pools.weightsOf;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WeightedLeastConnectionsTest {
  private final WeightedLeastConnections wlc = new WeightedLeastConnections(8);

  @Test
  void picks_the_lowest_active_over_weight() {
    List<Backend> backends = weighted(1, 3, 1);
    activate(backends.get(0), 2); // 2/1 = 2
    activate(backends.get(1), 3); // 3/3 = 1  ← lowest
    activate(backends.get(2), 2); // 2/1 = 2

    assertThat(wlc.select(backends, weightsOf(backends), ipv4(1)).name()).isEqualTo("b");

    activate(backends.get(1), 4); // b: 7/3 ≈ 2.33; a and c tie at 2
    activate(backends.get(2), -1); // c: 1/1 = 1  ← lowest
    assertThat(wlc.select(backends, weightsOf(backends), ipv4(2)).name()).isEqualTo("c");
  }

  @Test
  void mail_one_message_at_a_time_keeps_the_weights_as_shares() {
    // A gateway sending on one connection: every pick finds all backends idle. (active + 1) /
    // weight sent all of it to the heaviest backend; the weights are shares here too.
    List<Backend> backends = weighted(3, 1);

    List<String> picked =
        picks(
            1000,
            i -> {
              Backend b = wlc.select(backends, weightsOf(backends), ipv4(i));
              b.acquire();
              b.release(); // the message is done before the next one is placed
              return b;
            });

    assertThat(counts(picked)).isEqualTo(Map.of("a", 750, "b", 250));
    assertThat(picked.subList(0, 4)).containsExactly("a", "a", "b", "a"); // spread, as round_robin
  }

  @Test
  void weight_counts_even_when_everyone_is_idle() {
    List<Backend> backends = weighted(2, 1);

    // Placing sessions as they are picked and keeping them: the counts follow the weights.
    List<String> picked =
        picks(
            300,
            i -> {
              Backend b = wlc.select(backends, weightsOf(backends), ipv4(i));
              b.acquire();
              return b;
            });

    assertThat(counts(picked)).isEqualTo(Map.of("a", 200, "b", 100));
  }

  @Test
  void equal_weights_get_equal_shares_wherever_they_sit_when_messages_overlap() {
    // Two or three messages in flight: which backends tie depends on the last picks. A backend
    // passed over while busy is owed its turns (SmoothWeightedRoundRobin.selectAmong); with the
    // tie-break state frozen for non-tied backends, c got 17,498 against a's 10,939.
    for (int inFlight : new int[] {2, 3}) {
      List<Backend> backends = weighted(1, 1, 1, 7);
      WeightedLeastConnections selector = new WeightedLeastConnections(8);
      ArrayDeque<Backend> open = new ArrayDeque<>();
      Map<String, Integer> c = counts(picks(70_000, i -> {
        Backend b = selector.select(backends, weightsOf(backends), ipv4(i));
        b.acquire();
        open.add(b);
        if (open.size() >= inFlight) {
          open.poll().release();
        }
        return b;
      }));
      assertThat(List.of(c.get("b"), c.get("c"))).as("%d in flight: %s", inFlight, c)
          .allSatisfy(n -> assertThat(n).isBetween(c.get("a") - c.get("a") / 100, c.get("a") + c.get("a") / 100));
    }
  }

  @Test
  void equal_idle_backends_alternate_instead_of_always_the_first() {
    List<Backend> backends = weighted(1, 1, 1);

    List<String> picked = picks(9, i -> wlc.select(backends, weightsOf(backends), ipv4(i)));

    assertThat(counts(picked)).isEqualTo(Map.of("a", 3, "b", 3, "c", 3));
    assertThat(picked.get(0)).isNotEqualTo(picked.get(1));
  }

  @Test
  void ties_rotate_among_the_tied_only() {
    List<Backend> backends = weighted(1, 1, 1);
    activate(backends.get(1), 2); // b is busier than the tied a and c

    List<String> picked = picks(10, i -> wlc.select(backends, weightsOf(backends), ipv4(i)));

    assertThat(counts(picked)).isEqualTo(Map.of("a", 5, "c", 5));
  }

  @Test
  void slow_start_weights_reduce_the_share() {
    List<Backend> backends = weighted(1, 1);
    double[] weights = {1.0, 0.25}; // b ramping: a quarter of its weight

    List<String> picked =
        picks(
            500,
            i -> {
              Backend b = wlc.select(backends, weights, ipv4(i));
              b.acquire();
              return b;
            });

    assertThat(counts(picked)).isEqualTo(Map.of("a", 400, "b", 100));
  }

  static void activate(Backend b, int sessions) {
    for (int i = 0; i < Math.abs(sessions); i++) {
      if (sessions > 0) {
        b.acquire();
      } else {
        b.release();
      }
    }
  }
}
