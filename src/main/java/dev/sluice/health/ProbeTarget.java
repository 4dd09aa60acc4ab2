package dev.sluice.health;

import dev.sluice.balance.Backend;
import dev.sluice.balance.Eligibility;
import dev.sluice.config.HealthProfile;

/**
 * One backend judged under one {@link ProbeKey}: its tracker, last result and the figures the data
 * path reads. Written only by the event loop that runs its probes; read by any thread through the
 * volatile fields.
 */
public final class ProbeTarget {
  private final ProbeKey key;
  private final Backend backend;
  private final HealthProfile profile;
  final HealthTracker tracker;
  private volatile HealthState state = HealthState.UNKNOWN;
  private volatile long eligibleSince = Eligibility.NOT_ELIGIBLE;
  private volatile ProbeResult last;
  /** The certificate the last probe that saw one saw; kept through probes that fail before TLS. */
  private volatile ProbeResult.CertificateInfo certificate;
  private volatile boolean decided;
  /**
   * The certificate expiry last warned about, so a certificate near or past expiry is logged once
   * per day of its countdown rather than on every probe. Confined to the probing event loop.
   */
  private ProbeResult.CertificateInfo certificateWarned;

  ProbeTarget(ProbeKey key, Backend backend, HealthProfile profile, long nowNanos) {
    this.key = key;
    this.backend = backend;
    this.profile = profile;
    this.tracker = new HealthTracker(profile.rise(), profile.fall(), nowNanos);
  }

  public ProbeKey key() {
    return key;
  }

  public Backend backend() {
    return backend;
  }

  public HealthProfile profile() {
    return profile;
  }

  public HealthState state() {
    return state;
  }

  /** The last finished probe, or null before the first one. */
  public ProbeResult lastResult() {
    return last;
  }

  /**
   * The backend's TLS certificate as the last probe that shook hands saw it (a {@code starttls} or
   * {@code tls} step, or the listener's {@code backend_tls}); null when no probe has. A probe that
   * fails before TLS leaves it as it was: a server that is down still has its certificate.
   */
  public ProbeResult.CertificateInfo certificate() {
    return certificate;
  }

  /** Whether at least one probe has finished. */
  public boolean decided() {
    return decided;
  }

  /** See {@link Eligibility#eligibleSince}. */
  public long eligibleSince() {
    return eligibleSince;
  }

  /**
   * Whether {@code c} (from the latest probe) should be warned about now: it expires within the
   * profile's {@code cert_warn_days} (or has expired) and this day of its countdown, or this
   * certificate, was not warned about yet. Call from the probing event loop.
   */
  boolean certificateWarningDue(ProbeResult.CertificateInfo c) {
    if (c == null || !c.expiresWithin(profile.certWarnDays())) {
      return false;
    }
    ProbeResult.CertificateInfo w = certificateWarned;
    if (w != null && w.daysLeft() == c.daysLeft() && w.notAfter().equals(c.notAfter())) {
      return false;
    }
    certificateWarned = c;
    return true;
  }

  /**
   * Whether a certificate warned about before has been replaced by one outside the warning window
   * (renewed); forgets the warning so a later countdown is warned about again.
   */
  boolean certificateRenewed(ProbeResult.CertificateInfo c) {
    if (certificateWarned == null || c == null || c.expiresWithin(profile.certWarnDays())) {
      return false;
    }
    certificateWarned = null;
    return true;
  }

  /** Applies a probe result; returns the previous state when the state changed, else null. */
  HealthState apply(ProbeResult result, long nowNanos) {
    last = result;
    if (result.certificate() != null) {
      certificate = result.certificate();
    }
    HealthState previous = tracker.record(result.outcome(), nowNanos);
    decided = true;
    if (previous != null) {
      state = tracker.state();
      if (state == HealthState.UP) {
        // Up from the very first probe: serve at full weight. Up after an outage: slow start.
        eligibleSince = previous == HealthState.UNKNOWN ? Eligibility.ALWAYS : nowNanos;
      } else {
        eligibleSince = Eligibility.NOT_ELIGIBLE;
      }
    }
    return previous;
  }
}
