package dev.sluice.proxy;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.config.ConfigLoader;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.PrometheusText;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code client_identity: transparent} beyond one direct client: behind a trusted PROXY sender, many
 * parallel sessions of one client, a client on the backend's own address, with a {@code
 * source_address} for the probes, and reloads that switch a listener between transparent and none.
 */
class TransparentModeEdgeTest {
  static final Duration TIMEOUT = Duration.ofSeconds(20);
  /** Where each backend connection came from, "address" (the probes' and the sessions'). */
  final List<String> peers = new CopyOnWriteArrayList<>();
  final List<String> peers6 = new CopyOnWriteArrayList<>();
  ScriptedPeer backend;
  ScriptedPeer backend6;
  SluiceFixture sluice;

  @BeforeEach
  void start() throws Exception {
    assumeTrue(Transport.best().transparentUnavailable() == null, "IP_TRANSPARENT not permitted here");
    backend = TransparentModeTest.recordingPeer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
        "scripted", peers);
    backend6 = TransparentModeTest.recordingPeer(new InetSocketAddress(InetAddress.getByName("::1"), 0),
        "scripted6", peers6);
  }

  @AfterEach
  void stop() throws Exception {
    if (sluice != null) {
      sluice.close();
    }
    if (backend != null) {
      backend.close();
      backend6.close();
    }
  }

  @Test
  void behindATrustedProxyTheConnectionComesFromTheCarriedAddress() throws Exception {
    sluice = start("""
        smtp: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: slow, hostname: mx.test, client_identity: transparent,
                accept_proxy: [ 127.0.0.9/32 ] }
        tcp:  { listen: "127.0.0.2:0", mode: tcp, pool: p, health: slow, client_identity: transparent,
                accept_proxy: [ 127.0.0.9/32 ] }
        """);
    try (RawSmtpClient c = RawSmtpClient.connect(sluice.address("smtp"), "127.0.0.9")) {
      c.send("PROXY TCP4 127.0.0.95 127.0.0.1 40000 25\r\n");
      c.expect("220");
      c.send("EHLO behind.proxy.test\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n");
      c.expect("250");
      c.expect("250");
      c.expect("250");
    }
    try (RawSmtpClient c = RawSmtpClient.connect(sluice.address("tcp"), "127.0.0.9")) {
      c.send("PROXY TCP4 127.0.0.96 127.0.0.2 40000 25\r\n");
      c.expect("220 scripted");
    }
    assertThat(peers).contains("127.0.0.95", "127.0.0.96").doesNotContain("127.0.0.9");
  }

  @Test
  void fiftyParallelSessionsOfOneClientAndAClientOnTheBackendsOwnAddress() throws Exception {
    sluice = start("""
        smtp: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: slow, hostname: mx.test, client_identity: transparent }
        tcp:  { listen: "127.0.0.2:0", mode: tcp, pool: p, health: slow, client_identity: transparent }
        """);
    int probes = peers.size();
    ExecutorService pool = Executors.newFixedThreadPool(50);
    try {
      List<Future<Integer>> codes = new ArrayList<>();
      List<LabSmtpClient> open = new CopyOnWriteArrayList<>();
      for (int i = 0; i < 50; i++) {
        codes.add(pool.submit(() -> {
          LabSmtpClient c = LabSmtpClient.connect(sluice.address("smtp"), client(64), TIMEOUT);
          open.add(c); // all 50 stay open until every one has its backend session
          c.command("EHLO gateway.test");
          c.command("MAIL FROM:<a@x.example>");
          return c.command("RCPT TO:<b@y.example>").code();
        }));
      }
      for (Future<Integer> code : codes) {
        assertThat(code.get()).isEqualTo(250);
      }
      open.forEach(LabSmtpClient::close);
    } finally {
      pool.shutdownNow();
    }
    assertThat(peers.subList(probes, peers.size())).hasSize(50).allMatch("127.0.0.64"::equals);
    // 127.0.0.1 to the backend on 127.0.0.1: a connection from the address to itself, another port.
    assertThat(TransparentModeTest.banner(sluice.address("tcp"), client(1))).startsWith("220 scripted");
    TransparentModeTest.sendOne(sluice.address("smtp"), client(1));
  }

  @Test
  void probesComeFromTheSourceAddressAndSessionsFromTheClient() throws Exception {
    sluice = start("""
        smtp: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: slow, hostname: mx.test, client_identity: transparent,
                source_address: 127.0.0.7 }
        none: { listen: "127.0.0.2:0", mode: smtp, pool: p, health: slow, hostname: mx.test, source_address: 127.0.0.7 }
        """);
    // One probe target for both listeners: same profile, same source, the same probes.
    assertThat(sluice.server().health().all()).hasSize(1);
    assertThat(peers).isNotEmpty().allMatch("127.0.0.7"::equals);
    TransparentModeTest.sendOne(sluice.address("smtp"), client(65));
    assertThat(peers).contains("127.0.0.65");
  }

  @Test
  void anIpv6ClientPinnedToAnIpv4BackendIsNotSentThereAfterAReloadToTransparent() throws Exception {
    String yaml = """
        health: { slow: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools:
          p: { backends: [ "127.0.0.1:%d", "[::1]:%d" ] }
        listeners:
          smtp6: { listen: "[::1]:0", mode: smtp, pool: p, health: slow, hostname: mx.test, balance: connection,
                   client_identity: %s }
        """;
    AtomicReference<String> next = new AtomicReference<>();
    sluice = SluiceFixture.start(yaml.formatted(backend.port(), backend6.port(), "none"));
    sluice.server().configSource(() -> ConfigLoader.parse(next.get(), "reload.yaml"));
    InetAddress v6 = InetAddress.getByName("::1");
    int v4Probes = peers.size();
    // Sessions until one is pinned to the IPv4 backend (round robin: the first or the second).
    for (int i = 0; i < 4 && peers.size() == v4Probes; i++) {
      try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("smtp6"), v6, TIMEOUT)) {
        c.command("EHLO gateway.test");
        assertThat(c.send("a@x.example", "b@y.example", "Subject: hi\n").code()).isEqualTo(250);
        if (peers.size() == v4Probes) {
          continue;
        }
        // Pinned to 127.0.0.1 under none; the listener turns transparent: that backend cannot
        // take a connection from ::1, so the next message goes to [::1] without blaming 127.0.0.1.
        next.set(yaml.formatted(backend.port(), backend6.port(), "transparent"));
        assertThat(sluice.server().reload().ok()).isTrue();
        int before = peers.size();
        int before6 = peers6.size();
        assertThat(c.send("a@x.example", "b@y.example", "Subject: after\n").code()).isEqualTo(250);
        assertThat(peers.size()).isEqualTo(before);
        assertThat(peers6.subList(before6, peers6.size())).containsExactly("0:0:0:0:0:0:0:1");
        assertThat(metric("sluice_retries_total")).isZero();
      }
    }
    assertThat(peers.size()).as("a session went to the IPv4 backend").isGreaterThan(v4Probes);
  }

  @Test
  void aReloadToTransparentMakesTheNextTransactionOfARunningSessionComeFromTheClient() throws Exception {
    String yaml = """
        health: { slow: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools:
          p: { backends: [ "127.0.0.1:%d" ] }
        listeners:
          smtp: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: slow, hostname: mx.test, client_identity: %s }
        """;
    AtomicReference<String> next = new AtomicReference<>();
    sluice = SluiceFixture.start(yaml.formatted(backend.port(), "none"));
    sluice.server().configSource(() -> ConfigLoader.parse(next.get(), "reload.yaml"));
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("smtp"), client(66), TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.send("a@x.example", "b@y.example", "Subject: before\n").code()).isEqualTo(250);
      assertThat(peers).doesNotContain("127.0.0.66");
      next.set(yaml.formatted(backend.port(), "transparent"));
      assertThat(sluice.server().reload().ok()).isTrue();
      assertThat(c.send("a@x.example", "b@y.example", "Subject: after\n").code()).isEqualTo(250);
      assertThat(peers).contains("127.0.0.66");
      // And back: the next transaction no longer comes from the client's address.
      next.set(yaml.formatted(backend.port(), "none"));
      assertThat(sluice.server().reload().ok()).isTrue();
      int before = peers.size();
      assertThat(c.send("a@x.example", "b@y.example", "Subject: none again\n").code()).isEqualTo(250);
      assertThat(peers.subList(before, peers.size())).singleElement().isNotEqualTo("127.0.0.66");
    }
  }

  @Test
  void anIpv6ClientGetsTheIpv6BackendForMailAndNoAuthServerFromIpv4Ones() throws Exception {
    sluice = SluiceFixture.start("""
        health: { slow: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools:
          both: { backends: [ "127.0.0.1:%d", "[::1]:%d" ] }
          v4:   { backends: [ "127.0.0.1:%d" ] }
        listeners:
          mail6: { listen: "[::1]:0", mode: smtp, pool: both, health: slow, hostname: mx.test,
                   client_identity: transparent }
          auth6: { listen: "[::1]:0", mode: smtp, pool: v4, health: slow, hostname: mx.test, auth: relay,
                   client_identity: transparent }
        """.formatted(backend.port(), backend6.port(), backend.port()));
    InetAddress v6 = InetAddress.getByName("::1");
    int v4 = peers.size();
    for (int i = 0; i < 3; i++) {
      try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("mail6"), v6, TIMEOUT)) {
        c.command("EHLO gateway.test");
        assertThat(c.send("a@x.example", "b@y.example", "Subject: hi\n").code()).isEqualTo(250);
      }
    }
    assertThat(peers).hasSize(v4);
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("auth6"), v6, TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.command("AUTH PLAIN AGJvYgBzZWNyZXQ=").code()).isEqualTo(454);
    }
    assertThat(peers).hasSize(v4);
    assertThat(metric("sluice_retries_total")).isZero();
  }

  /** Sluice with {@code listeners} (YAML, one per line) on pool {@code p} of {@link #backend}, probed every 60s. */
  SluiceFixture start(String listeners) throws Exception {
    return SluiceFixture.start("""
        health: { slow: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools:
          p: { backends: [ "127.0.0.1:%d" ] }
        listeners:
        %s""".formatted(backend.port(), listeners.indent(2)));
  }

  double metric(String name) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    sluice.server().metrics().write(out);
    return PrometheusText.parse(out.toString(StandardCharsets.UTF_8)).sum(name);
  }
}
