package dev.sluice.health;

import dev.sluice.balance.Backend;
import dev.sluice.config.ConfigValues;
import dev.sluice.config.PoolConfig;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongSupplier;

/**
 * Passive health of one pool as one listener sees it: failures seen in live traffic (failed connects, 421 or other 4xx
 * banners, and in smtp mode 4xx at MAIL FROM) eject a backend after {@code consecutive_failures} in a
 * row, for {@code eject_for}, doubling on each repeat up to {@code max_eject_for}. A backend whose
 * last ejection ended more than {@code max_eject_for} ago starts again from {@code eject_for}. An
 * ejection ends early when the listener's probes see the backend recover ({@link #endEjection}).
 *
 * <p>Kept per listener because some failures depend on who is sending: back pressure that refuses
 * outside senders at MAIL FROM must not eject the backend from an internal listener.
 *
 * <p>Passive detection alone never ejects more than half of a priority tier: a burst of failures
 * caused by the senders or the network must not empty a tier that active probes still call healthy.
 *
 * <p>Pure apart from the injected clock. Thread-safe: event loops report concurrently. Reads ({@link
 * #ejected}, {@link #returnedAt}) and {@link #success} are lock-free because they run for every
 * selection and session; {@link #failure} takes this object's monitor, since an ejection must see
 * the whole tier at once.
 */
public final class PassiveHealth {
  private final PoolConfig.Passive rules;
  private final List<Backend> backends;
  private final LongSupplier nanoClock;
  private final AtomicIntegerArray consecutive;
  private final int[] level;
  /** Nano time each backend's latest ejection ends; {@link #NEVER} when it was never ejected. */
  private final AtomicLongArray ejectedUntil;
  private static final long NEVER = Long.MIN_VALUE;

  public PassiveHealth(PoolConfig.Passive rules, List<Backend> backends, LongSupplier nanoClock) {
    this.rules = rules;
    this.backends = List.copyOf(backends);
    this.nanoClock = nanoClock;
    int n = backends.size();
    consecutive = new AtomicIntegerArray(n);
    level = new int[n];
    ejectedUntil = new AtomicLongArray(n);
    for (int i = 0; i < n; i++) {
      ejectedUntil.set(i, NEVER);
    }
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
    if (consecutive.incrementAndGet(i) < rules.consecutiveFailures()) {
      return Verdict.COUNTED;
    }
    if (!tierCanLoseOneMore(b, now)) {
      return Verdict.KEPT_BY_TIER_CAP;
    }
    long previousEnd = ejectedUntil.get(i);
    if (previousEnd != NEVER && now - previousEnd > rules.maxEjectFor().toNanos()) {
      level[i] = 0;
    }
    long base = rules.ejectFor().toNanos();
    long max = rules.maxEjectFor().toNanos();
    long duration = level[i] >= 62 || base > (max >> Math.min(level[i], 62)) ? max : Math.min(max, base << level[i]);
    ejectedUntil.set(i, now + duration);
    level[i]++;
    consecutive.set(i, 0);
    return Verdict.EJECTED;
  }

  /**
   * Ends {@code b}'s ejection now, if it is ejected: the listener's own probes saw it recover. Its
   * level is kept, so ejecting it again soon still doubles the time.
   *
   * @return whether an ejection was ended
   */
  public synchronized boolean endEjection(Backend b) {
    int i = b.index();
    long now = nanoClock.getAsLong();
    if (!isEjected(i, now)) {
      return false;
    }
    ejectedUntil.set(i, now);
    consecutive.set(i, 0);
    return true;
  }

  /** Records a success of {@code b}: its run of failures is broken. */
  public void success(Backend b) {
    consecutive.set(b.index(), 0);
  }

  /** Whether {@code b} is ejected now. */
  public boolean ejected(Backend b) {
    return isEjected(b.index(), nanoClock.getAsLong());
  }

  /** Nano time {@code b}'s latest ejection ended (or ends), or {@code Long.MIN_VALUE} if never ejected. */
  public long returnedAt(Backend b) {
    return ejectedUntil.get(b.index());
  }

  /** How long {@code b}'s current ejection still lasts, in nanoseconds (0 when not ejected). */
  public long remainingNanos(Backend b) {
    long until = ejectedUntil.get(b.index());
    long left = until - nanoClock.getAsLong();
    return until != NEVER && left > 0 ? left : 0;
  }

  /**
   * {@link #remainingNanos} for a log line, in the config's syntax and rounded up to the
   * millisecond: {@code 30s} right after an ejection of {@code eject_for: 30s}, not 29999 ms.
   */
  public String remainingText(Backend b) {
    return ConfigValues.formatDuration(Duration.ofMillis((remainingNanos(b) + 999_999) / 1_000_000));
  }

  private boolean isEjected(int i, long now) {
    long until = ejectedUntil.get(i);
    return until != NEVER && now - until < 0;
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
