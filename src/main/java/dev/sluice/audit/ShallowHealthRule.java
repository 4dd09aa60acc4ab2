package dev.sluice.audit;

import dev.sluice.config.HealthProfile;
import dev.sluice.config.HealthProfile.Step;
import dev.sluice.config.SluiceConfig;
import java.util.List;
import java.util.Locale;

/**
 * SL003: a health profile that stops before {@code mail_from}. Back pressure shows only at MAIL
 * FROM, so such a probe keeps a refusing server UP (seed pitfall 4).
 */
final class ShallowHealthRule extends ConfigRule {
  ShallowHealthRule() {
    super("SL003", Severity.WARNING, Pitfall.SHALLOW_HEALTH, "health probe blind to back pressure");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (HealthProfile p : c.health().values()) {
      if (p.steps().contains(Step.MAIL_FROM)) {
        continue;
      }
      // The last step that talks to the server; QUIT only says goodbye.
      String last = p.steps().stream().filter(s -> s != Step.QUIT).reduce((a, b) -> b)
          .orElse(Step.CONNECT).name().toLowerCase(Locale.ROOT);
      out.add(finding(Target.profile(p),
          "health profile " + q(p.name()) + " stops at " + last,
          "Back pressure shows only at MAIL FROM (Exchange: 452 4.3.1 Insufficient system resources), often "
              + "only for external senders. A probe that stops at " + last + " keeps such a server UP, and "
              + "Sluice keeps sending it mail it refuses, as the seed's load balancer did.",
          "steps: [connect, banner, ehlo, mail_from, quit], with a mail_from the servers judge like a real "
              + "sender of the listener's zone."));
    }
  }
}
