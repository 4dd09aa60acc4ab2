package dev.sluice.audit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.ConfigException;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.SluiceConfig;
import dev.sluice.config.IpLiteral;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Configurations for the audit tests: a clean design, the seed's layout, and helpers. */
final class AuditConfigs {
  private AuditConfigs() {}

  /**
   * A well-designed configuration with no findings at all: an smtp external listener with its own
   * source address, XCLIENT, TLS and a deep external probe; an internal tcp listener with its own
   * source address, PROXY v2, a narrow ACL and its own probe; equal weights plus a standby tier.
   */
  static final String CLEAN = """
      admin:
        listen: 127.0.0.1:8025
      resolver:
        servers: [10.0.0.53]
      health:
        external:
          steps: [connect, banner, ehlo, mail_from, quit]
          mail_from: probe@sluice-probe.invalid
          interval: 5s
          timeout: 3s
        internal:
          steps: [connect, banner, ehlo, mail_from, quit]
          mail_from: healthcheck@corp.example
      pools:
        hub:
          algorithm: round_robin
          persistence: none
          backends:
            - { name: server1, address: 10.0.0.11:25 }
            - { name: server2, address: 10.0.0.12:25 }
            - { name: dr1, address: 10.0.0.13:25, priority: 2 }
      listeners:
        internet:
          listen: 10.0.0.5:25
          mode: smtp
          balance: transaction
          pool: hub
          health: external
          trust: external
          source_address: 10.0.0.21
          client_identity: xclient
          accept_proxy: []
          retries: 2
          bare_newline: reject
          tls: { cert: tls/cert.pem, key: tls/key.pem }
        relay:
          listen: 10.0.0.5:2526
          mode: tcp
          pool: hub
          health: internal
          trust: internal
          source_address: 10.0.0.22
          client_identity: proxy_v2
          allow: [10.0.0.0/8]
      """;

  /**
   * The seed's layout: one virtual service address for internet mail (from the gateway) and for
   * internal relaying, both source-NATed to the balancer's address, a banner-only probe, uneven
   * weights and source-IP balancing.
   */
  static final String SEED = """
      health:
        banner:
          steps: [connect, banner, ehlo, quit]
      pools:
        hub:
          algorithm: source_hash
          backends:
            - { name: server1, address: 10.1.1.21:25, weight: 3 }
            - { name: server2, address: 10.1.1.22:25, weight: 1 }
      listeners:
        internet:
          listen: 10.1.1.12:25
          mode: tcp
          pool: hub
          health: banner
          trust: external
        relay:
          listen: 10.1.1.12:2525
          mode: tcp
          pool: hub
          health: banner
          trust: internal
          allow: [10.0.0.0/8]
      """;

  static SluiceConfig parse(String yaml) {
    try {
      return ConfigLoader.parse(yaml, "sluice.yaml");
    } catch (ConfigException e) {
      throw new AssertionError("test config is invalid: " + e.errors(), e);
    }
  }

  static List<Finding> audit(String yaml) {
    return Auditor.audit(parse(yaml));
  }

  static List<String> codes(String yaml) {
    return audit(yaml).stream().map(Finding::code).toList();
  }

  static List<Finding> audit(String yaml, DefaultSource routes) {
    return Auditor.audit(parse(yaml), routes);
  }

  static List<String> codes(String yaml, DefaultSource routes) {
    return audit(yaml, routes).stream().map(Finding::code).toList();
  }

  /**
   * A routing table as a map from destination to the source address the host picks towards it (IP
   * literals); other destinations have no route.
   */
  static DefaultSource routes(Map<String, String> sourceByDestination) {
    return destination -> Optional.ofNullable(sourceByDestination.get(destination.getHostAddress()))
        .map(AuditConfigs::ip);
  }

  static InetAddress ip(String literal) {
    try {
      return InetAddress.getByAddress(IpLiteral.parse(literal));
    } catch (UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  /** {@code yaml} with the first occurrence of {@code from} replaced; fails if it is absent. */
  static String with(String yaml, String from, String to) {
    assertThat(yaml).contains(from);
    return yaml.replaceFirst(Pattern.quote(from), Matcher.quoteReplacement(to));
  }

  /** The 1-based line of the first line of {@code yaml} that starts with {@code prefix}. */
  static int lineOf(String yaml, String prefix) {
    String[] lines = yaml.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      if (lines[i].startsWith(prefix)) {
        return i + 1;
      }
    }
    throw new AssertionError("no line starts with '" + prefix + "'");
  }

  /** The only finding with {@code code}. */
  static Finding only(List<Finding> findings, String code) {
    List<Finding> matching = findings.stream().filter(f -> f.code().equals(code)).toList();
    assertThat(matching).as("findings with code " + code).hasSize(1);
    return matching.get(0);
  }
}
