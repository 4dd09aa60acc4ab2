package dev.sluice.observe;

import dev.sluice.balance.Backend;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Per-minute traffic of each (listener, backend) over the last hour, for the dashboard's chart and
 * balance index. Counts what each backend was given: accepted messages in smtp mode, finished
 * sessions in tcp mode (a tcp relay cannot see messages).
 *
 * <p>Threading: event loops record; the admin thread reads. Each ring is guarded by its own lock,
 * held for a few array writes only.
 */
public final class TrafficSeries implements SessionObserver {
  /** Minutes kept. */
  public static final int MINUTES = 60;

  private final LongSupplier millis;
  private final Map<Key, Ring> rings = new ConcurrentHashMap<>();
  /** All-time totals by pool and backend (across listeners), keyed {@code pool + '/' + backend}. */
  private final Map<String, java.util.concurrent.atomic.LongAdder> totals = new ConcurrentHashMap<>();
  /** The last counters used for each backend object; see {@link #counters}. */
  private final Map<Backend, Counters> byBackend = new ConcurrentHashMap<>();

  /** A backend as seen from a listener; backends are named within their pool. */
  public record Key(String listener, String pool, String backend) {}

  public TrafficSeries(LongSupplier millis) {
    this.millis = millis;
  }

  @Override
  public void transaction(SessionInfo s, Backend b, Outcome outcome, long bytes) {
    if (b != null && outcome == Outcome.ACCEPTED) {
      record(s, b);
    }
  }

  @Override
  public void bytes(SessionInfo s, Backend b, long fromClient, long toClient) {
    record(s, b);
  }

  private void record(SessionInfo s, Backend b) {
    Counters c = byBackend.get(b);
    if (c == null || !c.listener.equals(s.listener())) {
      c = counters(s, b);
    }
    c.ring.add(currentMinute());
    c.total.increment();
  }

  /**
   * The counters of one (listener, backend), found by key. Cached per backend object, so a message
   * costs no key or string building. A reload makes new backend objects, and with them new cache
   * entries that find the same counters by key; the old entries stay in the map, a few dozen bytes
   * per backend and reload, as in {@link Metrics}.
   */
  private Counters counters(SessionInfo s, Backend b) {
    Counters c = new Counters(s.listener(),
        rings.computeIfAbsent(new Key(s.listener(), b.pool(), b.name()), k -> new Ring()),
        totals.computeIfAbsent(b.pool() + '/' + b.name(), k -> new java.util.concurrent.atomic.LongAdder()));
    byBackend.put(b, c);
    return c;
  }

  private record Counters(String listener, Ring ring, java.util.concurrent.atomic.LongAdder total) {}

  /** Everything given to a backend since start, from every listener. */
  public long total(String pool, String backend) {
    java.util.concurrent.atomic.LongAdder a = totals.get(pool + '/' + backend);
    return a == null ? 0 : a.sum();
  }

  /** The minute (since the epoch) now. */
  public long currentMinute() {
    return millis.getAsLong() / 60_000L;
  }

  /**
   * Counts of the last {@link #MINUTES} minutes for a key, oldest first, the last element being the
   * current (partial) minute.
   */
  public long[] perMinute(Key key) {
    Ring r = rings.get(key);
    return r == null ? new long[MINUTES] : r.read(currentMinute());
  }

  /** Every key with traffic in the last hour. */
  public java.util.Set<Key> keys() {
    return java.util.Set.copyOf(rings.keySet());
  }

  /** Minute buckets in a ring indexed by minute modulo {@link #MINUTES}, stale slots recognised by stamp. */
  private static final class Ring {
    private final long[] counts = new long[MINUTES];
    private final long[] stamps = new long[MINUTES];

    synchronized void add(long minute) {
      int i = (int) (minute % MINUTES);
      if (stamps[i] != minute) {
        stamps[i] = minute;
        counts[i] = 0;
      }
      counts[i]++;
    }

    synchronized long[] read(long now) {
      long[] out = new long[MINUTES];
      for (int k = 0; k < MINUTES; k++) {
        long minute = now - (MINUTES - 1) + k;
        int i = (int) (minute % MINUTES);
        out[k] = stamps[i] == minute ? counts[i] : 0;
      }
      return out;
    }
  }
}
