package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL026: an external smtp-mode listener with {@code tls.required}. RFC 3207 §4: a publicly
 * referenced SMTP server must not require STARTTLS to deliver mail locally, because senders that
 * cannot negotiate TLS then cannot deliver at all. Right for submission (587) or a partner link;
 * wrong for an MX. An implicit-TLS listener is not reported: TLS is its transport, not a demand.
 */
final class RequiredTlsRule extends ConfigRule {
  RequiredTlsRule() {
    super("SL026", Severity.WARNING, Pitfall.GENERAL, "TLS required from internet senders");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      if (l.mode() != Mode.SMTP || l.tls() == null || l.tls().implicit() || !l.tls().required()) {
        continue;
      }
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " refuses mail before STARTTLS (tls.required)",
          "RFC 3207 §4 says a publicly referenced server must not require TLS to deliver mail locally: a "
              + "sender that cannot negotiate TLS (an old MTA, a scanner appliance, a certificate it rejects) "
              + "gets 530 5.7.0 at MAIL FROM and bounces the message instead of falling back to plain text.",
          "If this is the MX, drop required and publish MTA-STS or DANE so that senders able to verify TLS "
              + "insist on it; keep required for submission (587) and partner listeners, and acknowledge SL026 there."));
    }
  }
}
