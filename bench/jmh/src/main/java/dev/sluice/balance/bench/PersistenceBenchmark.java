package dev.sluice.balance.bench;

import dev.sluice.balance.Backend;
import dev.sluice.balance.Eligibility;
import dev.sluice.balance.PoolBalancer;
import dev.sluice.balance.SelectionKey;
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
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * {@link PoolBalancer#select} with {@code persistence: source_ip} (round robin, 10 backends):
 * {@code returning} clients are all remembered (a table hit), {@code newcomers} are each seen once
 * in a table far smaller than their number (a miss, a pick and an insert with eviction).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class PersistenceBenchmark {
  private static final int CLIENTS = 1 << 16;

  @Param({"returning", "newcomers"})
  String clients;

  private PoolBalancer balancer;
  private SelectionKey[] keys;
  private int next;

  @Setup
  public void setUp() {
    List<BackendConfig> configs = new ArrayList<>();
    List<Backend> backends = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      BackendConfig config =
          new BackendConfig("mx" + i, new HostPort("10.0.0." + i, 25), 1, 1, Set.of(), Location.NONE);
      configs.add(config);
      backends.add(new Backend("bench", config, i));
    }
    int maxEntries = clients.equals("returning") ? CLIENTS : CLIENTS / 16;
    PoolConfig pool =
        new PoolConfig(
            "bench",
            Algorithm.ROUND_ROBIN,
            new Persistence(Persistence.Mode.SOURCE_IP, Duration.ofHours(1), maxEntries),
            Duration.ZERO,
            PoolConfig.Passive.DEFAULT,
            configs,
            Set.of(),
            Location.NONE);
    balancer = new PoolBalancer(pool, backends, System::nanoTime, new SplittableRandom(7));
    keys = new SelectionKey[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
      keys[i] = new SelectionKey(new byte[] {10, 2, (byte) (i >>> 8), (byte) i});
    }
    if (clients.equals("returning")) {
      for (SelectionKey key : keys) {
        select(key);
      }
    }
  }

  private Backend select(SelectionKey key) {
    return balancer.select(key, Eligibility.ALL, b -> false);
  }

  @Benchmark
  public Backend select() {
    next = (next + 1) & (CLIENTS - 1);
    return select(keys[next]);
  }
}
