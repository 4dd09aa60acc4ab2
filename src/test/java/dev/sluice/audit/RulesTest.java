package dev.sluice.audit;

import static dev.sluice.audit.AuditConfigs.CLEAN;
import static dev.sluice.audit.AuditConfigs.audit;
import static dev.sluice.audit.AuditConfigs.codes;
import static dev.sluice.audit.AuditConfigs.with;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every rule fires on {@link AuditConfigs#CLEAN} with one mistake put in, and does not fire on the
 * clean (fixed) configuration.
 */
class RulesTest {

  /** code, the clean text, the broken text. */
  static Stream<Arguments> mistakes() {
    return Stream.of(
        Arguments.of("SL001", "source_address: 10.0.0.21\n    client_identity: xclient",
            "source_address: 10.0.0.22\n    client_identity: xforward"),
        Arguments.of("SL002", "client_identity: xclient", "client_identity: none"),
        Arguments.of("SL003", "steps: [connect, banner, ehlo, mail_from, quit]", "steps: [connect, banner, ehlo, quit]"),
        Arguments.of("SL004", "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, weight: 3 }"),
        Arguments.of("SL005", "algorithm: round_robin", "algorithm: source_hash"),
        Arguments.of("SL005", "persistence: none", "persistence: { mode: source_ip, ttl: 30m }"),
        Arguments.of("SL006", "tls: { cert: tls/cert.pem, key: tls/key.pem }", ""),
        Arguments.of("SL007", "listen: 127.0.0.1:8025", "listen: 0.0.0.0:8025"),
        Arguments.of("SL008", """
                  - { name: server2, address: 10.0.0.12:25 }
                  - { name: dr1, address: 10.0.0.13:25, priority: 2 }
            """, ""),
        Arguments.of("SL009", "balance: transaction", "balance: connection"),
        Arguments.of("SL010", "retries: 2", "retries: 0"),
        Arguments.of("SL011", "bare_newline: reject", "bare_newline: normalize"),
        Arguments.of("SL012", "timeout: 3s", "timeout: 4s"),
        Arguments.of("SL013", "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, priority: 2 }"),
        Arguments.of("SL014", "allow: [10.0.0.0/8]", "allow: [0.0.0.0/0]"),
        Arguments.of("SL015", "accept_proxy: []", "accept_proxy: [0.0.0.0/0]"),
        Arguments.of("SL016", "health: internal", "health: external"),
        Arguments.of("SL017", "address: 10.0.0.12:25 }", "address: 10.0.0.11:25 }"),
        Arguments.of("SL018", "bare_newline: reject", "bare_newline: reject\n    backend_tls: require\n    backend_tls_verify: false"),
        // An internet listener and an internal-looking one without trust: internal, from one address.
        Arguments.of("SL019", "  relay:\n", """
              mx2:
                listen: 10.0.0.6:25
                pool: hub
                health: external
                source_address: 10.0.0.23
                client_identity: xforward
                tls: { cert: tls/cert.pem, key: tls/key.pem }
              apps:
                listen: 10.0.0.6:2525
                pool: hub
                health: internal
                source_address: 10.0.0.23
                allow: [10.0.0.0/8]
              relay:
            """),
        Arguments.of("SL020", "tls: { cert: tls/cert.pem, key: tls/key.pem }", "auth: relay"),
        Arguments.of("SL021", "bare_newline: reject", "bare_newline: reject\n    auth: relay"),
        // 'internet' hands on the client's address: there is no SL002 to acknowledge.
        Arguments.of("SL022", "accept_proxy: []", "accept_proxy: []\n    acknowledge: [SL002]"),
        Arguments.of("SL023", "resolver:\n  servers: [10.0.0.53]\n", ""),
        Arguments.of("SL024", "bare_newline: reject", "bare_newline: reject\n    auth: relay"),
        // Dual-stack and transparent over IPv4-only servers: IPv6 senders find no server.
        Arguments.of("SL025", INTERNET_HEAD + "    client_identity: xclient",
            INTERNET_HEAD.replace("10.0.0.5:25", "'[::]:25'") + "    client_identity: transparent"),
        // The MX refusing senders that cannot do TLS (RFC 3207 §4).
        Arguments.of("SL026", "tls: { cert: tls/cert.pem, key: tls/key.pem }",
            "tls: { cert: tls/cert.pem, key: tls/key.pem, required: true }"),
        // Port 465 greets only inside TLS: a tcp listener there without implicit_tls, an smtp one sending there.
        Arguments.of("SL027", "listen: 10.0.0.5:2526", "listen: 10.0.0.5:465"));
  }

  /** CLEAN's internet listener from its listen address to just before its client_identity. */
  private static final String INTERNET_HEAD =
      CLEAN.substring(CLEAN.indexOf("listen: 10.0.0.5:25"), CLEAN.indexOf("    client_identity: xclient"));

  @ParameterizedTest(name = "{0}: {2}")
  @MethodSource("mistakes")
  void ruleFiresOnTheMistake(String code, String clean, String broken) {
    assertThat(codes(with(CLEAN, clean, broken))).contains(code);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("mistakes")
  void ruleIsQuietOnTheFixedConfig(String code, String clean, String broken) {
    assertThat(codes(CLEAN)).doesNotContain(code);
  }

  @Test
  void serversOnPort465AreReportedForEveryListenerThatCannotReachThem() {
    String broken = with(CLEAN, "address: 10.0.0.12:25 }", "address: 10.0.0.12:465 }");
    assertThat(audit(broken)).filteredOn(f -> f.code().equals("SL027")).extracting(Finding::title).containsExactlyInAnyOrder(
        "port 465 without implicit TLS: smtp listener 'internet' sends to servers on port 465",
        "port 465 without implicit TLS: tcp listener 'relay' relays port 465 but has no implicit_tls");
    String fixed = with(broken, "    allow: [10.0.0.0/8]", "    allow: [10.0.0.0/8]\n    implicit_tls: true")
        .replace("  internal:\n    steps: [connect, banner,", "  internal:\n    steps: [connect, tls, banner,");
    assertThat(audit(fixed)).filteredOn(f -> f.code().equals("SL027")).extracting(Finding::title)
        .containsExactly("port 465 without implicit TLS: smtp listener 'internet' sends to servers on port 465");
  }

  @Test
  void cleanConfigHasNoFindingsAtAll() {
    assertThat(audit(CLEAN)).isEmpty();
  }

  @Test
  void everyRuleHasAMistakeCaseAndAUniqueWellFormedCode() {
    List<String> covered = mistakes().map(a -> (String) a.get()[0]).distinct().toList();
    List<String> codes = Auditor.RULES.stream().map(Rule::code).toList();
    assertThat(codes).doesNotHaveDuplicates().allMatch(c -> c.matches("SL\\d{3}"));
    assertThat(covered).containsExactlyInAnyOrderElementsOf(codes);
  }

  @Test
  void findingsCarryTheirRulesSeverityAndPitfall() {
    for (Rule rule : Auditor.RULES) {
      mistakes().filter(a -> a.get()[0].equals(rule.code())).forEach(a -> {
        Finding f = AuditConfigs.only(audit(with(CLEAN, (String) a.get()[1], (String) a.get()[2])), rule.code());
        assertThat(f.severity()).isEqualTo(rule.severity());
        assertThat(f.pitfall()).isEqualTo(rule.pitfall());
        assertThat(f.title()).startsWith(rule.name() + ": ");
        assertThat(f.explanation()).isNotBlank();
        assertThat(f.fix()).isNotBlank();
        assertThat(f.acknowledged()).isFalse();
      });
    }
  }
}
