package dev.sluice.audit;

import dev.sluice.config.AdminConfig;
import dev.sluice.config.SluiceConfig;
import java.util.List;

/**
 * SL007: the admin API listens on a non-loopback address without {@code token_file}. It can drain,
 * disable and re-weight backends and reload the configuration, so anyone who reaches it controls
 * mail flow.
 */
final class AdminTokenRule extends ConfigRule {
  AdminTokenRule() {
    super("SL007", Severity.ERROR, Pitfall.GENERAL, "admin API without token");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    AdminConfig admin = c.admin();
    if (admin.listen() == null || admin.tokenFile() != null || isLoopback(admin.listen().host())) {
      return;
    }
    out.add(finding(Target.admin(admin),
        "admin API on " + admin.listen() + " has no token_file",
        "Anyone who can reach " + admin.listen() + " can drain or disable every backend (stopping mail "
            + "flow), put all weight on one server, or reload the configuration.",
        "Add token_file: admin.token (a file holding a long random token), or listen on 127.0.0.1 and reach "
            + "the dashboard through SSH or an authenticating reverse proxy."));
  }
}
