package dev.sluice.audit;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.IpLiteral;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Auth;
import dev.sluice.config.ListenerConfig.BackendTls;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.SluiceConfig;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * SL021: a listener with {@code auth: relay} whose backends are on other hosts, and whose
 * connections to them may be plain text: {@code backend_tls: none}, or {@code starttls}, which
 * carries on in plain text when a backend does not offer STARTTLS (or someone on the path strips it
 * from the EHLO reply). Sluice relays the client's AUTH exchange, so PLAIN and LOGIN put the password
 * on that network merely base64-encoded. SL020 is the same on the client's side of Sluice; the
 * client's TLS ends at Sluice and does not protect this hop.
 *
 * <p>Backends at a loopback address ({@code 127.0.0.0/8}, {@code ::1}) are on this host and never
 * count. A backend written as a host name does: nothing is resolved, so the audit cannot tell that
 * it points here. {@code backend_tls: require} with {@code backend_tls_verify: false} is SL018's.
 */
final class BackendAuthRule extends ConfigRule {
  BackendAuthRule() {
    super("SL021", Severity.ERROR, Pitfall.GENERAL, "AUTH relayed in plain text");
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    for (ListenerConfig l : c.listeners().values()) {
      if (l.mode() != Mode.SMTP || l.auth() != Auth.RELAY || l.backendTls() == BackendTls.REQUIRE) {
        continue;
      }
      Set<String> remote = new LinkedHashSet<>();
      boolean names = false;
      for (BackendConfig b : poolOf(c, l).backends()) {
        if (!isLoopback(b.address().host())) {
          remote.add(addressKey(b.address()));
          names |= IpLiteral.parse(b.address().host()) == null;
        }
      }
      if (remote.isEmpty()) {
        continue;
      }
      String servers = String.join(", ", remote);
      boolean starttls = l.backendTls() == BackendTls.STARTTLS;
      String plain = starttls
          ? "backend_tls: starttls upgrades a connection only when the backend offers STARTTLS and otherwise carries "
              + "on in plain text, without a word to the client: a server whose TLS is off or broken, or anyone on "
              + "the path who strips STARTTLS from its EHLO reply, gets the AUTH exchange unencrypted."
          : "Without backend_tls every connection to them is plain text.";
      out.add(finding(Target.listener(l),
          "listener " + q(l.name()) + " relays AUTH to " + servers
              + (starttls ? " over STARTTLS that falls back to plain text" : " without backend TLS"),
          "With auth: relay, " + q(l.name()) + " passes each client's AUTH exchange on to " + servers + ". "
              + plain + " PLAIN and LOGIN, which most clients use, carry the user name and password merely "
              + "base64-encoded: anyone who can watch the network between Sluice and the servers reads them and "
              + "can then send mail as that user. The client's own TLS ends at Sluice and does not cover this hop."
              + (names ? " Host names are not resolved: one that points at this host still counts as another host."
                  : ""),
          "Set backend_tls: require on " + q(l.name()) + " (certificates are verified by default; set "
              + "backend_tls_ca for an internal CA) and enable STARTTLS on the servers; or run the servers on this "
              + "host and write them as loopback addresses (127.0.0.1, [::1]). If nobody but the two hosts can "
              + "reach the path between them (a dedicated link, an IPsec tunnel), acknowledge " + code() + " on "
              + q(l.name()) + "."));
    }
  }
}
