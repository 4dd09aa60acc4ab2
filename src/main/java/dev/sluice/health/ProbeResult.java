package dev.sluice.health;

import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * The result of one probe: outcome, a one-line reason, the SMTP dialogue ({@code S: …}/{@code C:
 * …} lines) and how long it took. Immutable.
 *
 * @param certificate subject and expiry of the backend's TLS certificate when STARTTLS ran, else null
 * @param authMechanisms the SASL mechanisms the backend's last EHLO reply offered (RFC 4954), after
 *     the session was set up as the listener's are; null when the probe saw no EHLO reply
 */
public record ProbeResult(ProbeOutcome outcome, String reason, List<String> transcript, long elapsedNanos,
    CertificateInfo certificate, List<String> authMechanisms) {

  public ProbeResult {
    transcript = List.copyOf(transcript);
    authMechanisms = authMechanisms == null ? null : List.copyOf(authMechanisms);
  }

  /** A result without an EHLO reply to learn from. */
  public ProbeResult(ProbeOutcome outcome, String reason, List<String> transcript, long elapsedNanos,
      CertificateInfo certificate) {
    this(outcome, reason, transcript, elapsedNanos, certificate, null);
  }

  /**
   * Subject and remaining validity of a certificate a backend presented.
   *
   * @param daysLeft whole days from the probe until {@code notAfter}, rounded down: 0 on the last
   *     day, negative once expired (-1 within the first day after expiry)
   */
  public record CertificateInfo(String subject, Instant notAfter, long daysLeft) {
    private static final long SECONDS_PER_DAY = 86_400;

    /** The certificate as seen at {@code now}. */
    public static CertificateInfo of(X509Certificate certificate, Instant now) {
      Instant notAfter = certificate.getNotAfter().toInstant();
      // Rounded down, not towards zero, so that an expired certificate never shows "0 days".
      long days = Math.floorDiv(Duration.between(now, notAfter).getSeconds(), SECONDS_PER_DAY);
      return new CertificateInfo(certificate.getSubjectX500Principal().getName(), notAfter, days);
    }

    /** Whether the certificate had already expired when the probe saw it. */
    public boolean expired() {
      return daysLeft < 0;
    }

    /**
     * Whether it expires within {@code warnDays} days (the profile's {@code cert_warn_days}), or
     * already has: with 0 only an expired certificate qualifies.
     */
    public boolean expiresWithin(int warnDays) {
      return daysLeft < warnDays;
    }

    /** {@code expires 2030-01-01T00:00:00Z (30 days)}, or {@code EXPIRED 2024-…Z (-3 days)}. */
    public String describeExpiry() {
      return (expired() ? "EXPIRED " : "expires ") + notAfter + " (" + daysLeft + " days)";
    }
  }
}
