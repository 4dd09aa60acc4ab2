package dev.sluice.audit;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL027: port 465 without implicit TLS on the way. On 465 (SMTPS, RFC 8314 §3.3) the server greets
 * only inside TLS. A tcp listener without {@code implicit_tls} that listens on 465 or relays to
 * servers on 465 waits for a plain-text banner that never comes, and its sessions fail after
 * {@code timeouts.banner}; an smtp listener speaks plain SMTP (or STARTTLS) to its servers and
 * cannot reach one on 465 at all. The port number is a strong hint, not proof (a server may serve
 * plain SMTP on 465), hence a warning to acknowledge rather than an error.
 */
final class ImplicitTlsPortRule extends ConfigRule {
  private static final int SMTPS = 465;

  ImplicitTlsPortRule() {
    super("SL027", Severity.WARNING, Pitfall.GENERAL, "port 465 without implicit TLS");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : c.listeners().values()) {
      if (l.mode() == Mode.TCP && l.implicitTls()) {
        continue;
      }
      PoolConfig pool = c.pools().get(l.pool());
      boolean serversOn465 = pool != null && pool.backends().stream().map(BackendConfig::address).anyMatch(a -> a.port() == SMTPS);
      if (l.mode() == Mode.TCP && (l.listen().port() == SMTPS || serversOn465)) {
        out.add(finding(Target.listener(l),
            "tcp listener " + q(l.name()) + " relays port 465 but has no implicit_tls",
            "On port 465 the server greets only inside TLS, after the client's handshake. Without implicit_tls "
                + "Sluice waits for a plain-text banner first, so every session fails after timeouts.banner "
                + "(and the probes fail the same way).",
            "Set implicit_tls: true on the listener and give it a health profile whose steps start "
                + "[connect, tls, banner, ...]; acknowledge SL027 if these servers really speak plain SMTP on 465."));
      } else if (l.mode() == Mode.SMTP && serversOn465) {
        out.add(finding(Target.listener(l),
            "smtp listener " + q(l.name()) + " sends to servers on port 465",
            "Servers on port 465 expect TLS from the first byte; smtp mode speaks plain SMTP to its servers "
                + "(STARTTLS with backend_tls), so it cannot deliver to them.",
            "Point the pool at the servers' port 25 or 587 (with backend_tls: require for TLS), or relay 465 with a "
                + "tcp listener with implicit_tls: true."));
      }
    }
  }
}
