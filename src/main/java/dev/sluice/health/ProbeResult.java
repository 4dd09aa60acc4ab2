package dev.sluice.health;

import java.util.List;

/**
 * The result of one probe: outcome, a one-line reason, the SMTP dialogue ({@code S: …}/{@code C:
 * …} lines) and how long it took. Immutable.
 *
 * @param certificate subject and expiry of the backend's TLS certificate when STARTTLS ran, else null
 */
public record ProbeResult(
    ProbeOutcome outcome, String reason, List<String> transcript, long elapsedNanos, CertificateInfo certificate) {

  public ProbeResult {
    transcript = List.copyOf(transcript);
  }

  /** Subject and remaining validity of a certificate a backend presented. */
  public record CertificateInfo(String subject, java.time.Instant notAfter, long daysLeft) {}
}
