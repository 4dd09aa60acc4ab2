package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL010: {@code retries: 0} on an external smtp listener. A busy server's 4xx then goes straight to
 * the internet sender instead of the next server (seed pitfall 4: back pressure reaches the sender).
 */
final class NoRetriesRule extends ConfigRule {
  NoRetriesRule() {
    super("SL010", Severity.WARNING, Pitfall.SHALLOW_HEALTH, "no retries");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      if (l.mode() != Mode.SMTP || l.retries() != 0) {
        continue;
      }
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " has retries: 0",
          "A server under back pressure answers 452 4.3.1 before health probes catch it; with no retries that "
              + "reply reaches the internet sender, which queues the message for minutes or hours although "
              + "another server could take it now.",
          "Remove retries (default 2) or set retries: 2."));
    }
  }
}
