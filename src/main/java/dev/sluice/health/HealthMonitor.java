package dev.sluice.health;

import dev.sluice.balance.Backend;
import dev.sluice.config.HealthProfile;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
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
 * caused it. A STARTTLS probe's certificate is warned about while it is within the profile's {@code
 * cert_warn_days} of expiry or past it, once per day of the countdown.
 *
 * <p>Threading: targets may be registered before or after {@link #start()} (a reload adds them;
 * they are probed at once) and removed with {@link #retainOnly} (their probes stop); the target set
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
  /** Registered targets in registration order; during a reload a (key, backend) may have two. */
  private final java.util.Set<ProbeTarget> targets = new java.util.LinkedHashSet<>();
  private final List<java.util.function.BiConsumer<ProbeTarget, HealthState>> stateListeners = new ArrayList<>();
  private final List<java.util.function.BiConsumer<ProbeTarget, ProbeResult>> probeListeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();
  private final CompletableFuture<Void> firstRound = new CompletableFuture<>();
  /** Completes when the target's first probe has finished; removed then. */
  private final Map<ProbeTarget, CompletableFuture<Void>> firstProbes = new java.util.HashMap<>();
  private volatile boolean closed;
  private boolean started;
  private int undecided;

  public HealthMonitor(SmtpProbe probe, EventLoopGroup group, LongSupplier nanoClock, RandomGenerator random) {
    this.probe = probe;
    this.group = group;
    this.nanoClock = nanoClock;
    this.random = random;
  }

  /**
   * Registers a backend under a probe key and profile; idempotent, also for a profile that only moved
   * in the file ({@link HealthProfile#probesLike}). A reload that changes the profile gets a new
   * target while the old one goes on until {@link #retainOnly} drops it, so a reload that fails can
   * keep the old. After {@link #start()} a new target is probed at once;
   * {@link #firstProbe} tells when its state is known.
   */
  public synchronized ProbeTarget register(ProbeKey key, Backend backend, HealthProfile profile) {
    for (ProbeTarget t : targets) {
      if (t.key().equals(key) && t.backend() == backend && t.profile().probesLike(profile)) {
        return t;
      }
    }
    ProbeTarget t = new ProbeTarget(key, backend, profile, nanoClock.getAsLong());
    targets.add(t);
    firstProbes.put(t, new CompletableFuture<>());
    if (started) {
      EventLoop loop = group.next();
      loop.execute(() -> runProbe(t, loop));
    }
    return t;
  }

  /** Completes when {@code t} has finished its first probe (at once if it has). */
  public synchronized CompletableFuture<Void> firstProbe(ProbeTarget t) {
    CompletableFuture<Void> f = firstProbes.get(t);
    return f == null ? CompletableFuture.completedFuture(null) : f;
  }

  /** Removes every target not in {@code keep}; their probes stop after the one in progress. */
  public synchronized void retainOnly(java.util.Set<ProbeTarget> keep) {
    targets.removeIf(t -> !keep.contains(t));
    firstProbes.keySet().removeIf(t -> !keep.contains(t));
  }

  private synchronized boolean registered(ProbeTarget t) {
    return targets.contains(t);
  }

  /** Adds a hook run (on the probe's event loop) after a target's state changed, with its previous state. */
  public synchronized void onStateChange(java.util.function.BiConsumer<ProbeTarget, HealthState> listener) {
    stateListeners.add(listener);
  }

  /** Adds a hook run (on the probe's event loop) after every finished probe, e.g. for metrics. */
  public void onProbe(java.util.function.BiConsumer<ProbeTarget, ProbeResult> listener) {
    probeListeners.add(listener);
  }

  /** Starts probing every registered target. */
  public synchronized void start() {
    started = true;
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
    return Collections.unmodifiableList(new ArrayList<>(targets));
  }

  /** The newest target for a backend under a key, or null if none is registered. */
  public synchronized ProbeTarget target(ProbeKey key, Backend backend) {
    ProbeTarget found = null;
    for (ProbeTarget t : targets) {
      if (t.key().equals(key) && t.backend() == backend) {
        found = t;
      }
    }
    return found;
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
    if (closed || !registered(t)) {
      return;
    }
    InetSocketAddress at = t.backend().socketAddress();
    CompletableFuture<ProbeResult> probing = at.isUnresolved()
        ? CompletableFuture.completedFuture(new ProbeResult(ProbeOutcome.FAILED,
            "backend name " + t.backend().address().host() + " does not resolve", List.of(), 0, null))
        : probe.probe(at, t.key(), t.profile());
    probing
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
      List<java.util.function.BiConsumer<ProbeTarget, HealthState>> hooks;
      synchronized (this) {
        hooks = List.copyOf(stateListeners);
      }
      hooks.forEach(h -> h.accept(t, previous));
    }
    reportCertificate(t, r.certificate());
    if (first) {
      decidedOne(t);
    }
    long interval = t.profile().interval().toMillis();
    long jitter = interval / 10;
    long delay = interval + (jitter > 0 ? random.nextLong(-jitter, jitter + 1) : 0);
    loop.schedule(() -> runProbe(t, loop), Math.max(1, delay), TimeUnit.MILLISECONDS);
  }

  private synchronized void decidedOne(ProbeTarget t) {
    CompletableFuture<Void> f = firstProbes.remove(t);
    if (f != null) {
      f.complete(null);
    }
    if (--undecided == 0) {
      firstRound.complete(null);
    }
  }

  /**
   * Warns when a backend's certificate expires within the profile's {@code cert_warn_days} or has
   * expired. Expiry never changes the health state (a client that does not verify still gets its
   * mail through, and chain validation is backend_tls's concern), so the log is where it shows.
   */
  private static void reportCertificate(ProbeTarget t, ProbeResult.CertificateInfo c) {
    if (t.certificateWarningDue(c)) {
      log.warn("backend {} under {}: TLS certificate {} {}, cert_warn_days {}", t.backend(), t.key(), c.subject(),
          c.describeExpiry(), t.profile().certWarnDays());
    } else if (t.certificateRenewed(c)) {
      log.info("backend {} under {}: TLS certificate {} renewed, {}", t.backend(), t.key(), c.subject(), c.describeExpiry());
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
