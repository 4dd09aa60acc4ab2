package dev.sluice.balance;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.PoolConfig.Persistence;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import java.util.random.RandomGenerator;

/**
 * Chooses the backend of one pool for each new session or transaction (DESIGN §5): source-IP
 * persistence first, then the best non-empty priority tier, slow-start weights, and the pool's
 * {@link Selector}.
 *
 * <p>Pure: no I/O and no threads of its own; time comes from the injected nano clock and
 * randomness from the injected generator, so tests drive both. Health is not its business: each
 * call says through an {@link Eligibility} which backends the calling listener may use.
 *
 * <p>Thread-safe: event loops call {@link #select} concurrently. The scratch candidate list and
 * weight array are per thread, so a selection allocates nothing beyond the persistence lookup.
 */
public final class PoolBalancer {
  /**
   * Share of its weight a backend gets the moment it becomes eligible again, growing linearly to
   * the full weight over {@code slow_start}. Not 0: a zero weight would keep the backend out of
   * rotation (no real traffic to prove it healthy) and cannot divide a load. 10% is also Envoy's
   * default {@code min_weight_percent}: a cold backend takes a trickle, not a stampede.
   */
  static final double SLOW_START_FLOOR = 0.1;

  private final List<Backend> backends;
  /** The same backends by ascending priority, so a scan stops at the end of the first usable tier. */
  private final Backend[] byPriority;
  private final Selector selector;
  private final LongSupplier nanoClock;
  private final long slowStartNanos;
  /** Client address → backend last chosen for it; null when persistence is off. */
  private final Cache<ClientKey, Backend> persistence;
  private final Persistence persistenceConfig;
  /** Sender → backend that deferred it; null when {@code deferral_affinity} is none. */
  private final DeferralTable deferrals;
  private final ThreadLocal<Scratch> scratch;

  /**
   * @param backends the pool's backends, the one at position i having {@link Backend#index()} i
   * @param nanoClock monotonic nanoseconds ({@code System::nanoTime} in production); the same clock
   *     as the {@link Eligibility} times
   * @param random randomness for algorithms that draw; need not be thread-safe
   */
  public PoolBalancer(
      PoolConfig config, List<Backend> backends, LongSupplier nanoClock, RandomGenerator random) {
    this(config, backends, nanoClock, random, null);
  }

  /**
   * A balancer that keeps what {@code previous} (the pool's balancer before a reload, or null)
   * remembers, where the two configs agree on the table: persistence and deferral affinity
   * survive a reload. An entry whose backend was removed or changed (its address or priority) is
   * ignored; one whose backend only moved to another position follows it.
   */
  public PoolBalancer(PoolConfig config, List<Backend> backends, LongSupplier nanoClock,
      RandomGenerator random, PoolBalancer previous) {
    for (int i = 0; i < backends.size(); i++) {
      if (backends.get(i).index() != i) {
        throw new IllegalArgumentException(
            "backend " + backends.get(i) + " has index " + backends.get(i).index() + ", not " + i);
      }
    }
    this.backends = List.copyOf(backends);
    this.byPriority = backends.toArray(new Backend[0]);
    Arrays.sort(byPriority, Comparator.comparingInt(Backend::priority)); // stable: keeps config order
    this.selector = Selectors.forAlgorithm(config.algorithm(), backends.size(), random);
    this.nanoClock = nanoClock;
    this.slowStartNanos = config.slowStart().toNanos();
    this.persistenceConfig = config.persistence();
    this.persistence = previous != null && previous.persistenceConfig.equals(persistenceConfig)
        ? previous.persistence
        : newPersistenceTable(persistenceConfig, nanoClock);
    PoolConfig.DeferralAffinity affinity = config.deferralAffinity();
    this.deferrals = !affinity.enabled() ? null
        : previous != null && previous.deferrals != null && previous.deferrals.config().equals(affinity)
            ? previous.deferrals
            : new DeferralTable(affinity, nanoClock);
    this.scratch = ThreadLocal.withInitial(() -> new Scratch(byPriority));
  }

