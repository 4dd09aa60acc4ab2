package dev.sluice.health;

import dev.sluice.balance.Backend;
import dev.sluice.balance.Eligibility;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Eligibility of a pool's backends for one listener: UP under the listener's own probe key, not
 * passively ejected, and enabled by the operator. The time it reports feeds slow start: the later of
 * the return to UP and the end of the latest ejection.
 *
 * <p>Thread-safe: reads volatile probe state and the synchronized passive state.
 */
public final class ListenerEligibility implements Eligibility {
  private final ProbeTarget[] byIndex;
  private final PassiveHealth passive;

  /**
   * @param targets the probe target of each backend of the pool under the listener's key, indexed
   *     like the pool's backends
   */
  public ListenerEligibility(List<ProbeTarget> targets, PassiveHealth passive) {
    this.byIndex = targets.toArray(new ProbeTarget[0]);
    this.passive = passive;
  }

  /** Whether {@code t} is this listener's probe target for its backend. */
  public boolean probes(ProbeTarget t) {
    int i = t.backend().index();
    return i < byIndex.length && byIndex[i] == t;
  }

  /**
   * The SASL mechanisms offered to this listener's probes by the backends that are eligible now,
   * in the order first seen; empty when no probe has seen an EHLO reply (a profile without an
   * {@code ehlo} step, or none probed yet).
   */
  public List<String> authMechanisms() {
    LinkedHashSet<String> offered = new LinkedHashSet<>();
    for (ProbeTarget t : byIndex) {
      ProbeResult last = t == null ? null : t.lastResult();
      if (last != null && last.authMechanisms() != null && eligibleSince(t.backend()) != NOT_ELIGIBLE) {
        offered.addAll(last.authMechanisms());
      }
    }
    return List.copyOf(offered);
  }

  @Override
  public long eligibleSince(Backend b) {
    if (b.adminState() != Backend.AdminState.ENABLED) {
      return NOT_ELIGIBLE;
    }
    ProbeTarget t = byIndex[b.index()];
    long since = t == null ? NOT_ELIGIBLE : t.eligibleSince();
    if (since == NOT_ELIGIBLE || passive.ejected(b)) {
      return NOT_ELIGIBLE;
    }
    long returned = passive.returnedAt(b);
    return returned == Long.MIN_VALUE ? since : Math.max(since, returned);
  }
}
