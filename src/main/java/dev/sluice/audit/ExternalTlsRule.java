package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL006: an external smtp-mode listener without {@code tls}. In smtp mode Sluice answers the
 * client itself, so the servers' STARTTLS never reaches it. A tcp-mode listener is not reported:
 * its bytes, STARTTLS included, go through to the servers, whose TLS the audit cannot see.
 */
final class ExternalTlsRule extends ConfigRule {
  ExternalTlsRule() {
    super("SL006", Severity.WARNING, Pitfall.GENERAL, "no TLS");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      if (l.mode() != Mode.SMTP || l.tls() != null) {
        continue;
      }
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " offers no STARTTLS",
          "Internet senders encrypt opportunistically; without a certificate here every message crosses the "
              + "internet in plain text, and senders that enforce the domain's MTA-STS or DANE policy will "
              + "not deliver at all.",
          "Add tls: { cert: tls/cert.pem, key: tls/key.pem } with a certificate for the listener's hostname "
              + "(the MX name)."));
    }
  }
}
