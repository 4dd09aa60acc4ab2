package dev.sluice.config;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A health profile: the probe recipe one listener uses to judge backends. Each backend is judged
 * separately under each profile in use (DESIGN §6), so a server refusing internet senders can be
 * drained from the internet listener and still serve the internal relay.
 *
 * <p>{@code rcptTo} may be null (no {@code rcpt_to} step). Immutable.
 */
public record HealthProfile(
    String name,
    List<Step> steps,
    String helo,
    String mailFrom,
    String rcptTo,
    Duration interval,
    Duration timeout,
    int rise,
    int fall,
    int certWarnDays,
    Map<String, Location> acknowledge,
    Location location) {

  /** Default steps: deep enough to see back pressure, which shows only at MAIL FROM. */
  public static final List<Step> DEFAULT_STEPS =
      List.of(Step.CONNECT, Step.BANNER, Step.EHLO, Step.MAIL_FROM, Step.QUIT);

  /** The profile of a listener that names none. */
  public static final HealthProfile DEFAULT =
      new HealthProfile(
          "default",
          DEFAULT_STEPS,
          "probe.sluice.invalid",
          "probe@sluice-probe.invalid",
          null,
          Duration.ofSeconds(5),
          Duration.ofSeconds(3),
          2,
          2,
          14,
          Map.of(),
          Location.NONE);

  public HealthProfile {
    steps = List.copyOf(steps);
    acknowledge = Ordered.copyOf(acknowledge);
  }

  /**
   * Whether {@code other} probes exactly as this profile does: every setting equal but where the
   * profile is written and what the audit may accept on it ({@code acknowledge}, whose entries carry
   * their positions too). A reload keeps a backend's probe state when its profile only moved in the
   * file; plain {@code equals} would start it over.
   */
  public boolean probesLike(HealthProfile other) {
    return recipe().equals(other.recipe());
  }

  /** This profile without its position and acknowledgements: what decides how it probes. */
  private HealthProfile recipe() {
    return new HealthProfile(name, steps, helo, mailFrom, rcptTo, interval, timeout, rise, fall, certWarnDays,
        Map.of(), Location.NONE);
  }

  /** One step of a probe, in the order written in {@code steps}. */
  public enum Step {
    CONNECT,
    /** A TLS handshake straight after connecting: servers that speak TLS from the first byte (port 465). */
    TLS,
    BANNER,
    EHLO,
    STARTTLS,
    MAIL_FROM,
    RCPT_TO,
    QUIT
  }
}
