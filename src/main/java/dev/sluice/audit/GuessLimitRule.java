package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Auth;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL024: an external listener relays AUTH with no {@code limits.auth_failures}. The per-session
 * error limit stops a guesser only until it reconnects, and behind a balancer the servers' own
 * defences that count per client (fail2ban on their logs, say) may see only Sluice unless the
 * client's address is passed on.
 */
final class GuessLimitRule extends ConfigRule {
  GuessLimitRule() {
    super("SL024", Severity.INFO, Pitfall.GENERAL, "no limit on failed logins");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : listeners(c, Trust.EXTERNAL)) {
      if (l.mode() != Mode.SMTP || l.auth() != Auth.RELAY || l.limits().authFailures() != null) {
        continue;
      }
      out.add(finding(Target.listener(l),
          "external listener " + q(l.name()) + " relays AUTH with no limits.auth_failures",
          "A password guesser that reconnects every few attempts is stopped by nothing at the edge: the error "
              + "limit ends one session, not the next. Every guess reaches a server, and defences on the servers "
              + "that count per client (Postfix's smtpd_client_auth_rate_limit, fail2ban on the mail log) see the "
              + "real client only when client_identity passes it on.",
          "Set limits: { auth_failures: 10/h } on " + q(l.name()) + ": each client address may then fail ten "
              + "logins an hour (refilled steadily), after which Sluice answers its AUTH with 454 itself. If the "
              + "servers already limit failed logins per client, acknowledge " + code() + " on the listener."));
    }
  }
}
