package dev.sluice.balance;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.Location;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.PoolConfig.Algorithm;
import dev.sluice.config.PoolConfig.Persistence;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.LongSupplier;

/** Builders shared by the balance tests. */
final class Pools {
  private Pools() {}

  /** A backend named {@code name} on 127.0.0.1, port 2500 + index. */
  static Backend backend(String name, int weight, int priority, int index) {
    BackendConfig config =
        new BackendConfig(
            name, new HostPort("127.0.0.1", 2500 + index), weight, priority, Map.of(), Location.NONE);
    return new Backend("pool", config, index);
  }

  /** Backends a, b, c, … at priority 1 with the given weights. */
  static List<Backend> weighted(int... weights) {
    List<Backend> backends = new ArrayList<>();
    for (int i = 0; i < weights.length; i++) {
      backends.add(backend(String.valueOf((char) ('a' + i)), weights[i], 1, i));
    }
    return backends;
  }

  /** Backends b0 … b(n-1), weight 1, priority 1. */
  static List<Backend> numbered(int n) {
    List<Backend> backends = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      backends.add(backend("b" + i, 1, 1, i));
    }
    return backends;
  }

  static PoolConfig config(
      Algorithm algorithm, Persistence persistence, Duration slowStart, List<Backend> backends) {
    return config(algorithm, persistence, PoolConfig.DeferralAffinity.OFF, slowStart, backends);
  }

  static PoolConfig config(Algorithm algorithm, Persistence persistence,
      PoolConfig.DeferralAffinity affinity, Duration slowStart, List<Backend> backends) {
    List<BackendConfig> configs = new ArrayList<>();
    for (Backend b : backends) {
      configs.add(
          new BackendConfig(
              b.name(), b.address(), b.weight(), b.priority(), Map.of(), Location.NONE));
    }
    return new PoolConfig(
        "pool",
        algorithm,
        persistence,
        affinity,
        slowStart,
        PoolConfig.Passive.DEFAULT,
        configs,
        Map.of(),
        Location.NONE);
  }

  static PoolConfig config(Algorithm algorithm, List<Backend> backends) {
    return config(algorithm, Persistence.NONE, Duration.ZERO, backends);
  }

  /** The key of IPv4 client 10.x.y.z for {@code n} = x·2¹⁶ + y·2⁸ + z. */
  static SelectionKey ipv4(int n) {
    return new SelectionKey(new byte[] {10, (byte) (n >>> 16), (byte) (n >>> 8), (byte) n});
  }

  /** The weights array a selector gets for the candidates, at their configured weights. */
  static double[] weightsOf(List<Backend> candidates) {
    return candidates.stream().mapToDouble(Backend::weight).toArray();
  }

  /** Names of {@code picks} successive selections. */
  static List<String> picks(int picks, Function<Integer, Backend> select) {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < picks; i++) {
      names.add(select.apply(i).name());
    }
    return names;
  }

  /** How often each name occurs. */
  static Map<String, Integer> counts(List<String> names) {
    Map<String, Integer> counts = new HashMap<>();
    names.forEach(n -> counts.merge(n, 1, Integer::sum));
    return counts;
  }

  /** A nano clock the test advances by hand. */
  static final class FakeClock implements LongSupplier {
    private long now = 1_000_000_000L;

    @Override
    public long getAsLong() {
      return now;
    }

    void advance(Duration d) {
      now += d.toNanos();
    }
  }
}
