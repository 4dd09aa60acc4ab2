package dev.sluice.lab;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One balancer configuration the lab sends its traffic through: the seed's layout of an {@code
 * internet} listener (fed by the email-security gateway) and a {@code relay} listener (fed by the
 * internal applications) over one pool {@code hub}. Each lab run changes one or two knobs of this
 * and keeps the rest, so the outcome can be pinned on the knob.
 *
 * <p>Health in the lab is fast (against the embedded server 300 ms interval, 250 ms timeout; the
 * timeout is the backends' {@link LabBackends#probeTimeout()} and the interval 50 ms more; rise 1,
 * fall 1) so that a run can wait for a probe to notice a change instead of sleeping a guessed time.
 * Immutable.
 *
 * @param internetMode {@code tcp} (per connection, like an ordinary balancer) or {@code smtp}
 *     (Sluice balances every transaction and retries a 4xx on another server)
 * @param deepHealth whether the internet listener's probe goes to {@code MAIL FROM} as an outside
 *     sender, or stops at the banner like the seed's balancer
 * @param sourcePersistence whether the pool sends a returning client address to the same server
 * @param weights server weights in pool order; servers beyond the list weigh 1
 * @param internetSource the internet listener's {@code source_address}, or null for the default
 * @param relaySource the relay listener's {@code source_address}, or null for the default
 * @param internetTransparent whether the internet listener connects from each client's own address
 *     ({@code client_identity: transparent}) instead of a source address
 * @param deferralAffinity whether the pool sends a sender that a server deferred back to that server
 *     (Sluice's default); in smtp mode only, tcp mode never sees a reply
 */
public record RunConfig(String internetMode, boolean deepHealth, boolean sourcePersistence, List<Integer> weights,
    String internetSource, String relaySource, boolean internetTransparent, boolean deferralAffinity) {

  public RunConfig {
    weights = List.copyOf(weights);
  }

  /** The seed's balancer: tcp mode, round robin, no persistence, even weights, banner-only health. */
  public static RunConfig seedBalancer() {
    return new RunConfig("tcp", false, false, List.of(), null, null, false, true);
  }

  public RunConfig smtpMode() {
    return new RunConfig("smtp", deepHealth, sourcePersistence, weights,
        internetSource, relaySource, internetTransparent, deferralAffinity);
  }

  public RunConfig withDeepHealth() {
    return new RunConfig(internetMode, true, sourcePersistence, weights,
        internetSource, relaySource, internetTransparent, deferralAffinity);
  }

  public RunConfig withSourcePersistence() {
    return new RunConfig(internetMode, deepHealth, true, weights,
        internetSource, relaySource, internetTransparent, deferralAffinity);
  }

  public RunConfig withWeights(Integer... w) {
    return new RunConfig(internetMode, deepHealth, sourcePersistence, List.of(w),
        internetSource, relaySource, internetTransparent, deferralAffinity);
  }

  public RunConfig withSources(String internet, String relay) {
    return new RunConfig(internetMode, deepHealth, sourcePersistence, weights,
        internet, relay, internetTransparent, deferralAffinity);
  }

  /** The internet listener connects from each client's own address instead of a source address. */
  public RunConfig withTransparentInternet() {
    return new RunConfig(internetMode, deepHealth, sourcePersistence, weights,
        null, relaySource, true, deferralAffinity);
  }

  /** {@code deferral_affinity: none}: every transaction is balanced afresh, retries included. */
  public RunConfig withoutDeferralAffinity() {
    return new RunConfig(internetMode, deepHealth, sourcePersistence, weights, internetSource, relaySource,
        internetTransparent, false);
  }

  private int weight(int i) {
    return i < weights.size() ? weights.get(i) : 1;
  }

  /** One line for tables and JSON: the knobs that differ between runs. */
  public String summary(int servers) {
    List<String> parts = new ArrayList<>();
    boolean smtp = "smtp".equals(internetMode);
    parts.add("internet " + internetMode + (smtp ? " per transaction, retries 2" : " per connection"));
    if (smtp) {
      // Only smtp mode sees the replies that deferral affinity follows.
      parts.add(deferralAffinity ? "deferral affinity on" : "deferral_affinity: none");
    }
    parts.add((deepHealth ? "MAIL FROM" : "banner-only") + " health");
    parts.add("round_robin" + (sourcePersistence ? " + source_ip persistence" : ""));
    List<String> w = new ArrayList<>();
    for (int i = 0; i < servers; i++) {
      w.add(Integer.toString(weight(i)));
    }
    parts.add("weights " + String.join(":", w));
    if (internetTransparent) {
      parts.add("internet from each client's own address (transparent), relay " + orDefault(relaySource));
    } else if (internetSource != null || relaySource != null) {
      parts.add("source_address internet " + orDefault(internetSource) + ", relay " + orDefault(relaySource));
    }
    return String.join("; ", parts);
  }

  private static String orDefault(String address) {
    return address == null ? "default" : address;
  }

  /** The YAML Sluice is started with against the embedded server, listeners on free loopback ports. */
  public String yaml(List<InetSocketAddress> backends) {
    return yaml(backends, Duration.ofMillis(250));
  }

  /** The YAML Sluice is started with, listeners on free loopback ports, probes timing out after {@code probeTimeout}. */
  public String yaml(List<InetSocketAddress> backends, Duration probeTimeout) {
    StringBuilder sb = new StringBuilder("health:\n");
    profile(sb, "external", deepHealth, "probe@internet.example", probeTimeout);
    // The relay listener's own probe: as an inside sender, which back pressure never refuses.
    profile(sb, "internal", true, "health@corp.example", probeTimeout);
    sb.append("pools:\n  hub:\n    algorithm: round_robin\n    persistence: ")
        .append(sourcePersistence ? "{ mode: source_ip, ttl: 30m }" : "none").append('\n');
    if (!deferralAffinity) {
      sb.append("    deferral_affinity: none\n");
    }
    sb.append("    backends:\n");
    for (int i = 0; i < backends.size(); i++) {
      InetSocketAddress a = backends.get(i);
      sb.append("      - { name: server").append(i + 1).append(", address: ").append(a.getHostString()).append(':')
          .append(a.getPort()).append(", weight: ").append(weight(i)).append(" }\n");
    }
    sb.append("listeners:\n  internet:\n    listen: 127.0.0.1:0\n    mode: ").append(internetMode).append('\n');
    if ("smtp".equals(internetMode)) {
      sb.append("    balance: transaction\n    retries: 2\n    hostname: mx.lab.invalid\n");
    }
    sb.append("    pool: hub\n    health: external\n    trust: external\n");
    if (internetTransparent) {
      sb.append("    client_identity: transparent\n");
    }
    source(sb, internetSource);
    sb.append("  relay:\n    listen: 127.0.0.1:0\n    mode: tcp\n    pool: hub\n    health: internal\n    trust: internal\n")
        .append("    allow: [127.0.0.0/8]\n");
    source(sb, relaySource);
    return sb.toString();
  }

  private static void profile(StringBuilder sb, String name, boolean deep, String mailFrom, Duration timeout) {
    sb.append("  ").append(name).append(":\n    steps: ")
        .append(deep ? "[connect, banner, ehlo, mail_from, quit]" : "[connect, banner, quit]").append('\n')
        .append("    mail_from: ").append(mailFrom).append('\n')
        .append("    interval: ").append(timeout.toMillis() + 50).append("ms\n    timeout: ").append(timeout.toMillis())
        .append("ms\n    rise: 1\n    fall: 1\n");
  }

  private static void source(StringBuilder sb, String address) {
    if (address != null) {
      sb.append("    source_address: ").append(address).append('\n');
    }
  }
}
