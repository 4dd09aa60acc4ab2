package dev.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.List;
import org.junit.jupiter.api.Test;

/** One test per kind of configuration error: exact position, message and hint. */
class ConfigErrorsTest {

  private static List<ConfigError> errors(String yaml) {
    ConfigException e = catchThrowableOfType(ConfigException.class, () -> ConfigLoader.parse(yaml, "t.yaml"));
    assertThat(e).as("expected a ConfigException for:%n%s", yaml).isNotNull();
    return e.errors();
  }

  /** The only error in {@code yaml}, checked to be at {@code line:col}. */
  private static ConfigError single(String yaml, int line, int col) {
    List<ConfigError> errors = errors(yaml);
    assertThat(errors).as("errors").hasSize(1);
    ConfigError e = errors.get(0);
    assertThat(e.location()).as(e.toString()).isEqualTo(new Location("t.yaml", line, col));
    return e;
  }

  @Test
  void unknownKeySuggestsTheNearestValidKey() {
    ConfigError e = single("""
        pools:
          hub:
            algoritm: round_robin
            backends: [127.0.0.1:10025]
        listeners:
          in: { listen: 127.0.0.1:2525, pool: hub }
        """, 3, 5);
    assertThat(e.message()).contains("unknown key 'algoritm'").contains("pool 'hub'");
    assertThat(e.hint()).startsWith("did you mean 'algorithm'?").contains("valid keys: algorithm, persistence");
  }

  @Test
  void deferralAffinityIsNoneOrAMap() {
    ConfigError e = single("""
        pools:
          hub:
            deferral_affinity: off
            backends: [127.0.0.1:10025]
        listeners:
          in: { listen: 127.0.0.1:2525, pool: hub }
        """, 3, 24);
    assertThat(e.message()).contains("'deferral_affinity' in pool 'hub' must be none or a map");
    assertThat(e.hint()).contains("deferral_affinity: none").contains("{ ttl: 1h, max_entries: 100000 }");

    ConfigError ttl = single("""
        pools:
          hub:
            deferral_affinity: { ttl: 0s }
            backends: [127.0.0.1:10025]
        listeners:
          in: { listen: 127.0.0.1:2525, pool: hub }
        """, 3, 31);
    assertThat(ttl.message()).contains("ttl");
  }

