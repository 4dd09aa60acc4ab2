package dev.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import dev.sluice.config.HealthProfile.Step;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.PoolConfig.Algorithm;
import dev.sluice.config.PoolConfig.Persistence;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Valid configurations: the DESIGN §3 example, defaults, and the short forms. */
class ConfigLoaderTest {

  static String example() throws IOException {
    try (InputStream in = ConfigLoaderTest.class.getResourceAsStream("example.yaml")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private static final String MINIMAL = """
      pools:
        hub:
          backends: [127.0.0.1:10025]
      listeners:
        in:
          listen: 127.0.0.1:2525
          pool: hub
      """;

  @Test
  void designExampleParsesWithItsValues(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("sluice.yaml");
    Files.writeString(file, example());
    SluiceConfig c = ConfigLoader.load(file);

    assertThat(c.file()).isEqualTo(file);
    assertThat(c.admin().listen()).isEqualTo(new HostPort("127.0.0.1", 8025));
    assertThat(c.admin().tokenFile()).isEqualTo(dir.resolve("admin.token"));
    assertThat(c.log().protocolDir()).isEqualTo(dir.resolve("logs"));
    assertThat(c.log().protocolLevel()).isEqualTo(LogConfig.ProtocolLevel.BASIC);

    assertThat(c.health()).containsOnlyKeys("external", "internal");
    HealthProfile ext = c.health().get("external");
    assertThat(ext.steps()).containsExactly(Step.CONNECT, Step.BANNER, Step.EHLO, Step.MAIL_FROM, Step.QUIT);
    assertThat(ext.interval()).isEqualTo(Duration.ofSeconds(5));
    assertThat(ext.timeout()).isEqualTo(Duration.ofSeconds(3));
    assertThat(ext.location()).isEqualTo(new Location(file.toString(), 10, 3));
    assertThat(c.health().get("internal").mailFrom()).isEqualTo("healthcheck@corp.example");
    assertThat(c.health().get("internal").helo()).isEqualTo("probe.sluice.invalid");

    PoolConfig hub = c.pools().get("hub");
    assertThat(hub.algorithm()).isEqualTo(Algorithm.ROUND_ROBIN);
    assertThat(hub.persistence()).isEqualTo(Persistence.NONE);
    assertThat(hub.slowStart()).isEqualTo(Duration.ofSeconds(30));
    assertThat(hub.passive()).isEqualTo(PoolConfig.Passive.DEFAULT);
    assertThat(hub.backends()).extracting(BackendConfig::name).containsExactly("server1", "server2", "dr1");
    assertThat(hub.backends()).extracting(BackendConfig::priority).containsExactly(1, 1, 2);
    assertThat(hub.backends().get(1).address()).isEqualTo(new HostPort("127.0.0.1", 10026));

    assertThat(c.listeners().keySet()).containsExactly("internet", "relay");
    ListenerConfig internet = c.listeners().get("internet");
    assertThat(internet.listen()).isEqualTo(new HostPort("127.0.0.1", 2525));
    assertThat(internet.mode()).isEqualTo(Mode.SMTP);
    assertThat(internet.health()).isEqualTo("external");
    assertThat(internet.sourceAddress()).isEqualTo(InetAddress.getByName("127.0.0.21"));
    assertThat(internet.clientIdentity()).isEqualTo(ClientIdentity.XCLIENT);
    assertThat(internet.allow()).containsExactly(Cidr.parse("0.0.0.0/0"));
    assertThat(internet.hostname()).isEqualTo("mx.corp.example");
    assertThat(internet.tls()).extracting(ListenerConfig.Tls::cert, ListenerConfig.Tls::key, ListenerConfig.Tls::implicit)
        .containsExactly(dir.resolve("tls/cert.pem"), dir.resolve("tls/key.pem"), false);
    assertThat(internet.limits()).isEqualTo(new ListenerConfig.Limits(
        2000, 50, new ListenerConfig.Rate(60, Duration.ofMinutes(1)), 50L * 1024 * 1024, 1000, Duration.ofMinutes(5), null));

    ListenerConfig relay = c.listeners().get("relay");
    assertThat(relay.mode()).isEqualTo(Mode.TCP);
    assertThat(relay.trust()).isEqualTo(Trust.INTERNAL);
    assertThat(relay.clientIdentity()).isEqualTo(ClientIdentity.PROXY_V2);
    assertThat(relay.allow()).containsExactly(Cidr.parse("127.0.0.0/8"));
    assertThat(relay.limits()).isEqualTo(ListenerConfig.Limits.DEFAULT);
    assertThat(c.profileFor(relay).name()).isEqualTo("internal");
  }

  @Test
  void minimalConfigGetsDefaults() throws Exception {
    SluiceConfig c = ConfigLoader.parse(MINIMAL, "/etc/sluice/sluice.yaml");
    assertThat(c.file()).isEqualTo(Path.of("/etc/sluice/sluice.yaml"));
    assertThat(c.admin()).isEqualTo(AdminConfig.NONE);
    assertThat(c.log().protocolDir()).isEqualTo(Path.of("/etc/sluice/logs"));
    assertThat(c.log().protocolLevel()).isEqualTo(LogConfig.ProtocolLevel.BASIC);
    assertThat(c.health()).isEmpty();
    assertThat(c.resolver()).as("no lookups unless asked").isEqualTo(ResolverConfig.NONE);

    PoolConfig pool = c.pools().get("hub");
    assertThat(pool.algorithm()).isEqualTo(Algorithm.ROUND_ROBIN);
    assertThat(pool.persistence()).isEqualTo(Persistence.NONE);
    assertThat(pool.slowStart()).isZero();
    assertThat(pool.passive()).isEqualTo(PoolConfig.Passive.DEFAULT);
    assertThat(pool.acknowledge()).isEmpty();

    ListenerConfig l = c.listeners().get("in");
    assertThat(l.mode()).isEqualTo(Mode.SMTP);
    assertThat(l.balance()).isEqualTo(ListenerConfig.Balance.TRANSACTION);
    assertThat(l.health()).isNull();
    assertThat(c.profileFor(l)).isEqualTo(HealthProfile.DEFAULT);
    assertThat(l.trust()).isEqualTo(Trust.EXTERNAL);
    assertThat(l.sourceAddress()).isNull();
    assertThat(l.clientIdentity()).isEqualTo(ClientIdentity.NONE);
    assertThat(l.acceptProxy()).isEmpty();
    assertThat(l.allow()).containsExactly(Cidr.parse("0.0.0.0/0"), Cidr.parse("::/0"));
    assertThat(l.deny()).isEmpty();
    assertThat(l.hostname()).isNotBlank();
    assertThat(l.retries()).isEqualTo(2);
    assertThat(l.bareNewline()).isEqualTo(ListenerConfig.BareNewline.REJECT);
    assertThat(l.auth()).isEqualTo(ListenerConfig.Auth.NONE);
    assertThat(l.backendTls()).isEqualTo(ListenerConfig.BackendTls.NONE);
    assertThat(l.tls()).isNull();
    assertThat(l.limits()).isEqualTo(ListenerConfig.Limits.DEFAULT);
  }

  @Test
  void resolverForms() throws Exception {
    String rest = "pools: { hub: { backends: [127.0.0.1:10025] } }\nlisteners: { in: { listen: 127.0.0.1:2525, pool: hub } }\n";
    ResolverConfig system = ConfigLoader.parse("resolver:\n" + rest, "t.yaml").resolver();
    assertThat(system.enabled()).isTrue();
    assertThat(system.servers()).as("the system's name servers").isEmpty();
    assertThat(system.timeout()).isEqualTo(ResolverConfig.DEFAULT_TIMEOUT);
    ResolverConfig own = ConfigLoader.parse(
        "resolver: { servers: [127.0.0.53, \"10.0.0.2:5353\", \"::1\", \"[2001:db8::53]:53\"], timeout: 2s }\n" + rest,
        "t.yaml").resolver();
    assertThat(own.servers()).containsExactly(new HostPort("127.0.0.53", 53), new HostPort("10.0.0.2", 5353),
        new HostPort("::1", 53), new HostPort("2001:db8::53", 53));
    assertThat(own.timeout()).isEqualTo(java.time.Duration.ofSeconds(2));
    assertThat(own.location()).isEqualTo(new Location("t.yaml", 1, 1));
  }

  @Test
  void aBracketedNameServerWithoutPortIsTheSameAddress() throws Exception {
    // The hint's own form, [2001:db8::53]:53, without its optional port: the brackets are not part of
    // the host (they showed in logs as [[::1]]:53, and a reload from "::1" to "[::1]" replaced the
    // resolver and its cache for nothing).
    String rest = "pools: { hub: { backends: [127.0.0.1:10025] } }\nlisteners: { in: { listen: 127.0.0.1:2525, pool: hub } }\n";
    ResolverConfig r = ConfigLoader.parse("resolver: { servers: [\"[::1]\"] }\n" + rest, "t.yaml").resolver();
    assertThat(r.servers()).containsExactly(new HostPort("::1", 53));
  }

  @Test
  void aLinkLocalNameServerCanBeWritten() throws Exception {
    // IPv6 networks often announce their DNS server by router advertisement, as fe80::1%eth0.
    String rest = "pools: { hub: { backends: [127.0.0.1:10025] } }\nlisteners: { in: { listen: 127.0.0.1:2525, pool: hub } }\n";
    for (String spelling : List.of("fe80::1%lo", "[fe80::1%lo]", "[fe80::1%lo]:53")) {
      ResolverConfig r = ConfigLoader.parse("resolver: { servers: [\"" + spelling + "\"] }\n" + rest, "t.yaml").resolver();
      assertThat(r.servers()).as(spelling).containsExactly(new HostPort("fe80::1%lo", 53));
    }
    assertThat(ConfigLoader.parse("resolver: { servers: [\"[fe80::1%lo]:5353\"] }\n" + rest, "t.yaml").resolver()
        .servers()).containsExactly(new HostPort("fe80::1%lo", 5353));
    for (String bad : List.of("192.0.2.53%eth0", "[fe80::1%lo", "[fe80::1%lo]x", "[dns.example]:53")) {
      assertThatThrownBy(() -> ConfigLoader.parse("resolver: { servers: [\"" + bad + "\"] }\n" + rest, "t.yaml"))
          .as(bad).isInstanceOf(ConfigException.class);
    }
  }

  @Test
  void byteOrderMarkIsIgnored() throws Exception {
    assertThat(ConfigLoader.parse("\uFEFF" + MINIMAL, "t.yaml").pools()).containsOnlyKeys("hub");
  }

  @Test
  void healthProfileDefaults() throws Exception {
    SluiceConfig c = ConfigLoader.parse("health: { deep: {} }\n" + MINIMAL, "t.yaml");
    HealthProfile p = c.health().get("deep");
    HealthProfile d = HealthProfile.DEFAULT;
    assertThat(p).usingRecursiveComparison().ignoringFields("name", "location").isEqualTo(d);
    assertThat(p.name()).isEqualTo("deep");
  }

  @Test
  void scalarBackendIsNamedByItsAddress() throws Exception {
    SluiceConfig c = ConfigLoader.parse("""
        pools:
          hub:
            backends:
              - mx1.corp.example:25
              - "[2001:db8::1]:2525"
              - { address: 192.0.2.7:25, weight: 3 }
        listeners: { in: { listen: "[::1]:25", pool: hub } }
        """, "t.yaml");
    List<BackendConfig> b = c.pools().get("hub").backends();
    assertThat(b.get(0)).isEqualTo(new BackendConfig(
        "mx1.corp.example:25", new HostPort("mx1.corp.example", 25), 1, 1, java.util.Map.of(), new Location("t.yaml", 4, 9)));
    assertThat(b.get(1).name()).isEqualTo("[2001:db8::1]:2525");
    assertThat(b.get(1).address()).isEqualTo(new HostPort("2001:db8::1", 2525));
    assertThat(b.get(2).name()).isEqualTo("192.0.2.7:25");
    assertThat(b.get(2).weight()).isEqualTo(3);
    assertThat(c.listeners().get("in").listen()).isEqualTo(new HostPort("::1", 25));
  }

  @Test
  void persistenceForms() throws Exception {
    SluiceConfig c = ConfigLoader.parse("""
        pools:
          a: { persistence: none, backends: [127.0.0.1:1] }
          b: { persistence: { mode: source_ip }, backends: [127.0.0.1:1] }
          c: { persistence: { mode: source_ip, ttl: 2h, max_entries: 500 }, backends: [127.0.0.1:1] }
        listeners: { in: { listen: 127.0.0.1:2525, pool: a } }
        """, "t.yaml");
    assertThat(c.pools().get("a").persistence()).isEqualTo(Persistence.NONE);
    assertThat(c.pools().get("b").persistence())
        .isEqualTo(new Persistence(Persistence.Mode.SOURCE_IP, Duration.ofMinutes(30), 100_000));
    assertThat(c.pools().get("c").persistence())
        .isEqualTo(new Persistence(Persistence.Mode.SOURCE_IP, Duration.ofHours(2), 500));
  }

  @Test
  void deferralAffinityForms() throws Exception {
    SluiceConfig c = ConfigLoader.parse("""
        pools:
          a: { backends: [127.0.0.1:1] }
          b: { deferral_affinity: none, backends: [127.0.0.1:1] }
          c: { deferral_affinity: { ttl: 4h }, backends: [127.0.0.1:1] }
          d: { deferral_affinity: { ttl: 20m, max_entries: 500 }, backends: [127.0.0.1:1] }
        listeners: { in: { listen: 127.0.0.1:2525, pool: a } }
        """, "t.yaml");
    assertThat(c.pools().get("a").deferralAffinity()).as("on by default")
        .isEqualTo(new PoolConfig.DeferralAffinity(Duration.ofHours(1), 100_000));
    assertThat(c.pools().get("b").deferralAffinity()).isEqualTo(PoolConfig.DeferralAffinity.OFF);
    assertThat(c.pools().get("c").deferralAffinity())
        .isEqualTo(new PoolConfig.DeferralAffinity(Duration.ofHours(4), 100_000));
    assertThat(c.pools().get("d").deferralAffinity())
        .isEqualTo(new PoolConfig.DeferralAffinity(Duration.ofMinutes(20), 500));
  }

  @Test
  void acknowledgeOnEveryObject() throws Exception {
    SluiceConfig c = ConfigLoader.parse("""
        admin: { listen: 127.0.0.1:8025, acknowledge: [SL007] }
        health: { h: { acknowledge: [SL003] } }
        pools:
          hub:
            acknowledge: [SL004]
            backends: [{ address: 127.0.0.1:1, acknowledge: [SL004, SL005] }]
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub, acknowledge: [SL001] } }
        """, "t.yaml");
    assertThat(c.admin().acknowledge()).containsOnlyKeys("SL007");
    assertThat(c.admin().tokenFile()).isNull();
    assertThat(c.health().get("h").acknowledge()).containsOnlyKeys("SL003");
    assertThat(c.pools().get("hub").acknowledge()).containsOnlyKeys("SL004");
    assertThat(c.pools().get("hub").backends().get(0).acknowledge().keySet()).containsExactly("SL004", "SL005");
    assertThat(c.listeners().get("in").acknowledge()).containsOnlyKeys("SL001");
  }

  @Test
  void eachAcknowledgedCodeKnowsWhereItIsWritten() throws Exception {
    SluiceConfig c = ConfigLoader.parse("""
        pools:
          hub:
            acknowledge:
              - SL004
              - SL008
            backends: [{ address: 127.0.0.1:1, acknowledge: [SL013, SL004] }]
        listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }
        """, "t.yaml");
    // Block items point at the code, after the dash; a code may be listed on a pool and on its backend.
    assertThat(c.pools().get("hub").acknowledge()).containsExactly(
        entry("SL004", new Location("t.yaml", 4, 9)), entry("SL008", new Location("t.yaml", 5, 9)));
    assertThat(c.pools().get("hub").backends().get(0).acknowledge()).containsExactly(
        entry("SL013", new Location("t.yaml", 6, 54)), entry("SL004", new Location("t.yaml", 6, 61)));
    assertThat(c.listeners().get("in").acknowledge()).isEmpty();
  }

  @Test
  void anchorsAndAliasesShareSettings() throws Exception {
    SluiceConfig c = ConfigLoader.parse("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          a: { listen: 127.0.0.1:2525, pool: hub, limits: &lim { max_connections: 10 } }
          b: { listen: 127.0.0.1:2526, pool: hub, limits: *lim }
        """, "t.yaml");
    assertThat(c.listeners().get("b").limits().maxConnections()).isEqualTo(10);
  }

  @Test
  void tcpListenerWithProxyProtocol() throws Exception {
    SluiceConfig c = ConfigLoader.parse("""
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          in:
            listen: 0.0.0.0:25
            mode: tcp
            pool: hub
            client_identity: proxy_v1
            accept_proxy: [10.0.0.0/8]
            deny: [192.0.2.0/24]
            limits: { max_message_size: 10kb, connection_rate: 5/S, idle_timeout: 90s }
        """, "t.yaml");
    ListenerConfig l = c.listeners().get("in");
    assertThat(l.limits().maxMessageSize()).isEqualTo(10 * 1024);
    assertThat(l.limits().connectionRate()).isEqualTo(new ListenerConfig.Rate(5, Duration.ofSeconds(1)));
    assertThat(l.admits(InetAddress.getByName("192.0.2.9"))).isFalse();
    assertThat(l.admits(InetAddress.getByName("198.51.100.9"))).isTrue();
  }

  /**
   * A pool that mixes Exchange (neither XCLIENT nor PROXY) with Postfix: each backend may say how it
   * learns the client's address; one that does not takes the listener's.
   */
  @Test
  void aBackendsOwnClientIdentityOverridesTheListeners() throws Exception {
    SluiceConfig c = ConfigLoader.parse("""
        pools:
          hub:
            backends:
              - { name: ex1, address: 10.0.0.5:25, client_identity: none }
              - { name: pf1, address: 10.0.0.6:25, client_identity: proxy_v2 }
              - { name: pf2, address: 10.0.0.7:25 }
              - 10.0.0.8:25
        listeners:
          in: { listen: 0.0.0.0:25, pool: hub, client_identity: xclient }
        """, "t.yaml");
    ListenerConfig l = c.listeners().get("in");
    assertThat(c.pools().get("hub").backends()).extracting(BackendConfig::clientIdentity)
        .containsExactly(ClientIdentity.NONE, ClientIdentity.PROXY_V2, null, null);
    assertThat(c.pools().get("hub").backends()).extracting(l::clientIdentityTowards)
        .containsExactly(ClientIdentity.NONE, ClientIdentity.PROXY_V2, ClientIdentity.XCLIENT, ClientIdentity.XCLIENT);
    assertThat(c.clientIdentitiesOf(l))
        .containsExactlyInAnyOrder(ClientIdentity.NONE, ClientIdentity.PROXY_V2, ClientIdentity.XCLIENT);
  }

  @Test
  void aKeyWithNoValueIsTheSameAsLeavingItOut() throws Exception {
    SluiceConfig empty = ConfigLoader.parse("""
        admin:
        log:
        health:
        pools:
          hub:
            passive:
            backends: [127.0.0.1:10025]
        listeners:
          in:
            listen: 127.0.0.1:2525
            pool: hub
            deny:
            hostname:
            timeouts:
            limits:
        """, "/etc/sluice/sluice.yaml");
    SluiceConfig minimal = ConfigLoader.parse(MINIMAL, "/etc/sluice/sluice.yaml");
    assertThat(empty.listeners().get("in")).usingRecursiveComparison().ignoringFields("location")
        .isEqualTo(minimal.listeners().get("in"));
    assertThat(empty.admin()).isEqualTo(minimal.admin());
    assertThat(empty.log()).isEqualTo(minimal.log());
    assertThat(empty.health()).isEqualTo(minimal.health());
    assertThat(empty.pools().get("hub").passive()).isEqualTo(minimal.pools().get("hub").passive());
  }

  @Test
  void aHostnameIsADomainName() throws Exception {
    SluiceConfig c = ConfigLoader.parse(MINIMAL + "    hostname: mx-1.Corp.example\n", "/etc/sluice/sluice.yaml");
    assertThat(c.listeners().get("in").hostname()).isEqualTo("mx-1.Corp.example");
    for (String literal : List.of("[192.0.2.25]", "[IPv6:2001:db8::25]")) {
      SluiceConfig l = ConfigLoader.parse(MINIMAL + "    hostname: \"" + literal + "\"\n", "/etc/sluice/sluice.yaml");
      assertThat(l.listeners().get("in").hostname()).isEqualTo(literal);
    }
  }

  @Test
  void implicitTlsOnAnSmtpListener() throws Exception {
    SluiceConfig c = ConfigLoader.parse(MINIMAL + "    tls: { cert: /etc/ssl/c.pem, key: /etc/ssl/k.pem, implicit: true }\n", "t.yaml");
    assertThat(c.listeners().get("in").tls()).extracting(ListenerConfig.Tls::cert, ListenerConfig.Tls::key, ListenerConfig.Tls::implicit)
        .containsExactly(Path.of("/etc/ssl/c.pem"), Path.of("/etc/ssl/k.pem"), true);
  }
}
