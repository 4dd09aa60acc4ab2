package dev.sluice.health;

import dev.sluice.balance.Backend;
import dev.sluice.config.PoolConfig;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Passive health of one pool as one listener sees it: failures seen in live traffic (failed connects, 421 or other 4xx
 * banners, and in smtp mode 4xx at MAIL FROM) eject a backend after {@code consecutive_failures} in a
 * row, for {@code eject_for}, doubling on each repeat up to {@code max_eject_for}. A backend whose
 * last ejection ended more than {@code max_eject_for} ago starts again from {@code eject_for}.
 *
 * <p>Kept per listener because some failures depend on who is sending: back pressure that refuses
 * outside senders at MAIL FROM must not eject the backend from an internal listener.
 *
 * <p>Passive detection alone never ejects more than half of a priority tier: a burst of failures
 * caused by the senders or the network must not empty a tier that active probes still call healthy.
 *
 * <p>Pure apart from the injected clock. Thread-safe: event loops report concurrently; the state of
 * all backends is guarded by this object's monitor (reports are per session, ejections rare).
 */
public final class PassiveHealth {
  private final PoolConfig.Passive rules;
  private final List<Backend> backends;
  private final LongSupplier nanoClock;
  private final int[] consecutive;
  private final int[] level;
  private final long[] ejectedUntil;
  private final long[] lastReturn;
  private final boolean[] everEjected;

  public PassiveHealth(PoolConfig.Passive rules, List<Backend> backends, LongSupplier nanoClock) {
    this.rules = rules;
    this.backends = List.copyOf(backends);
    this.nanoClock = nanoClock;
    int n = backends.size();
    consecutive = new int[n];
    level = new int[n];
    ejectedUntil = new long[n];
    lastReturn = new long[n];
    everEjected = new boolean[n];
  }

  /** What {@link #failure} did. */
  public enum Verdict {
    COUNTED,
    EJECTED,
    /** The threshold was reached but ejecting would take more than half of the tier. */
    KEPT_BY_TIER_CAP,
    ALREADY_EJECTED
  }

  /** Records a passive failure of {@code b}. */
  public synchronized Verdict failure(Backend b) {
    int i = b.index();
    long now = nanoClock.getAsLong();
    if (isEjected(i, now)) {
      return Verdict.ALREADY_EJECTED;
    }
    consecutive[i]++;
    if (consecutive[i] < rules.consecutiveFailures()) {
      return Verdict.COUNTED;
    }
    if (!tierCanLoseOneMore(b, now)) {
      return Verdict.KEPT_BY_TIER_CAP;
    }
    if (everEjected[i] && now - lastReturn[i] > rules.maxEjectFor().toNanos()) {
      level[i] = 0;
    }
    long base = rules.ejectFor().toNanos();
    long max = rules.maxEjectFor().toNanos();
    long duration = level[i] >= 62 || base > (max >> Math.min(level[i], 62)) ? max : Math.min(max, base << level[i]);
    ejectedUntil[i] = now + duration;
    lastReturn[i] = ejectedUntil[i];
    everEjected[i] = true;
    level[i]++;
    consecutive[i] = 0;
    return Verdict.EJECTED;
  }

  /** Records a success of {@code b}: its run of failures is broken. */
  public synchronized void success(Backend b) {
    consecutive[b.index()] = 0;
  }

  /** Whether {@code b} is ejected now. */
  public synchronized boolean ejected(Backend b) {
    return isEjected(b.index(), nanoClock.getAsLong());
  }

  /** Nano time {@code b}'s latest ejection ended (or ends), or {@code Long.MIN_VALUE} if never ejected. */
  public synchronized long returnedAt(Backend b) {
    return everEjected[b.index()] ? lastReturn[b.index()] : Long.MIN_VALUE;
  }

  /** How long {@code b}'s current ejection still lasts, in nanoseconds (0 when not ejected). */
  public synchronized long remainingNanos(Backend b) {
    long left = ejectedUntil[b.index()] - nanoClock.getAsLong();
    return everEjected[b.index()] && left > 0 ? left : 0;
  }

  private boolean isEjected(int i, long now) {
    return everEjected[i] && now - ejectedUntil[i] < 0;
  }

  private boolean tierCanLoseOneMore(Backend b, long now) {
    int tier = 0;
    int ejected = 0;
    for (Backend o : backends) {
      if (o.priority() == b.priority()) {
        tier++;
        if (isEjected(o.index(), now)) {
          ejected++;
        }
      }
    }
    return (ejected + 1) * 2 <= tier;
  }
}
