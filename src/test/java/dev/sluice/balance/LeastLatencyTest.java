package dev.sluice.balance;

import static dev.sluice.balance.Pools.counts;
import static dev.sluice.balance.Pools.ipv4;
import static dev.sluice.balance.Pools.picks;
import static dev.sluice.balance.Pools.weighted;
import static dev.sluice.balance.Pools.weightsOf;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LeastLatencyTest {
  private final LeastLatency ll = new LeastLatency(8);

  @Test
  void prefers_an_unmeasured_backend_so_it_gets_measured() {
    List<Backend> backends = weighted(1, 1, 1);
    backends.get(0).recordLatency(1_000_000);
    backends.get(2).recordLatency(500_000);

    assertThat(ll.select(backends, weightsOf(backends), ipv4(1)).name()).isEqualTo("b");
  }

  @Test
  void several_unmeasured_backends_share_in_turn() {
    List<Backend> backends = weighted(1, 1, 1);
    backends.get(0).recordLatency(1_000_000);

    List<String> picked = picks(10, i -> ll.select(backends, weightsOf(backends), ipv4(i)));

    assertThat(counts(picked)).isEqualTo(Map.of("b", 5, "c", 5));
  }

  @Test
  void prefers_the_lower_latency_once_all_are_measured() {
    List<Backend> backends = weighted(1, 1, 1);
    backends.get(0).recordLatency(3_000_000);
    backends.get(1).recordLatency(1_000_000);
    backends.get(2).recordLatency(2_000_000);

    List<String> picked = picks(5, i -> ll.select(backends, weightsOf(backends), ipv4(i)));

    assertThat(picked).containsOnly("b");
  }

  @Test
  void weighs_latency_by_queued_work_and_capacity() {
    List<Backend> backends = weighted(1, 4);
    backends.get(0).recordLatency(1_000_000); // 1 ms × (0+1) / 1 = 1 ms
    backends.get(1).recordLatency(2_000_000); // 2 ms × (1+1) / 4 = 1 ms … then 2 busy: 1.5 ms
    backends.get(1).acquire();
    backends.get(1).acquire();

    assertThat(ll.select(backends, weightsOf(backends), ipv4(1)).name()).isEqualTo("a");

    backends.get(0).acquire(); // a: 1 ms × 2 / 1 = 2 ms, b: 1.5 ms
    assertThat(ll.select(backends, weightsOf(backends), ipv4(2)).name()).isEqualTo("b");
  }
}