  private static Cache<ClientKey, Backend> newPersistenceTable(
      Persistence persistence, LongSupplier nanoClock) {
    if (persistence.mode() != Persistence.Mode.SOURCE_IP) {
      return null;
    }
    // Caffeine bounds the table with W-TinyLFU rather than plain LRU: a burst of one-off clients
    // (a scan, a spam run) cannot flush the entries of senders that keep coming back. Maintenance
    // runs on the calling thread (no executor threads in a pure package), timed by our clock.
    return Caffeine.newBuilder()
        .maximumSize(persistence.maxEntries())
        .expireAfterAccess(persistence.ttl())
        .ticker(nanoClock::getAsLong)
        .executor(Runnable::run)
        .build();
  }

  /** The pool's backends, by index. */
  public List<Backend> backends() {
    return backends;
  }

  /**
   * Chooses a backend for a new session or transaction of {@code key}'s client.
   *
   * <p>A client remembered by persistence (used within {@code ttl}) goes back to its backend if
   * that one is still eligible, not excluded and weighted above 0, whatever its tier. Otherwise the
   * pool's algorithm picks among the eligible, non-excluded backends with weight above 0 in the
   * lowest priority value that has any, with weights reduced by slow start; the pick is remembered.
   *
   * @param eligibility which backends the calling listener may use, and since when
   * @param excluded backends this client must not get (e.g. the ones that already failed it)
   * @return the backend, or null when no backend qualifies
   */
  public Backend select(SelectionKey key, Eligibility eligibility, Predicate<Backend> excluded) {
    ClientKey client = persistence == null ? null : new ClientKey(key.clientAddress());
    if (client != null) {
      Backend stored = persistence.getIfPresent(client); // refreshes the entry's ttl
      Backend remembered = current(stored);
      if (remembered != null
          && remembered.weight() > 0
          && !excluded.test(remembered)
          && eligibility.eligibleSince(remembered) != Eligibility.NOT_ELIGIBLE) {
        if (remembered != stored) {
          persistence.put(client, remembered); // moved by a reload: found without a scan next time
        }
        return remembered;
      }
    }
    Backend chosen = selectFromBestTier(key, eligibility, excluded);
    if (client != null && chosen != null) {
      persistence.put(client, chosen);
    }
    return chosen;
  }

  private Backend selectFromBestTier(
      SelectionKey key, Eligibility eligibility, Predicate<Backend> excluded) {
    Scratch s = scratch.get();
    int[] positions = s.candidates.positions;
    double[] weights = s.weights;
    int count = 0;
    int tier = Integer.MAX_VALUE; // priority of the first usable backend, once there is one
    long now = 0;
    boolean nowRead = false;
    for (int position = 0; position < byPriority.length; position++) {
      Backend b = byPriority[position];
      if (b.priority() > tier) {
        break; // sorted by priority: the first usable tier is complete
      }
      int weight = b.weight();
      if (weight <= 0 || excluded.test(b)) {
        continue;
      }
      long since = eligibility.eligibleSince(b);
      if (since == Eligibility.NOT_ELIGIBLE) {
        continue;
      }
      double factor = 1;
      if (since != Eligibility.ALWAYS && slowStartNanos > 0) {
        if (!nowRead) { // one clock read per selection, and none when nobody is ramping
          now = nanoClock.getAsLong();
          nowRead = true;
        }
        factor = slowStartFactor(now - since, slowStartNanos);
      }
      positions[count] = position;
      weights[count] = weight * factor;
      count++;
      tier = b.priority();
    }
    if (count == 0) {
      return null;
    }
    s.candidates.setSize(count);
    return selector.select(s.candidates, weights, key);
  }

  /** Whether {@code b} is one of this pool's backends (not one a reload replaced or removed). */
  private boolean owns(Backend b) {
    return b.index() < backends.size() && backends.get(b.index()) == b;
  }

  /**
   * {@code b} (remembered, perhaps before a reload) as this pool has it now, or null when a reload
   * removed or changed it. A reload reuses a backend only at the same position, so removing or
   * inserting one rebuilds those after it: one with the same name, address and priority is the same
   * server, with the same memory (its greylisting database, say), and what is remembered of it stays.
   */
  private Backend current(Backend b) {
    if (b == null || owns(b)) {
      return b; // the usual case: no scan
    }
    for (Backend x : backends) {
      if (x.name().equals(b.name()) && x.address().equals(b.address()) && x.priority() == b.priority()) {
        return x;
      }
    }
    return null;
  }

