package dev.sluice.balance;

import static dev.sluice.balance.Pools.backend;
import static dev.sluice.balance.Pools.counts;
import static dev.sluice.balance.Pools.ipv4;
import static dev.sluice.balance.Pools.picks;
import static dev.sluice.balance.Pools.weighted;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;
import static org.assertj.core.api.Assertions.within;

import dev.sluice.balance.Pools.FakeClock;
import dev.sluice.config.PoolConfig.Algorithm;
import dev.sluice.config.PoolConfig.Persistence;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class PoolBalancerTest {
  private static final Predicate<Backend> NONE_EXCLUDED = b -> false;
  private static final Duration TTL = Duration.ofMinutes(10);

  private final FakeClock clock = new FakeClock();
  /** Health as the test sets it: absent = eligible, no ramp. */
  private final Map<Backend, Long> since = new HashMap<>();
  private final Eligibility eligibility = b -> since.getOrDefault(b, Eligibility.ALWAYS);

  private PoolBalancer balancer(
      Algorithm algorithm, Persistence persistence, Duration slowStart, List<Backend> backends) {
    return new PoolBalancer(
        Pools.config(algorithm, persistence, slowStart, backends),
        backends,
        clock,
        new SplittableRandom(7));
  }

  private PoolBalancer roundRobin(List<Backend> backends) {
    return balancer(Algorithm.ROUND_ROBIN, Persistence.NONE, Duration.ZERO, backends);
  }

  private void down(Backend b) {
    since.put(b, Eligibility.NOT_ELIGIBLE);
  }

  private void upNow(Backend b) {
    since.put(b, clock.getAsLong());
  }

  @Test
  void rejects_backends_whose_index_is_not_their_position() {
    List<Backend> misplaced = List.of(backend("a", 1, 1, 1), backend("b", 1, 1, 0));

    assertThatIllegalArgumentException().isThrownBy(() -> roundRobin(misplaced));
  }

  @Test
  void exposes_the_pool_backends_by_index() {
    List<Backend> backends = weighted(1, 2);

    assertThat(roundRobin(backends).backends()).containsExactlyElementsOf(backends);
  }

  @Test
  void every_algorithm_picks_an_eligible_backend() {
    List<Backend> backends = weighted(1, 2, 3);
    down(backends.get(1));
    for (Algorithm algorithm : Algorithm.values()) {
      PoolBalancer balancer = balancer(algorithm, Persistence.NONE, Duration.ZERO, backends);

      for (int i = 0; i < 50; i++) {
        assertThat(balancer.select(ipv4(i), eligibility, NONE_EXCLUDED))
            .as("%s", algorithm)
            .isIn(backends.get(0), backends.get(2));
      }
    }
  }

  @Nested
  class Tiers {
    private final List<Backend> backends =
        List.of(backend("a", 1, 1, 0), backend("b", 1, 1, 1), backend("c", 1, 2, 2));
    private final PoolBalancer balancer = roundRobin(backends);

    private Set<String> picked(Predicate<Backend> excluded) {
      return Set.copyOf(picks(10, i -> balancer.select(ipv4(i), eligibility, excluded)));
    }

    @Test
    void only_the_first_tier_while_any_of_it_is_usable() {
      assertThat(picked(NONE_EXCLUDED)).containsExactlyInAnyOrder("a", "b");

      down(backends.get(0));
      assertThat(picked(NONE_EXCLUDED)).containsExactly("b");
    }

    @Test
    void second_tier_when_every_first_tier_backend_is_ineligible_or_excluded() {
      down(backends.get(0));
      assertThat(picked(b -> b.name().equals("b"))).containsExactly("c");

      down(backends.get(1));
      assertThat(picked(NONE_EXCLUDED)).containsExactly("c");
    }

    @Test
    void weight_zero_takes_a_backend_out_of_its_tier() {
      backends.get(0).setWeight(0);
      down(backends.get(1));

      assertThat(picked(NONE_EXCLUDED)).containsExactly("c");
    }

    @Test
    void back_to_the_first_tier_when_it_recovers() {
      down(backends.get(0));
      down(backends.get(1));
      assertThat(picked(NONE_EXCLUDED)).containsExactly("c");

      since.clear();
      assertThat(picked(NONE_EXCLUDED)).containsExactlyInAnyOrder("a", "b");
    }
  }

  @Nested
  class Exclusion {
    @Test
    void excluded_backends_are_never_chosen() {
      List<Backend> backends = weighted(1, 1, 1);
      PoolBalancer balancer = roundRobin(backends);

      assertThat(picks(20, i -> balancer.select(ipv4(i), eligibility, b -> b.name().equals("b"))))
          .doesNotContain("b");
    }

    @Test
    void retries_for_one_client_never_see_the_same_backend_twice() {
      for (Algorithm algorithm : Algorithm.values()) {
        List<Backend> backends = weighted(3, 1, 2, 1);
        PoolBalancer balancer = balancer(algorithm, Persistence.NONE, Duration.ZERO, backends);
        Set<Backend> failed = new HashSet<>();

        for (int attempt = 0; attempt < backends.size(); attempt++) {
          Backend b = balancer.select(ipv4(1), eligibility, failed::contains);
          assertThat(failed.add(b)).as("%s attempt %d got %s again", algorithm, attempt, b).isTrue();
        }
        assertThat(balancer.select(ipv4(1), eligibility, failed::contains)).as("%s", algorithm).isNull();
      }
    }

    @Test
    void null_when_nothing_is_eligible() {
      List<Backend> backends = weighted(1, 1);
      backends.forEach(PoolBalancerTest.this::down);

      assertThat(roundRobin(backends).select(ipv4(1), eligibility, NONE_EXCLUDED)).isNull();
    }
  }

  @Nested
  class SourceIpPersistence {
    private final List<Backend> backends = weighted(1, 1, 1);
    private final PoolBalancer balancer =
        balancer(
            Algorithm.ROUND_ROBIN,
            new Persistence(Persistence.Mode.SOURCE_IP, TTL, 100),
            Duration.ZERO,
            backends);

    private String select(int client) {
      return balancer.select(ipv4(client), eligibility, NONE_EXCLUDED).name();
    }

    @Test
    void a_returning_client_sticks_to_its_backend() {
      assertThat(select(1)).isEqualTo("a");
      assertThat(select(2)).isEqualTo("b");

      // Round robin alone would give c, a, b, …
      assertThat(picks(10, i -> balancer.select(ipv4(1), eligibility, NONE_EXCLUDED)))
          .containsOnly("a");
      assertThat(select(2)).isEqualTo("b");
    }

    @Test
    void the_same_address_in_a_new_array_is_the_same_client() {
      byte[] address = {10, 0, 0, 9};
      String first = balancer.select(new SelectionKey(address), eligibility, NONE_EXCLUDED).name();

      assertThat(balancer.select(new SelectionKey(address.clone()), eligibility, NONE_EXCLUDED).name())
          .isEqualTo(first);
    }

    @Test
    void each_use_extends_the_entry_which_expires_ttl_after_the_last() {
      assertThat(select(1)).isEqualTo("a");
      for (int i = 0; i < 5; i++) {
        clock.advance(TTL.minusSeconds(1));
        assertThat(select(1)).as("after %d × (ttl - 1s)", i + 1).isEqualTo("a");
      }

      clock.advance(TTL);

      assertThat(balancer.rememberedClients()).isZero();
      assertThat(select(1)).as("forgotten: round robin goes on").isEqualTo("b");
    }

    @Test
    void a_remembered_backend_that_becomes_ineligible_is_replaced_and_the_replacement_sticks() {
      assertThat(select(1)).isEqualTo("a");

      down(backends.get(0));
      String replacement = select(1);
      assertThat(replacement).isNotEqualTo("a");

      since.clear();
      assertThat(picks(5, i -> balancer.select(ipv4(1), eligibility, NONE_EXCLUDED)))
          .containsOnly(replacement);
    }

    @Test
    void a_remembered_backend_that_is_excluded_or_weighted_out_is_replaced() {
      assertThat(select(1)).isEqualTo("a");

      assertThat(balancer.select(ipv4(1), eligibility, b -> b.name().equals("a")).name())
          .isNotEqualTo("a");
      backends.get(0).setWeight(0);
      assertThat(select(1)).isNotEqualTo("a");
    }

    @Test
    void the_table_is_bounded_by_max_entries() {
      for (int client = 0; client < 1000; client++) {
        select(client);
      }

      assertThat(balancer.rememberedClients()).isEqualTo(100);
    }

    @Test
    void no_table_without_persistence() {
      PoolBalancer plain = roundRobin(backends);
      plain.select(ipv4(1), eligibility, NONE_EXCLUDED);

      assertThat(plain.rememberedClients()).isZero();
      assertThat(plain.select(ipv4(1), eligibility, NONE_EXCLUDED).name()).isEqualTo("b");
    }
  }

  @Nested
  class SlowStart {
    private static final Duration RAMP = Duration.ofSeconds(60);
    private final List<Backend> backends = weighted(1, 1);
    private final PoolBalancer balancer =
        balancer(Algorithm.ROUND_ROBIN, Persistence.NONE, RAMP, backends);

    /** b's share of {@code n} picks. */
    private double shareOfB(int n) {
      return counts(picks(n, i -> balancer.select(ipv4(i), eligibility, NONE_EXCLUDED)))
              .getOrDefault("b", 0)
          / (double) n;
    }

    @Test
    void a_recovered_backend_share_grows_linearly_to_its_full_weight() {
      upNow(backends.get(1));

      // b's effective weight: 0.1 → 0.55 → 1 (a stays at 1), so its share is w / (1 + w).
      assertThat(shareOfB(1100)).isCloseTo(0.1 / 1.1, within(0.002));
      clock.advance(RAMP.dividedBy(2));
      assertThat(shareOfB(1550)).isCloseTo(0.55 / 1.55, within(0.002));
      clock.advance(RAMP.dividedBy(2));
      assertThat(shareOfB(1000)).isEqualTo(0.5);
      clock.advance(RAMP);
      assertThat(shareOfB(1000)).isEqualTo(0.5);
    }

    @Test
    void a_backend_that_was_never_down_has_full_weight_at_once() {
      assertThat(shareOfB(1000)).isEqualTo(0.5);
    }

    @Test
    void no_ramp_when_slow_start_is_zero() {
      PoolBalancer noRamp = roundRobin(backends);
      upNow(backends.get(1));

      assertThat(picks(1000, i -> noRamp.select(ipv4(i), eligibility, NONE_EXCLUDED)))
          .filteredOn("b"::equals)
          .hasSize(500);
    }

    @Test
    void factor_ramps_from_the_floor_to_one() {
      long ramp = RAMP.toNanos();

      assertThat(PoolBalancer.slowStartFactor(0, ramp)).isEqualTo(PoolBalancer.SLOW_START_FLOOR);
      assertThat(PoolBalancer.slowStartFactor(-5, ramp))
          .as("a time just ahead of the clock read")
          .isEqualTo(PoolBalancer.SLOW_START_FLOOR);
      assertThat(PoolBalancer.slowStartFactor(ramp / 2, ramp)).isCloseTo(0.55, within(1e-9));
      assertThat(PoolBalancer.slowStartFactor(ramp, ramp)).isEqualTo(1);
      assertThat(PoolBalancer.slowStartFactor(10 * ramp, ramp)).isEqualTo(1);
    }
  }
}
