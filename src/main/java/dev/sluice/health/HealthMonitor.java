package dev.sluice.health;

import dev.sluice.balance.Backend;
import dev.sluice.config.HealthProfile;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Schedules active health probes for every (probe key, backend) in use and keeps their states.
 *
 * <p>Probes of one target never overlap (the next is scheduled when the previous finishes), the
 * first round is spread over a short window and later rounds carry ±10% jitter, so many backends
 * are not probed in lock step. Each state change is logged with the transcript of the probe that
 * caused it.
 *
 * <p>Threading: register targets before {@link #start()}; after that the target set is fixed and
 * may be read from any thread. Each target's probes run on one event loop.
 */
public final class HealthMonitor implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(HealthMonitor.class);
  /** Window over which the first probes of all targets are spread at start. */
  private static final long FIRST_ROUND_SPREAD_MS = 200;

  private final SmtpProbe probe;
  private final EventLoopGroup group;
  private final LongSupplier nanoClock;
  private final RandomGenerator random;
  private final Map<ProbeKey, Map<Backend, ProbeTarget>> targets = new LinkedHashMap<>();
  private final List<Runnable> stateListeners = new ArrayList<>();
  private final List<java.util.function.BiConsumer<ProbeTarget, ProbeResult>> probeListeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();
  private final CompletableFuture<Void> firstRound = new CompletableFuture<>();
  private volatile boolean closed;
  private int undecided;

  public HealthMonitor(SmtpProbe probe, EventLoopGroup group, LongSupplier nanoClock, RandomGenerator random) {
    this.probe = probe;
    this.group = group;
    this.nanoClock = nanoClock;
    this.random = random;
  }

  /** Registers a backend under a probe key; idempotent. Call before {@link #start()}. */
  public synchronized ProbeTarget register(ProbeKey key, Backend backend, HealthProfile profile) {
    return targets
        .computeIfAbsent(key, k -> new LinkedHashMap<>())
        .computeIfAbsent(backend, b -> new ProbeTarget(key, b, profile, nanoClock.getAsLong()));
  }

  /** Adds a hook run (on a probe's event loop) after any state change. */
  public synchronized void onStateChange(Runnable listener) {
    stateListeners.add(listener);
  }

  /** Adds a hook run (on the probe's event loop) after every finished probe, e.g. for metrics. */
  public void onProbe(java.util.function.BiConsumer<ProbeTarget, ProbeResult> listener) {
    probeListeners.add(listener);
  }

  /** Starts probing every registered target. */
  public synchronized void start() {
    List<ProbeTarget> all = all();
    undecided = all.size();
    if (undecided == 0) {
      firstRound.complete(null);
    }
    for (ProbeTarget t : all) {
      EventLoop loop = group.next();
      long delay = all.size() == 1 ? 0 : random.nextLong(FIRST_ROUND_SPREAD_MS);
      loop.schedule(() -> runProbe(t, loop), delay, TimeUnit.MILLISECONDS);
    }
  }

  /** Completes when every target has finished its first probe. */
  public CompletableFuture<Void> firstRound() {
    return firstRound;
  }

  /** Every target, in registration order. */
  public synchronized List<ProbeTarget> all() {
    List<ProbeTarget> out = new ArrayList<>();
    targets.values().forEach(m -> out.addAll(m.values()));
    return Collections.unmodifiableList(out);
  }

  /** The target for a backend under a key, or null if it was never registered. */
  public synchronized ProbeTarget target(ProbeKey key, Backend backend) {
    Map<Backend, ProbeTarget> m = targets.get(key);
    return m == null ? null : m.get(backend);
  }

  /** The targets of a pool's backends under one key, indexed like the pool (null where unregistered). */
  public synchronized List<ProbeTarget> targets(ProbeKey key, List<Backend> poolBackends) {
    List<ProbeTarget> out = new ArrayList<>(poolBackends.size());
    for (Backend b : poolBackends) {
      out.add(target(key, b));
    }
    return out;
  }

  private void runProbe(ProbeTarget t, EventLoop loop) {
    if (closed) {
      return;
    }
    InetAddress source = t.key().source();
    probe
        .probe(t.backend().address().toSocketAddress(), source, t.profile(), t.key().proxyVersion())
        .whenComplete(
            (result, error) -> {
              ProbeResult r =
                  error != null
                      ? new ProbeResult(ProbeOutcome.FAILED, "probe error: " + error, List.of(), 0, null)
                      : result;
              loop.execute(() -> afterProbe(t, loop, r));
            });
  }

  private void afterProbe(ProbeTarget t, EventLoop loop, ProbeResult r) {
    if (closed) {
      return;
    }
    boolean first = !t.decided();
    HealthState previous = t.apply(r, nanoClock.getAsLong());
    probeListeners.forEach(l -> l.accept(t, r));
    if (previous != null) {
      logChange(t, previous, r);
      List<Runnable> hooks;
      synchronized (this) {
        hooks = List.copyOf(stateListeners);
      }
      hooks.forEach(Runnable::run);
    }
    if (first) {
      decidedOne();
    }
    long interval = t.profile().interval().toMillis();
    long jitter = interval / 10;
    long delay = interval + (jitter > 0 ? random.nextLong(-jitter, jitter + 1) : 0);
    loop.schedule(() -> runProbe(t, loop), Math.max(1, delay), TimeUnit.MILLISECONDS);
  }

  private synchronized void decidedOne() {
    if (--undecided == 0) {
      firstRound.complete(null);
    }
  }

  private static void logChange(ProbeTarget t, HealthState previous, ProbeResult r) {
    String what = "backend " + t.backend() + " under " + t.key() + ": " + previous + " -> " + t.state() + " (" + r.reason() + ")";
    if (t.state() == HealthState.UP) {
      log.info(what);
    } else {
      log.warn("{}\n  {}", what, String.join("\n  ", r.transcript()));
    }
  }

  @Override
  public void close() {
    closed = true;
  }
}
