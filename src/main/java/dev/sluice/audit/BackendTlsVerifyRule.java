package dev.sluice.audit;

import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.BackendTls;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL018: {@code backend_tls_verify: false}. The switch exists for labs with throwaway certificates;
 * in production it lets anyone on the path between Sluice and its servers read and alter mail.
 */
final class BackendTlsVerifyRule extends ConfigRule {
  BackendTlsVerifyRule() {
    super("SL018", Severity.WARNING, Pitfall.GENERAL, "backend TLS not verified");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : c.listeners().values()) {
      if (l.backendTls() == BackendTls.NONE || l.backendTlsVerify()) {
        continue;
      }
      out.add(finding(Target.listener(l),
          "listener " + q(l.name()) + " does not verify its backends' TLS certificates",
          "With backend_tls_verify: false any certificate is accepted, so a machine that can intercept the "
              + "connection to a server can pose as it, read every message and change it. The switch is meant for "
              + "labs with throwaway certificates.",
          "Remove backend_tls_verify: false; for servers with an internal CA set backend_tls_ca to that CA's "
              + "certificate (PEM)."));
    }
  }
}
