package dev.sluice.proxy;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * Ends a session that has been quiet for its idle timeout ({@code limits.idle_timeout}), judged
 * from an activity count that the session keeps anyway, {@value #CHECKS_PER_PERIOD} times per
 * period. A session ends between the timeout and an eighth more after its last activity.
 *
 * <p>Why not Netty's {@code IdleStateHandler}: it sits in the pipeline and costs a handler hop
 * and a clock read on every read (and, for write idleness, a promise and a listener on every
 * write). A balancer reads and writes several times per message; a check every few tens of
 * seconds per session is nearly free.
 *
 * <p>Contract: {@code activity} returns a count that changes whenever the session does something
 * that counts as activity; {@code onIdle} is called once the count has not changed for the
 * timeout and either ends the session (returns {@code true}: the watch stops) or declines
 * ({@code false}, e.g. while a backend reply is awaited: the quiet period starts again).
 * {@link #cancel()} when the session closes, or the pending check keeps it reachable until it runs.
 *
 * <p>Threading: started, run and cancelled on the session's event loop; not thread-safe.
 */
public final class IdleWatch implements Runnable {
  /** Checks per idle period: the precision of the timeout. */
  public static final int CHECKS_PER_PERIOD = 8;

  private final ScheduledExecutorService loop;
  private final long idleNanos;
  private final long stepNanos;
  private final LongSupplier activity;
  private final BooleanSupplier onIdle;
  private final LongSupplier clock;
  private long lastActivity;
  private long quietSince;
  private ScheduledFuture<?> next;

  IdleWatch(ScheduledExecutorService loop, Duration idle, LongSupplier activity, BooleanSupplier onIdle,
      LongSupplier clock) {
    this.loop = loop;
    this.idleNanos = idle.toNanos();
    this.stepNanos = Math.max(idleNanos / CHECKS_PER_PERIOD, 1);
    this.activity = activity;
    this.onIdle = onIdle;
    this.clock = clock;
    this.lastActivity = activity.getAsLong();
    this.quietSince = clock.getAsLong();
  }

  /**
   * Starts watching a session on {@code loop}; null when {@code idle} is zero (no timeout).
   *
   * @param activity a count that changes with every activity of the session
   * @param onIdle ends the session and returns true, or returns false when it is not idle after all
   */
  public static IdleWatch start(ScheduledExecutorService loop, Duration idle, LongSupplier activity,
      BooleanSupplier onIdle) {
    if (idle.isZero()) {
      return null;
    }
    IdleWatch watch = new IdleWatch(loop, idle, activity, onIdle, System::nanoTime);
    watch.schedule();
    return watch;
  }

  private void schedule() {
    next = loop.schedule(this, stepNanos, TimeUnit.NANOSECONDS);
  }

  /** Stops watching: call when the session closes. */
  public void cancel() {
    if (next != null) {
      next.cancel(false);
    }
  }

  /** Whether a check is scheduled (tests: none may be left once the session has closed). */
  public boolean pending() {
    return next != null && !next.isDone();
  }

  @Override
  public void run() {
    if (!quietTooLong()) {
      schedule();
    }
  }

  /** One check: true when the session was ended for idleness (no further check is wanted). */
  boolean quietTooLong() {
    long now = clock.getAsLong();
    long seen = activity.getAsLong();
    if (seen != lastActivity) {
      lastActivity = seen;
      quietSince = now;
      return false;
    }
    if (now - quietSince < idleNanos) {
      return false;
    }
    if (onIdle.getAsBoolean()) {
      return true;
    }
    quietSince = now; // declined (busy): a full quiet period again from here
    return false;
  }
}
