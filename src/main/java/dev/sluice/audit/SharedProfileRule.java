package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * SL016: an external and an internal listener judge backends with the same health profile (both
 * unset counts: both use the built-in default). Exchange applies back pressure to external senders
 * first, so one probe sender cannot judge a server correctly for both zones (seed pitfall 4).
 */
final class SharedProfileRule extends ConfigRule {
  SharedProfileRule() {
    super("SL016", Severity.INFO, Pitfall.SHALLOW_HEALTH, "one health profile for both zones");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig ext : listeners(c, Trust.EXTERNAL)) {
      String sharing = listeners(c, Trust.INTERNAL).stream()
          .filter(i -> Objects.equals(i.health(), ext.health()))
          .map(i -> q(i.name()))
          .collect(Collectors.joining(", "));
      if (sharing.isEmpty()) {
        continue;
      }
      String profile = ext.health() == null ? "the default health profile" : "health profile " + q(ext.health());
      out.add(finding(Target.listener(ext),
          "external listener " + q(ext.name()) + " and internal " + sharing + " share " + profile,
          "Exchange under back pressure refuses an internet sender (452 4.3.1) while it still accepts an "
              + "internal one. One probe sender judges a server the same for both zones: an internal sender "
              + "keeps feeding it internet mail, an external one drains it from the internal relay too.",
          "Define a profile per zone (mail_from of an internet sender for the external listener, of an "
              + "internal one for the internal listener) and set health: on each listener."));
    }
  }
}