  @Test
  void unknownTopLevelKeyListsValidKeys() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        monitoring: yes
        """, 3, 1);
    assertThat(e.hint()).isEqualTo("valid keys: admin, log, resolver, health, pools, listeners");
  }

  @Test
  void stringWhereMapExpected() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 127.0.0.1:2525
            pool: hub
            limits: lots
        """, 6, 13);
    assertThat(e.message()).contains("'limits' of listener 'in' must be a map, found a single value");
    assertThat(e.hint()).contains("max_connections");
  }

  @Test
  void listWhereScalarExpected() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 127.0.0.1:2525
            pool: hub
            mode: [smtp, tcp]
        """, 6, 11);
    assertThat(e.message()).contains("'mode' in listener 'in' must be a single value, found a list");
    assertThat(e.hint()).contains("smtp, tcp");
  }

  @Test
  void badDuration() {
    ConfigError e = single("""
        health:
          ext: { interval: 5 minutes }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 2, 20);
    assertThat(e.message()).contains("'5 minutes' is not a duration");
    assertThat(e.hint()).contains("30s").contains("5m");
  }

  @Test
  void durationWithoutUnit() {
    ConfigError e = single("""
        pools: { hub: { slow_start: 30, backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 1, 29);
    assertThat(e.message()).contains("'30' has no unit");
    assertThat(e.hint()).contains("30s");
  }

  @Test
  void badSize() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 127.0.0.1:2525
            pool: hub
            limits: { max_message_size: 50 megabytes }
        """, 6, 33);
    assertThat(e.message()).contains("'50 megabytes' is not a size");
    assertThat(e.hint()).contains("50MB").contains("1 KB = 1024 bytes");
  }

  @Test
  void badRate() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 127.0.0.1:2525
            pool: hub
            limits:
              connection_rate: 60 per minute
        """, 7, 24);
    assertThat(e.hint()).contains("60/m");
  }

  @Test
  void addressWithoutPort() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 127.0.0.1
            pool: hub
        """, 4, 13);
    assertThat(e.message()).contains("'127.0.0.1' has no port");
    assertThat(e.hint()).contains("127.0.0.1:2525").contains("[::1]:25");
  }

  @Test
  void addressWithPortOutOfRange() {
    ConfigError e = single("""
        pools:
          hub:
            backends:
              - { name: a, address: 10.0.0.1:70000 }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 4, 29);
    assertThat(e.message()).contains("port 70000").contains("out of range 1..65535");
    assertThat(e.hint()).contains("192.0.2.10:25");
  }

  @Test
  void aNameServerMustBeAnAddressSinceFindingItWouldNeedDns() {
    ConfigError e = single("""
        resolver: { servers: [127.0.0.53, "dns.example:53"] }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 1, 35);
    assertThat(e.message()).contains("'dns.example' in 'dns.example:53' is a name, not an IP address");
    assertThat(e.hint()).contains("127.0.0.53").contains("default 53");
  }

  @Test
  void resolverTimeoutMustBeMoreThanZeroAndItsKeysAreChecked() {
    ConfigError zero = single("""
        resolver: { timeout: 0s }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 1, 22);
    assertThat(zero.message()).contains("'timeout' in 'resolver' must be more than 0");
    ConfigError tooLong = single("""
        resolver: { timeout: 2m }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 1, 22);
    assertThat(tooLong.message()).isEqualTo("'timeout' in 'resolver' is 2m; at most 1m");
    assertThat(tooLong.hint()).contains("default 5s");
    ConfigError unknown = single("""
        resolver: { server: [127.0.0.53] }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 1, 13);
    assertThat(unknown.hint()).startsWith("did you mean 'servers'?");
    ConfigError empty = single("""
        resolver: { servers: }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 1, 13);
    assertThat(empty.hint()).contains("/etc/resolv.conf");
  }

  @Test
  void listenAddressMustNotBeAName() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: "mx.example:25", pool: hub } }
        """, 2, 28);
    assertThat(e.message()).contains("is a name, not an IP address");
  }

  @Test
  void badCidr() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 127.0.0.1:2525
            pool: hub
            allow: [10.0.0.0/8, 10.1.0.0/33]
        """, 6, 25);
    assertThat(e.message()).contains("prefix length 33");
    assertThat(e.hint()).contains("10.0.0.0/8");
  }

  @Test
  void badEnumValueListsValidValues() {
    ConfigError e = single("""
        pools:
          hub:
            algorithm: least_conections
            backends: [127.0.0.1:10025]
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 3, 16);
    assertThat(e.message()).contains("'algorithm' in pool 'hub' cannot be 'least_conections'");
    assertThat(e.hint())
        .startsWith("did you mean 'least_connections'?")
        .contains("valid values: round_robin, least_connections, source_hash, random_two, least_latency");
  }

  @Test
  void unknownPoolReference() {
    ConfigError e = single("""
        pools:
          hub: { backends: [127.0.0.1:10025] }
          edge: { backends: [127.0.0.1:10026] }
        listeners:
          in: { listen: 127.0.0.1:2525, pool: hbu }
        """, 5, 39);
    assertThat(e.message()).contains("listener 'in' refers to unknown pool 'hbu'");
    assertThat(e.hint()).isEqualTo("did you mean 'hub'? defined pools: hub, edge");
  }

  @Test
  void unknownHealthProfileReference() {
    ConfigError e = single("""
        health:
          external: {}
          internal: {}
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 127.0.0.1:2525
            pool: hub
            health: externel
        """, 9, 13);
    assertThat(e.message()).contains("unknown health profile 'externel'");
    assertThat(e.hint()).isEqualTo("did you mean 'external'? defined health profiles: external, internal");
  }

  @Test
  void duplicateListenAddressPointsAtTheSecond() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          a: { listen: 127.0.0.1:2525, pool: hub }
          b: { listen: 127.0.0.1:2525, pool: hub }
        """, 4, 16);
    assertThat(e.message()).contains("listener 'b' listens on 127.0.0.1:2525").contains("'a' (line 3)");
  }

  @Test
  void wildcardListenConflictsWithSpecificAddressOnSamePort() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          a: { listen: 0.0.0.0:25, pool: hub }
          b: { listen: 127.0.0.1:25, pool: hub }
          c: { listen: "[::1]:25", pool: hub }
        """, 4, 16);
    assertThat(e.message()).contains("listener 'b'");
  }

  @Test
  void duplicateBackendNamePointsAtTheSecond() {
    ConfigError e = single("""
        pools:
          hub:
            backends:
              - { name: server1, address: 127.0.0.1:10025 }
              - { name: server1, address: 127.0.0.1:10026 }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 5, 17);
    assertThat(e.message()).contains("duplicate backend name 'server1' in pool 'hub'");
    assertThat(e.hint()).contains("line 4");
  }

  @Test
  void backendNameWithASlashIsRefusedAtTheName() {
    ConfigError e = single("""
        pools:
          hub:
            backends:
              - { name: dc1/mx1, address: 127.0.0.1:10025 }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 4, 17);
    assertThat(e.message()).isEqualTo("backend name 'dc1/mx1' in pool 'hub' contains '/'");
    assertThat(e.hint()).contains("/api/pools/POOL/backends/NAME/drain").contains("e.g. mx1");
  }

  @Test
  void backendNameWithASpaceIsRefused() {
    ConfigError e = single("""
        pools:
          hub:
            backends:
              - { name: "mx 1", address: 127.0.0.1:10025 }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 4, 17);
    assertThat(e.message()).isEqualTo("backend name 'mx 1' in pool 'hub' contains a space or control character");
  }

  @Test
  void poolNameWithASlashIsRefusedAtItsKey() {
    ConfigError e = single("""
        pools:
          edge/in:
            backends: [ 127.0.0.1:10025 ]
        listeners: { in: { listen: 127.0.0.1:2525, pool: edge/in } }
        """, 2, 3);
    assertThat(e.message()).isEqualTo("pool name 'edge/in' contains '/'");
  }

  @Test
  void namesWithDotsDashesUnderscoresAndColonsAreFine() throws Exception {
    assertThat(ConfigLoader.parse("""
        pools:
          edge_pool-1.a:
            backends:
              - { name: mx-1.dc_a, address: 127.0.0.1:10025 }
              - 127.0.0.1:10026
              - "[::1]:10027"
        listeners: { in: { listen: 127.0.0.1:2525, pool: edge_pool-1.a } }
        """, "t.yaml").pools()).containsKey("edge_pool-1.a");
  }

  @Test
  void duplicateScalarBackend() {
    ConfigError e = single("""
        pools:
          hub:
            backends:
              - 127.0.0.1:10025
              - 127.0.0.1:10025
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 5, 9);
    assertThat(e.message()).contains("duplicate backend name '127.0.0.1:10025'");
  }

  @Test
  void poolWithNoBackends() {
    ConfigError e = single("""
        pools:
          hub:
            backends: []
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 3, 15);
    assertThat(e.message()).isEqualTo("pool 'hub' has no backends");
    assertThat(e.hint()).contains("address: 192.0.2.10:25");
  }

  @Test
  void missingRequiredKeyPointsAtTheParentKey() {
    ConfigError e = single("""
        pools:
          hub:
            algorithm: random_two
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 2, 3);
    assertThat(e.message()).isEqualTo("missing required key 'backends' in pool 'hub'");
    assertThat(e.hint()).contains("at least one backend");
  }

  @Test
  void missingTopLevelSection() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        """, 1, 1);
    assertThat(e.message()).isEqualTo("missing required key 'listeners' in the top level");
  }

  @Test
  void duplicateYamlKey() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 127.0.0.1:2525
            pool: hub
            pool: hub
        """, 6, 5);
    assertThat(e.message()).isEqualTo("duplicate key 'pool'");
    assertThat(e.hint()).contains("line 5 column 5");
  }

  @Test
  void yamlSyntaxError() {
    ConfigError e = single("""
        pools:
          hub:
            backends: [127.0.0.1:10025
        listeners: {}
        """, 4, 10);
    assertThat(e.message()).startsWith("YAML syntax error:");
    assertThat(e.hint()).contains("line 3 column 15").contains("indentation");
  }

  @Test
  void smtpOnlyKeyOnTcpListener() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          relay:
            listen: 127.0.0.1:2526
            mode: tcp
            pool: hub
            bare_newline: normalize
        """, 7, 5);
    assertThat(e.message()).contains("'bare_newline' does not apply to listener 'relay'");
    assertThat(e.hint()).contains("only valid with mode: smtp");
  }

  @Test
  void aReceivedHeaderNeedsSmtpModeAndABoolean() {
    // tcp mode never sees where a message starts, so it could not add the line it promises.
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          relay: { listen: 127.0.0.1:2526, mode: tcp, pool: hub, received_header: true }
        """, 3, 58);
    assertThat(e.message()).contains("'received_header' does not apply to listener 'relay'");
    assertThat(e.hint()).contains("only valid with mode: smtp");
    ConfigError notBool = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          mx: { listen: 127.0.0.1:2525, pool: hub, received_header: sometimes }
        """, 3, 61);
    assertThat(notBool.message()).contains("received_header");
  }

  @Test
  void tlsOnATcpListenerIsRefusedNotIgnored() {
    // tcp mode relays bytes and never terminates TLS: accepting the key would promise encryption
    // that does not happen.
    List<ConfigError> errors = errors("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          relay:
            listen: 127.0.0.1:2526
            mode: tcp
            pool: hub
            tls: { cert: tls/cert.pem, key: tls/key.pem, implicit: true }
        """);
    assertThat(errors).anySatisfy(e -> {
      assertThat(e.location()).isEqualTo(new Location("t.yaml", 7, 5));
      assertThat(e.message()).contains("'tls' does not apply to listener 'relay'");
      assertThat(e.hint()).contains("only valid with mode: smtp").contains("implicit_tls: true");
    });
  }

  @Test
  void implicitTlsPassesThroughOnlyInTcpModeAndItsProbesShakeHandsFirst() throws ConfigException {
    String pools = "pools: { hub: { backends: [127.0.0.1:10465] } }\n";
    String tlsFirst = "health:\n  smtps: { steps: [connect, tls, banner, ehlo, mail_from, quit] }\n";
    SluiceConfig ok = ConfigLoader.parse(tlsFirst + pools + "listeners:\n  subm: { listen: 127.0.0.1:465, mode: tcp,"
        + " pool: hub, health: smtps, implicit_tls: true }\n", "t.yaml");
    assertThat(ok.listeners().get("subm").implicitTls()).isTrue();

    ConfigError smtp = single(pools + "listeners:\n  subm: { listen: 127.0.0.1:465, pool: hub, implicit_tls: true }\n", 3, 45);
    assertThat(smtp.message()).contains("'implicit_tls' applies to mode: tcp").contains("has mode: smtp");
    assertThat(smtp.hint()).contains("tls: { cert: ..., key: ..., implicit: true }");

    ConfigError noHandshake = single(pools + "listeners:\n  subm: { listen: 127.0.0.1:465, mode: tcp, pool: hub,"
        + " implicit_tls: true }\n", 3, 70);
    assertThat(noHandshake.message()).contains("implicit_tls: true but its health profile 'default' does not start with tls");
    assertThat(noHandshake.hint()).contains("name a health profile whose steps are [connect, tls, banner");

    ConfigError plainListener = single(tlsFirst + pools + "listeners:\n  mx: { listen: 127.0.0.1:25, mode: tcp, pool: hub,"
        + " health: smtps }\n", 5, 61);
    assertThat(plainListener.message()).contains("uses health profile 'smtps', whose tls step is for servers that speak TLS"
        + " from the first byte");
    assertThat(plainListener.hint()).contains("set implicit_tls: true");

    ConfigError both = single("health:\n  p: { steps: [connect, tls, banner, ehlo, starttls, quit] }\n" + pools
        + "listeners:\n  subm: { listen: 127.0.0.1:465, mode: tcp, pool: hub, health: p, implicit_tls: true }\n", 2, 15);
    assertThat(both.message()).contains("has both tls and starttls");

    ConfigError order = single("health:\n  p: { steps: [connect, banner, tls, quit] }\n" + pools
        + "listeners:\n  subm: { listen: 127.0.0.1:465, mode: tcp, pool: hub, health: p, implicit_tls: true }\n", 2, 15);
    assertThat(order.message()).contains("'tls' cannot come after 'banner'");
  }

  @Test
  void noValueIsAnErrorWhereTheDefaultWouldLoosenTheSetup() {
    // "allow:" with its entries commented out must not quietly admit everyone, nor "tls:" mean
    // plaintext, nor "token_file:" mean no token, nor "mail_from:" switch from <> to the default.
    String yaml = """
        admin:
          listen: 127.0.0.1:8025
          token_file:
        health:
          deep:
            mail_from:
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          mx:
            listen: 127.0.0.1:2525
            pool: hub
            health: deep
            allow:
              # - 10.0.0.0/8
            tls:
        """;
    List<ConfigError> errors = errors(yaml);
    assertThat(errors).extracting(e -> e.location().line() + ":" + e.location().column() + " " + e.message())
        .containsExactlyInAnyOrder(
            "3:3 'token_file' in 'admin' has no value",
            "6:5 'mail_from' in health profile 'deep' has no value",
            "13:5 'allow' in listener 'mx' has no value",
            "15:5 'tls' in listener 'mx' has no value");
    assertThat(errors).filteredOn(e -> e.message().startsWith("'mail_from'")).singleElement()
        .satisfies(e -> assertThat(e.hint()).contains("mail_from: \"\" for the null sender <>"));
  }

  @Test
  void hostnameMustBeADomainName() {
    for (String bad : List.of("\"\"", "\"mx corp\"", "mx_1.example", "-mx.example", "mx..example", "\"[mx.example]\"",
        "\"[2001:db8::1]\"", "\"[IPv6:192.0.2.1]\"")) {
      ConfigError e = single("""
          pools: { hub: { backends: [127.0.0.1:10025] } }
          listeners:
            mx:
              listen: 127.0.0.1:2525
              pool: hub
              hostname: %s
          """.formatted(bad), 6, 15);
      assertThat(e.message()).as(bad).contains("is not a domain name or an address literal");
      assertThat(e.hint()).isEqualTo("a domain name, e.g. mx.example.com, or an address literal such as [192.0.2.25]");
    }
  }

  @Test
  void xclientNeedsSmtpMode() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          relay: { listen: 127.0.0.1:2526, mode: tcp, pool: hub, client_identity: xclient }
        """, 3, 75);
    assertThat(e.hint()).contains("proxy_v2");
  }

  @Test
  void weightZeroSuggestsDraining() {
    ConfigError e = single("""
        pools:
          hub:
            backends:
              - { name: s1, address: 127.0.0.1:10025, weight: 0 }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 4, 55);
    assertThat(e.message()).contains("'weight' in a backend of pool 'hub' is 0");
    assertThat(e.hint()).contains("drain");
  }

  @Test
  void timeoutMustBeShorterThanInterval() {
    ConfigError e = single("""
        health:
          ext: { interval: 5s, timeout: 5s }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub, health: ext } }
        """, 2, 33);
    assertThat(e.message()).contains("must be shorter than 'interval'");
  }

  @Test
  void healthStepsMustStartWithConnect() {
    ConfigError e = single("""
        health:
          ext: { steps: [banner, ehlo] }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 2, 17);
    assertThat(e.message()).contains("must start with connect");
  }

  @Test
  void unknownHealthStepSuggestsNearest() {
    ConfigError e = single("""
        health:
          ext: { steps: [connect, mailfrom] }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 2, 27);
    assertThat(e.message()).contains("did you mean 'mail_from'?");
  }

  @Test
  void rcptToStepNeedsMailFromAndAnAddress() {
    List<ConfigError> errors = errors("""
        health:
          ext:
            steps: [connect, banner, ehlo, rcpt_to]
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """);
    assertThat(errors).extracting(ConfigError::message).containsExactly(
        "health profile 'ext' has a rcpt_to step but no 'rcpt_to' address",
        "'steps' in health profile 'ext': a rcpt_to step needs a mail_from step before it");
    assertThat(errors.get(0).location().line()).isEqualTo(2);
    assertThat(errors.get(1).location()).isEqualTo(new Location("t.yaml", 3, 12));
  }

  @Test
  void badAcknowledgeCode() {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025], acknowledge: [SL001, SL1] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, 1, 67);
    assertThat(e.hint()).contains("SL001");
  }

  @Test
  void acknowledgeCodeListedTwiceInOneList() {
    ConfigError e = single("""
        pools:
          hub:
            backends: [127.0.0.1:10025]
            acknowledge:
              - SL004
              - SL008
              - SL004
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub, acknowledge: [SL004] } }
        """, 7, 9);
    assertThat(e.message()).isEqualTo("'acknowledge' in pool 'hub' lists SL004 twice");
    assertThat(e.hint()).isEqualTo("SL004 is already listed at line 5 column 9; remove one of them");
    // Flow style too, and each list on its own: the listener's repeat is a second error.
    List<ConfigError> both = errors("""
        pools: { hub: { backends: [127.0.0.1:10025], acknowledge: [SL004, SL004] } }
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub, acknowledge: [SL002, SL010, SL002] } }
        """);
    assertThat(both).extracting(ConfigError::location).containsExactly(
        new Location("t.yaml", 1, 67), new Location("t.yaml", 2, 83));
    assertThat(both.get(1).message()).isEqualTo("'acknowledge' in listener 'in' lists SL002 twice");
  }

  @Test
  void emptyFile() {
    ConfigError e = single("", 1, 1);
    assertThat(e.message()).contains("empty");
  }

  @Test
  void collectsEveryErrorInOneRun() {
    List<ConfigError> errors = errors("""
        pools:
          hub:
            algoritm: round_robin
            backends:
              - { name: s1, address: 127.0.0.1:10025, weight: 0 }
        listeners:
          in:
            listen: 127.0.0.1:99999
            pool: hbu
            limits: { idle_timeout: soon }
        """);
    assertThat(errors).extracting(e -> e.location().line() + ":" + e.location().column())
        .containsExactly("3:5", "5:55", "8:13", "9:11", "10:29");
  }

  /**
   * XCLIENT and XFORWARD are SMTP commands, so a tcp listener refuses them; the hint lists every
   * client_identity a tcp listener does take, transparent included (docs/security.md: both modes).
   */
  @Test
  void smtpCommandIdentityOnTcpListenerHintsAtEveryTcpIdentity() throws ConfigException {
    ConfigError e = single("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in: { listen: 127.0.0.1:2525, pool: hub, mode: tcp, client_identity: xclient }
        """, 3, 72);
    assertThat(e.message()).contains("client_identity xclient is an SMTP command and needs mode: smtp");
    assertThat(e.hint()).contains("none").contains("proxy_v1").contains("proxy_v2").contains("transparent");
    for (String identity : List.of("none", "proxy_v1", "proxy_v2", "transparent")) {
      SluiceConfig c = ConfigLoader.parse("""
          pools: { hub: { backends: [127.0.0.1:10025] } }
          listeners:
            in: { listen: 127.0.0.1:2525, pool: hub, mode: tcp, client_identity: %s }
          """.formatted(identity), "t.yaml");
      assertThat(c.listeners().get("in").clientIdentity().name()).isEqualToIgnoringCase(identity);
    }
  }

  /**
   * A backend's own client_identity applies to every listener of its pool: XCLIENT on a backend is
   * refused where a tcp listener uses the pool (at that listener's pool:, since the backend is
   * right for the smtp ones), and a misspelt value is refused at the backend.
   */
  @Test
  void aBackendsSmtpCommandIdentityIsRefusedWhereATcpListenerUsesItsPool() throws ConfigException {
    ConfigError e = single("""
        pools:
          hub:
            backends:
              - { name: pf1, address: 127.0.0.1:10025, client_identity: xclient }
        listeners:
          in: { listen: 127.0.0.1:2525, pool: hub }
          relay: { listen: 127.0.0.1:2526, pool: hub, mode: tcp }
        """, 7, 42);
    assertThat(e.message()).contains("listener 'relay'").contains("backend 'pf1' of pool 'hub' (line 4)")
        .contains("client_identity: xclient");
    assertThat(e.hint()).contains("mode: smtp");
    ConfigError typo = single("""
        pools:
          hub:
            backends:
              - { name: ex1, address: 127.0.0.1:10025, client_identity: transparnet }
        listeners:
          in: { listen: 127.0.0.1:2525, pool: hub }
        """, 4, 65);
    assertThat(typo.message()).contains("'client_identity'").contains("transparnet");
    assertThat(typo.hint()).contains("transparent");
  }

  @Test
  void describeListsEveryErrorWithItsHint() {
    ConfigException e = catchThrowableOfType(ConfigException.class, () ->
        ConfigLoader.parse("pools: {}\nlisteners: {}\n", "t.yaml"));
    assertThat(e.describe()).contains("t.yaml:1:8: 'pools' defines no pool\n    hint: ")
        .contains("t.yaml:2:12: 'listeners' defines no listener");
  }

  @Test
  void missingFileIsAConfigErrorNotAStackTrace() {
    assertThatThrownBy(() -> ConfigLoader.load(java.nio.file.Path.of("/nonexistent/sluice.yaml")))
        .isInstanceOfSatisfying(ConfigException.class, ex -> {
          assertThat(ex.errors()).hasSize(1);
          assertThat(ex.errors().get(0).location()).isEqualTo(new Location("/nonexistent/sluice.yaml", 0, 0));
          assertThat(ex.errors().get(0).message()).contains("no such file");
        });
  }
}
