package dev.sluice.proxy;

import dev.sluice.balance.Backend;
import dev.sluice.balance.PoolBalancer;
import dev.sluice.config.ListenerConfig;
import dev.sluice.health.ListenerEligibility;
import dev.sluice.health.PassiveHealth;
import dev.sluice.health.ProbeTarget;
import dev.sluice.proxy.tls.BackendTlsContext;
import dev.sluice.proxy.tls.ServerTls;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything a listener needs to place a session: its config, its pool's balancer and the
 * eligibility of that pool's backends under the listener's own health profile, and the pool's
 * passive health to report live failures to, who observes its sessions (protocol log, metrics),
 * its TLS server context ({@code tls} is null without a {@code tls:} section) and its TLS client
 * context towards backends ({@code backendTls} null with {@code backend_tls: none}), and where it
 * looks up its clients' host names ({@code clientNames}: null unless a {@code resolver:} is set and
 * the listener passes names on, with XCLIENT or XFORWARD or in its Received line). An immutable
 * snapshot; a reload swaps in a new one. A transaction in flight keeps the route it started with;
 * an smtp session takes the current route at its next transaction.
 */
public record ListenerRoute(
    ListenerConfig listener,
    PoolBalancer balancer,
    ListenerEligibility eligibility,
    PassiveHealth passive,
    SessionObserver observer,
    ServerTls tls,
    BackendTlsContext backendTls,
    dev.sluice.proxy.identity.ClientNames clientNames) {

  private static final Logger log = LoggerFactory.getLogger(ListenerRoute.class);

  /**
   * Reports a failure of {@code backend} in live traffic for session {@code info}: to the pool's
   * passive health (logging the ejection when this failure is the one that ejects it), and to the
   * observers as a retry when another backend will be tried, that is while the caller's retry
   * budget is not spent ({@code budgetLeft}) and a backend not in {@code tried} is there to take
   * it. Thread-safe, as {@link PassiveHealth} is.
   */
  public void liveFailure(SessionInfo info, Backend backend, String why, boolean budgetLeft, Predicate<Backend> tried) {
    if (passive.failure(backend) == PassiveHealth.Verdict.EJECTED) {
      String ejected = "ejected for " + passive.remainingText(backend) + " after consecutive failures in live traffic";
      log.warn("{}: backend {} {}", listener.name(), backend, ejected);
      observer.backendStateChanged(listener.name(), backend, ejected + " (last: " + why + ")");
    }
    passOver(info, backend, why, budgetLeft, tried);
  }

  /**
   * {@code backend} cannot serve what this session asks (it lacks an extension the client needs)
   * without having failed: another is tried, its health is untouched, and the retry is counted as
   * {@link #liveFailure} counts it.
   */
  public void passOver(SessionInfo info, Backend backend, String why, boolean budgetLeft, Predicate<Backend> tried) {
    observer.retry(info, backend, why, budgetLeft && balancer.hasCandidate(eligibility, tried));
  }

  /**
   * Ends the passive ejection of {@code t}'s backend when {@code t} is this listener's probe target
   * for it and has just come back UP from DEGRADED or DOWN: the probes saw the failure end, so
   * waiting out the rest of {@code eject_for} would only keep a healthy backend idle. Failures the
   * probes never see (refusals of some senders only) change no probe state and end no ejection.
   */
  public void probesSawRecovery(ProbeTarget t) {
    if (eligibility.probes(t) && passive.endEjection(t.backend())) {
      log.info("{}: backend {} returns before its ejection ends: its probes under {} saw it recover",
          listener.name(), t.backend(), t.key());
      observer.backendStateChanged(listener.name(), t.backend(), "ejection ended early: the probes saw it recover");
    }
  }
}
