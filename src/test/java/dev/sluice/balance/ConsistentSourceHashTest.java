package dev.sluice.balance;

import static dev.sluice.balance.Pools.backend;
import static dev.sluice.balance.Pools.numbered;
import static dev.sluice.balance.Pools.weighted;
import static dev.sluice.balance.Pools.weightsOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.sluice.config.PoolConfig.Algorithm;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ConsistentSourceHashTest {
  private static final int KEYS = 100_000;
  private final ConsistentSourceHash hash = new ConsistentSourceHash();

  /** {@code count} random client addresses, a mix of IPv4 and IPv6. */
  private static List<SelectionKey> randomKeys(long seed, int count) {
    SplittableRandom random = new SplittableRandom(seed);
    List<SelectionKey> keys = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      byte[] address = new byte[i % 4 == 0 ? 16 : 4];
      random.nextBytes(address);
      keys.add(new SelectionKey(address));
    }
    return keys;
  }

  private String[] assign(List<Backend> candidates, List<SelectionKey> keys) {
    double[] weights = weightsOf(candidates);
    String[] names = new String[keys.size()];
    for (int i = 0; i < keys.size(); i++) {
      names[i] = hash.select(candidates, weights, keys.get(i)).name();
    }
    return names;
  }

  @Test
  void the_same_client_always_gets_the_same_backend() {
    List<Backend> backends = numbered(7);
    List<SelectionKey> keys = randomKeys(1, 1000);

    String[] first = assign(backends, keys);
    // A fresh array with the same bytes, as each connection brings.
    List<SelectionKey> copies =
        keys.stream().map(k -> new SelectionKey(k.clientAddress().clone())).toList();

    assertThat(assign(backends, copies)).isEqualTo(first);
  }

  @Test
  void independently_built_balancers_agree_whatever_the_backend_order() {
    List<Backend> one = numbered(5);
    // Node 2 lists the same backends in another order, so every index differs.
    List<Backend> reversedNames = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      reversedNames.add(backend("b" + (4 - i), 1, 1, i));
    }
    PoolBalancer node1 =
        new PoolBalancer(Pools.config(Algorithm.SOURCE_HASH, one), one, () -> 0, new SplittableRandom(1));
    PoolBalancer node2 =
        new PoolBalancer(
            Pools.config(Algorithm.SOURCE_HASH, reversedNames),
            reversedNames,
            () -> 0,
            new SplittableRandom(2));
    Predicate<Backend> none = b -> false;

    for (SelectionKey key : randomKeys(2, 10_000)) {
      assertThat(node2.select(key, Eligibility.ALL, none).name())
          .isEqualTo(node1.select(key, Eligibility.ALL, none).name());
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {3, 5, 10})
  void a_leaving_backend_moves_only_its_own_clients(int n) {
    long seed = 1000 + n;
    List<SelectionKey> keys = randomKeys(seed, KEYS);
    List<Backend> all = numbered(n);
    String[] before = assign(all, keys);
    Backend leaving = all.get(n / 2);
    List<Backend> rest = new ArrayList<>(all);
    rest.remove(leaving);

    String[] after = assign(rest, keys);

    int moved = 0;
    for (int i = 0; i < KEYS; i++) {
      boolean wasOnLeaving = before[i].equals(leaving.name());
      assertThat(!after[i].equals(before[i]))
          .as("seed %d, key %d on %s moved to %s", seed, i, before[i], after[i])
          .isEqualTo(wasOnLeaving);
      moved += wasOnLeaving ? 1 : 0;
    }
    assertThat(moved / (double) KEYS).as("seed %d", seed).isLessThanOrEqualTo(1.0 / n + 0.02);
  }

  @Test
  void weights_set_the_shares() {
    long seed = 3;
    List<Backend> backends = weighted(1, 2, 3, 4);

    String[] names = assign(backends, randomKeys(seed, KEYS));

    for (Backend b : backends) {
      long count = java.util.Arrays.stream(names).filter(b.name()::equals).count();
      assertThat(count / (double) KEYS)
          .as("seed %d, backend %s", seed, b.name())
          .isCloseTo(b.weight() / 10.0, within(0.01));
    }
  }

  @Test
  void equal_weights_share_evenly() {
    long seed = 4;
    List<Backend> backends = numbered(10);

    String[] names = assign(backends, randomKeys(seed, KEYS));

    for (Backend b : backends) {
      long count = java.util.Arrays.stream(names).filter(b.name()::equals).count();
      assertThat(count / (double) KEYS).as("seed %d, %s", seed, b.name()).isCloseTo(0.1, within(0.006));
    }
  }

  @Test
  void picks_the_highest_score_minus_weight_over_log_u() {
    List<Backend> backends = numbered(6);
    double[] weights = {1, 2, 2, 3, 0.35, 1}; // mixed, with a ramping one and repeats

    for (SelectionKey key : randomKeys(6, 10_000)) {
      int expected = 0;
      double bestScore = Double.NEGATIVE_INFINITY;
      for (int i = 0; i < backends.size(); i++) {
        long h = StableHash.hash64(key.clientAddress(), backends.get(i).nameHash());
        double score = -weights[i] / Math.log(StableHash.unitInterval(h));
        if (score > bestScore) {
          bestScore = score;
          expected = i;
        }
      }
      assertThat(hash.select(backends, weights, key)).isSameAs(backends.get(expected));
    }
  }

  @Test
  void candidate_order_does_not_change_the_choice() {
    List<Backend> backends = numbered(6);
    List<Backend> shuffled = new ArrayList<>(backends);
    Collections.shuffle(shuffled, new java.util.Random(5));
    List<SelectionKey> keys = randomKeys(5, 2000);

    assertThat(assign(shuffled, keys)).isEqualTo(assign(backends, keys));
  }
}
