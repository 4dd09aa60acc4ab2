package dev.sluice.runtime;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.balance.Backend;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.Location;
import dev.sluice.health.HealthState;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.SluiceFixture;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Backends written as host names: resolved off the event loops, kept current, and kept at their
 * last address while the name servers fail, so a DNS outage neither stalls sessions nor stops mail
 * to servers whose addresses did not change. A scripted resolver stands in for DNS: nothing leaves
 * the host.
 */
class BackendNamesTest {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  final LoopbackLab lab = new LoopbackLab();
  /** The scripted resolver: a name maps to an address, or is missing (UnknownHostException). */
  final Map<String, String> dns = new ConcurrentHashMap<>();
  final AtomicInteger lookups = new AtomicInteger();

  /** Names whose lookup takes a while, as over a slow link to the name servers. */
  final java.util.Set<String> slow = ConcurrentHashMap.newKeySet();

  InetAddress lookup(String host) throws UnknownHostException {
    lookups.incrementAndGet();
    if (slow.contains(host)) {
      try {
        Thread.sleep(500); // a slow name server: the probe must not run before the answer
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    String ip = dns.get(host);
    if (ip == null) {
      throw new UnknownHostException(host + ": Name or service not known");
    }
    return InetAddress.getByName(ip);
  }

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  static Backend backend(String address) {
    String[] hp = address.split(":");
    return new Backend("p", new BackendConfig(address, new HostPort(hp[0], Integer.parseInt(hp[1])), 1, 1, Map.of(),
        Location.NONE), 0);
  }

  @Test
  void namesAreResolvedWhenTrackedAndAgainLaterAndKeepTheirAddressWhileLookupsFail() throws Exception {
    dns.put("mx1.corp.test", "127.0.0.61");
    Backend named = backend("mx1.corp.test:25");
    Backend literal = backend("127.0.0.62:25");
    Backend unknown = backend("gone.corp.test:25");
    assertThat(named.socketAddress().isUnresolved()).isTrue();
    assertThat(literal.socketAddress().getAddress().getHostAddress()).isEqualTo("127.0.0.62");
    try (BackendNames names = new BackendNames(this::lookup, Duration.ofMillis(50))) {
      names.track(List.of(named, literal, unknown));
      assertThat(named.socketAddress().getAddress().getHostAddress()).isEqualTo("127.0.0.61");
      assertThat(named.socketAddress().getPort()).isEqualTo(25);
      assertThat(unknown.socketAddress().isUnresolved()).isTrue();
      dns.put("mx1.corp.test", "127.0.0.63"); // the record changes: the refresh follows
      await().atMost(TIMEOUT).until(() -> named.socketAddress().getAddress().getHostAddress().equals("127.0.0.63"));
      dns.remove("mx1.corp.test"); // DNS fails: the last address stays
      int before = lookups.get();
      await().atMost(TIMEOUT).until(() -> lookups.get() > before + 4);
      assertThat(named.socketAddress().getAddress().getHostAddress()).isEqualTo("127.0.0.63");
      dns.put("gone.corp.test", "127.0.0.64"); // a name that appears later is picked up
      await().atMost(TIMEOUT).until(() -> !unknown.socketAddress().isUnresolved());
    }
  }

  @Test
  void aNameLookedUpOnceServesEveryBackendWrittenWithIt() throws Exception {
    dns.put("mx1.corp.test", "127.0.0.61");
    Backend smtp = backend("mx1.corp.test:25");
    Backend submission = backend("mx1.corp.test:587");
    try (BackendNames names = new BackendNames(this::lookup, Duration.ofHours(1))) {
      names.track(List.of(smtp, submission));
    }
    assertThat(lookups.get()).isEqualTo(1);
    assertThat(submission.socketAddress().getPort()).isEqualTo(587);
    assertThat(submission.socketAddress().getAddress()).isEqualTo(smtp.socketAddress().getAddress());
  }

  /**
   * Through Sluice: mail goes to the backend the name resolves to, goes on while the name servers
   * fail, and a backend whose name never resolved is DOWN with that reason instead of blocking anything.
   */
  @Test
  void mailFollowsTheNameAndSurvivesAFailingDns() throws Exception {
    EmbeddedSmtpServer a = lab.backend("a", "corp.example");
    dns.put("mx1.corp.test", "127.0.0.1");
    SluiceFixture f = lab.add(SluiceFixture.start("""
        admin: { listen: "127.0.0.1:0" }
        health:
          deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@internet.example, interval: 2s, timeout: 1s }
        pools:
          p:
            backends:
              - { name: a, address: "mx1.corp.test:%d" }
              - { name: gone, address: "gone.corp.test:%d" }
        listeners:
          l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: deep, hostname: mx.test }
        """.formatted(a.port(), a.port()), s -> s.backendLookup(this::lookup, Duration.ofMillis(100))));
    var gone = f.server().health().all().stream().filter(t -> t.backend().name().equals("gone")).findFirst().orElseThrow();
    await().atMost(TIMEOUT).until(() -> gone.state() == HealthState.DOWN);
    assertThat(gone.lastResult().reason()).isEqualTo("backend name gone.corp.test does not resolve");
    // The admin API says what each name resolves to now.
    var state = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
        new dev.sluice.testing.AdminClient(f.server().admin().boundAddress()).get("/api/state").body());
    var backends = state.get("pools").get(0).get("backends");
    assertThat(backends.get(0).get("resolvedAddress").asText()).isEqualTo("127.0.0.1");
    assertThat(backends.get(1).get("resolvedAddress").isNull()).isTrue();
    dns.remove("mx1.corp.test");
    int before = lookups.get();
    await().atMost(TIMEOUT).until(() -> lookups.get() > before + 2);
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(70), TIMEOUT)) {
      c.command("EHLO gateway.test");
      for (int i = 0; i < 5; i++) {
        assertThat(c.send("a@internet.example", "u" + i + "@corp.example", "Subject: " + i + "\n\nbody\n").code())
            .isEqualTo(250);
      }
    }
    assertThat(a.messages()).isEqualTo(5);
  }

  /** A name backend added by a reload has its address before its first probe, which decides its state. */
  @Test
  void aNameBackendAddedByAReloadIsUpAfterItsFirstProbe() throws Exception {
    EmbeddedSmtpServer a = lab.backend("a", "corp.example");
    EmbeddedSmtpServer b = lab.backend("b", "corp.example");
    dns.put("mx1.corp.test", "127.0.0.1");
    dns.put("mx2.corp.test", "127.0.0.1");
    slow.add("mx2.corp.test");
    String before = """
        health:
          deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@internet.example, interval: 60s, timeout: 5s }
        pools:
          p:
            backends:
              - { name: a, address: "mx1.corp.test:%d" }
        listeners:
          l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: deep, hostname: mx.test }
        """.formatted(a.port());
    String after = before.replace("""
              - { name: a, address: "mx1.corp.test:%d" }
        """.formatted(a.port()), """
              - { name: a, address: "mx1.corp.test:%d" }
              - { name: b, address: "mx2.corp.test:%d" }
        """.formatted(a.port(), b.port()));
    SluiceFixture f = lab.add(SluiceFixture.start(before, s -> s.backendLookup(this::lookup, Duration.ofHours(1))));
    f.server().configSource(() -> dev.sluice.config.ConfigLoader.parse(after, "reload.yaml"));
    assertThat(f.server().reload().ok()).isTrue();
    var added = f.server().health().all().stream().filter(t -> t.backend().name().equals("b")).findFirst().orElseThrow();
    assertThat(added.state()).as(String.valueOf(added.lastResult())).isEqualTo(HealthState.UP);
  }
}