  /**
   * The backend of this pool that deferred {@code sender} (the null sender: to {@code
   * firstRecipient}) from {@code clientAddress}'s network within the pool's {@code
   * deferral_affinity} ttl, and when ({@link DeferralTable}); null if none, or when the affinity is
   * off. Whether that backend may take the transaction now is the caller's to check, as for any
   * other choice it would make.
   */
  public DeferralTable.Deferral deferral(byte[] clientAddress, String sender, String firstRecipient) {
    if (deferrals == null) {
      return null;
    }
    DeferralTable.Deferral d = deferrals.lookup(clientAddress, sender, firstRecipient);
    Backend b = d == null ? null : current(d.backend());
    return b == null ? null : b == d.backend() ? d : new DeferralTable.Deferral(b, d.atNanos(), d.times());
  }

  /**
   * Backend {@code b} deferred a transaction of {@code sender} from {@code clientAddress}: remembered
   * when the pool's {@code deferral_affinity} is on ({@link DeferralTable#deferred}).
   *
   * @return whether the sender's retries go back to {@code b}
   */
  public boolean deferred(byte[] clientAddress, String sender, String firstRecipient, Backend b) {
    return deferrals != null && deferrals.deferred(clientAddress, sender, firstRecipient, b);
  }

  /** Whether the pool's {@code deferral_affinity} is on. */
  public boolean deferralAffinityOn() {
    return deferrals != null;
  }

  /** Senders remembered by deferral affinity (0 when it is off); for the admin API and tests. */
  public long deferralAffinityEntries() {
    return deferrals == null ? 0 : deferrals.size();
  }

  /**
   * Whether {@link #select} would find a backend for a listener with {@code eligibility}, leaving
   * out {@code excluded}; without selecting one (nothing is remembered).
   */
  public boolean hasCandidate(Eligibility eligibility, Predicate<Backend> excluded) {
    for (Backend b : byPriority) {
      if (b.weight() > 0 && !excluded.test(b) && eligibility.eligibleSince(b) != Eligibility.NOT_ELIGIBLE) {
        return true;
      }
    }
    return false;
  }

  /**
   * The weight {@code b} competes with right now for a listener with {@code eligibility}: its weight
   * reduced by slow start, 0 when not eligible (health, passive ejection, admin state). Ignores
   * priority tiers. For the admin API, and for smtp mode to check a backend chosen for a MAIL that
   * it sends on with the first RCPT; not on the selection path.
   */
  public double effectiveWeight(Backend b, Eligibility eligibility) {
    long since = eligibility.eligibleSince(b);
    if (since == Eligibility.NOT_ELIGIBLE || b.weight() <= 0) {
      return 0;
    }
    if (since == Eligibility.ALWAYS || slowStartNanos <= 0) {
      return b.weight();
    }
    return b.weight() * slowStartFactor(nanoClock.getAsLong() - since, slowStartNanos);
  }

  /**
   * The slow-start weight multiplier after {@code eligibleNanos} of continuous eligibility:
   * linear from {@link #SLOW_START_FLOOR} at 0 to 1 at {@code slowStartNanos}, 1 afterwards.
   */
  static double slowStartFactor(long eligibleNanos, long slowStartNanos) {
    if (eligibleNanos >= slowStartNanos) {
      return 1;
    }
    double progress = Math.max(0, eligibleNanos) / (double) slowStartNanos;
    return SLOW_START_FLOOR + (1 - SLOW_START_FLOOR) * progress;
  }

  /** Remembered clients after pending evictions and expiries are applied; for tests. */
  long rememberedClients() {
    if (persistence == null) {
      return 0;
    }
    persistence.cleanUp();
    return persistence.estimatedSize();
  }

  /** One thread's reusable candidate list and weight array, sized to the pool. */
  private static final class Scratch {
    final CandidateList candidates;
    final double[] weights;

    Scratch(Backend[] pool) {
      candidates = new CandidateList(pool);
      weights = new double[pool.length];
    }
  }

  /** Address bytes as a map key: arrays compare by identity, this compares by content. */
  private static final class ClientKey {
    private final byte[] address;
    private final int hash;

    ClientKey(byte[] address) {
      this.address = address;
      this.hash = Arrays.hashCode(address);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof ClientKey other && Arrays.equals(address, other.address);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }
}
