package dev.sluice.proxy;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.PrometheusText;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code client_identity: transparent}: the backend's connection comes from the client's own
 * address, in both modes, while probes keep the host's. A client whose address family differs
 * from every backend's cannot be carried so: it is told no server is available, and the backends
 * are not blamed for it.
 */
class TransparentModeTest {
  static final Duration TIMEOUT = Duration.ofSeconds(20);
  final List<String> peers = new CopyOnWriteArrayList<>();
  ScriptedPeer backend;
  SluiceFixture sluice;

  @BeforeEach
  void start() throws Exception {
    // Binding a client's address needs CAP_NET_ADMIN, which the test command (run as root, as CI
    // does) has; elsewhere Sluice would refuse to start, as it should.
    assumeTrue(Transport.best().transparentUnavailable() == null, "IP_TRANSPARENT not permitted here");
    backend = recordingPeer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), "scripted", peers);
    sluice = SluiceFixture.start("""
        pools:
          p: { backends: [ "127.0.0.1:%d" ] }
        listeners:
          smtp:  { listen: "127.0.0.1:0", mode: smtp, pool: p, hostname: mx.test, client_identity: transparent }
          tcp:   { listen: "127.0.0.2:0", mode: tcp, pool: p, client_identity: transparent }
          smtp6: { listen: "[::1]:0", mode: smtp, pool: p, hostname: mx.test, client_identity: transparent }
          tcp6:  { listen: "[::1]:0", mode: tcp, pool: p, client_identity: transparent }
        """.formatted(backend.port()));
  }

  @AfterEach
  void stop() throws Exception {
    sluice.close();
    backend.close();
  }

  @Test
  void smtpModeConnectsFromTheClientsAddress() throws Exception {
    sendOne(sluice.address("smtp"), client(46));
    assertThat(peers).contains("127.0.0.46");
  }

  @Test
  void tcpModeConnectsFromTheClientsAddress() throws Exception {
    assertThat(banner(sluice.address("tcp"), client(47))).startsWith("220 scripted");
    assertThat(peers).contains("127.0.0.47");
  }

  @Test
  void probesStillComeFromTheHost() {
    // The probes ran before the fixture's start returned; no client had connected yet.
    assertThat(peers).isNotEmpty().allMatch(p -> p.equals("127.0.0.1"));
  }

  @Test
  void aClientOfTheOtherFamilyFindsNoServerAndNoBackendIsBlamed() throws Exception {
    InetAddress v6 = InetAddress.getByName("::1");
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("smtp6"), v6, TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.command("MAIL FROM:<a@internet.example>").code()).isEqualTo(451);
    }
    assertThat(banner(sluice.address("tcp6"), v6)).startsWith("421 4.3.2");
    assertThat(peers).noneMatch(p -> p.contains(":"));
    // Still there for the next IPv4 client: no retry, no passive failure was counted.
    assertThat(metric("sluice_retries_total")).isZero();
    assertThat(banner(sluice.address("tcp"), client(48))).startsWith("220 scripted");
  }

  @Test
  void withoutEpollTransparentModeIsExplainedNotAttempted() {
    assertThat(Transport.NIO.transparentUnavailable()).contains("IP_TRANSPARENT", "epoll");
  }

  /** One message from {@code from} through the smtp listener at {@code at}, which must take it. */
  static void sendOne(InetSocketAddress at, InetAddress from) throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(at, from, TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: hi\n\nbody\n").code()).isEqualTo(250);
    }
  }

  /** A plain SMTP server on {@code at} that notes where each connection came from in {@code peers}. */
  static ScriptedPeer recordingPeer(InetSocketAddress at, String name, List<String> peers) throws Exception {
    return new ScriptedPeer(at, c -> {
      peers.add(c.peer().getAddress().getHostAddress());
      c.say("220 " + name + " ESMTP");
      c.serveRest();
    });
  }

  static String banner(InetSocketAddress at, InetAddress from) throws Exception {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      s.connect(at, 5000);
      s.setSoTimeout(10_000);
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
      String line = in.readLine();
      s.getOutputStream().write("QUIT\r\n".getBytes(StandardCharsets.US_ASCII));
      return line;
    }
  }

  double metric(String name) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    sluice.server().metrics().write(out);
    return PrometheusText.parse(out.toString(StandardCharsets.UTF_8)).sum(name);
  }
}
