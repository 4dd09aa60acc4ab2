package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.BareNewline;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL011: {@code bare_newline: normalize} on an external listener. Bare CR or LF from the internet is
 * a broken client or an SMTP smuggling attempt; normalize repairs instead of refusing it.
 */
final class BareNewlineRule extends ConfigRule {
  BareNewlineRule() {
    super("SL011", Severity.INFO, Pitfall.GENERAL, "lenient framing");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      if (l.mode() != Mode.SMTP || l.bareNewline() != BareNewline.NORMALIZE) {
        continue;
      }
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " normalizes bare newlines",
          "A bare CR or LF in mail from the internet comes from a broken client or from an SMTP smuggling "
              + "attempt (a second message hidden behind a non-standard end of data). Sluice's framing stays "
              + "strict either way, but normalize accepts and rewrites such messages instead of refusing them.",
          "Use bare_newline: reject (the default) unless a known sender needs normalize; then acknowledge SL011."));
    }
  }
}
