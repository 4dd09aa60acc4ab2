package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Auth;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL020: a listener with {@code auth: relay} and no {@code tls}. Sluice offers AUTH over TLS only
 * when the listener has {@code tls} (after STARTTLS, or from the first byte with {@code implicit});
 * without it, it offers {@code AUTH PLAIN LOGIN} on the plain connection, and PLAIN and LOGIN carry
 * the password merely base64-encoded. Reported on external and internal listeners alike (the
 * password crosses a network either way), except on a loopback listener, which only the host
 * itself reaches.
 */
final class PlainAuthRule extends ConfigRule {
  PlainAuthRule() {
    super("SL020", Severity.ERROR, Pitfall.GENERAL, "AUTH in plain text");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : c.listeners().values()) {
      if (l.mode() != Mode.SMTP || l.auth() != Auth.RELAY || l.tls() != null || isLoopback(l.listen().host())) {
        continue;
      }
      String who = l.trust() == Trust.EXTERNAL
          ? "anyone on the path between the client and Sluice (on the internet, for an external listener)"
          : "anyone who can watch the internal network between the client and Sluice";
      out.add(finding(Target.listener(l),
          "listener " + q(l.name()) + " relays AUTH without TLS",
          "With auth: relay and no tls, " + q(l.name()) + " offers AUTH PLAIN LOGIN on the plain connection, "
              + "and both mechanisms send the user name and password merely base64-encoded: " + who + " reads "
              + "them in plain text and can then send mail as that user, relaying through the servers to any "
              + "domain.",
          "Add tls: { cert: tls/cert.pem, key: tls/key.pem } (AUTH is then offered only after STARTTLS), or "
              + "implicit: true in it for a port-465 listener. If TLS ends in front of Sluice on a trusted "
              + "segment (a proxy that sends PROXY headers), acknowledge " + code() + " on " + q(l.name()) + "."));
    }
  }
}
