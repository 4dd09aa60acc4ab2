package dev.sluice.balance.bench;

import dev.sluice.balance.Backend;
import dev.sluice.balance.Eligibility;
import dev.sluice.balance.PoolBalancer;
import dev.sluice.balance.SelectionKey;
import dev.sluice.balance.Selector;
import dev.sluice.balance.Selectors;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.Location;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.PoolConfig.Algorithm;
import dev.sluice.config.PoolConfig.Persistence;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Cost of choosing a backend: the whole {@link PoolBalancer#select} path (tier scan, effective
 * weights, algorithm) and the bare {@link Selector#select}, per algorithm and pool size.
 *
 * <p>Backends have mixed weights (1–3), active counts (0–9) and latencies, all from a fixed seed,
 * so least-loaded scans do real comparisons rather than walking a field of ties. Clients cycle
 * through 1024 addresses.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class SelectionBenchmark {
  private static final int CLIENTS = 1024;
  private static final Predicate<Backend> NONE_EXCLUDED = b -> false;

  @Param({"2", "10", "100"})
  int backends;

  @Param({"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_HASH", "RANDOM_TWO", "LEAST_LATENCY"})
  Algorithm algorithm;

  private PoolBalancer balancer;
  private Selector selector;
  private List<Backend> candidates;
  private double[] weights;
  private SelectionKey[] keys;
  private int next;

  @Setup
  public void setUp() {
    SplittableRandom random = new SplittableRandom(42);
    List<BackendConfig> configs = new ArrayList<>();
    candidates = new ArrayList<>();
    for (int i = 0; i < backends; i++) {
      BackendConfig config =
          new BackendConfig(
              "mx" + i,
              new HostPort("10.0.0." + i, 25),
              1 + random.nextInt(3),
              1,
              Set.of(),
              Location.NONE);
      configs.add(config);
      Backend backend = new Backend("bench", config, i);
      for (int a = random.nextInt(10); a > 0; a--) {
        backend.acquire();
      }
      backend.recordLatency(1_000_000 + random.nextInt(10_000_000));
      candidates.add(backend);
    }
    PoolConfig pool =
        new PoolConfig(
            "bench",
            algorithm,
            Persistence.NONE,
            Duration.ZERO,
            PoolConfig.Passive.DEFAULT,
            configs,
            Set.of(),
            Location.NONE);
    balancer = new PoolBalancer(pool, candidates, System::nanoTime, new SplittableRandom(7));
    selector = Selectors.forAlgorithm(algorithm, backends, new SplittableRandom(7));
    weights = candidates.stream().mapToDouble(Backend::weight).toArray();
    keys = new SelectionKey[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
      keys[i] = new SelectionKey(new byte[] {10, 1, (byte) (i >>> 8), (byte) i});
    }
  }

  private SelectionKey nextKey() {
    next = (next + 1) & (CLIENTS - 1);
    return keys[next];
  }

  @Benchmark
  public Backend poolBalancer() {
    return balancer.select(nextKey(), Eligibility.ALL, NONE_EXCLUDED);
  }

  @Benchmark
  public Backend selector() {
    return selector.select(candidates, weights, nextKey());
  }
}
