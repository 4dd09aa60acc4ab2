package dev.sluice.proxy;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.proxy.identity.ProxyHeaders;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.SluiceFixture;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The admission stage of both modes: ACL on the real client, PROXY from trusted peers, limits. */
class AdmissionTest {
  EventLoopGroup group;
  EmbeddedSmtpServer backend;
  final List<AutoCloseable> toClose = new ArrayList<>();

  @BeforeEach
  void setUp() throws Exception {
    group = Transport.NIO.newGroup(1);
    backend = new EmbeddedSmtpServer("b", null).start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO);
  }

  @AfterEach
  void tearDown() throws Exception {
    for (AutoCloseable c : toClose) {
      c.close();
    }
    backend.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  InetSocketAddress sluice(String mode, String extras) throws Exception {
    String host = mode.equals("smtp") ? "    hostname: mx.test\n" : "";
    SluiceFixture f = SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ "127.0.0.1:%d" ] } }
        listeners:
          l:
            listen: 127.0.0.1:0
            mode: %s
            pool: p
            health: basic
        %s%s
        """.formatted(backend.port(), mode, host, extras));
    toClose.add(f);
    return f.address("l");
  }

  static byte[] v2Header(String client) {
    EmbeddedChannel ch = new EmbeddedChannel(HAProxyMessageEncoder.INSTANCE);
    ch.writeOutbound(ProxyHeaders.of(true, new InetSocketAddress(client, 5555), new InetSocketAddress("127.0.0.1", 25)));
    ByteBuf b = ch.readOutbound();
    byte[] out = ByteBufUtil.getBytes(b);
    b.release();
    return out;
  }

  /** Connects from {@code source}, writes {@code first} raw, and returns the first reply line (or null on close). */
  static String firstReply(InetSocketAddress at, String source, byte[] first) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(source, 0));
      s.connect(at);
      s.setSoTimeout(10_000);
      if (first != null) {
        s.getOutputStream().write(first);
        s.getOutputStream().flush();
      }
      return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1)).readLine();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "smtp"})
  void trustedProxyHeaderSetsTheClientAddressForTheAcl(String mode) throws Exception {
    InetSocketAddress at = sluice(mode, "    accept_proxy: [127.0.0.9/32]\n    allow: [127.0.0.90/32]\n");
    // Through the trusted proxy, as 127.0.0.90: admitted.
    assertThat(firstReply(at, "127.0.0.9", v2Header("127.0.0.90"))).startsWith("220 ");
    assertThat(firstReply(at, "127.0.0.9",
        "PROXY TCP4 127.0.0.90 127.0.0.1 4000 25\r\n".getBytes(StandardCharsets.US_ASCII))).startsWith("220 ");
    // Through the trusted proxy, as someone else: the ACL applies to the carried address.
    assertThat(firstReply(at, "127.0.0.9", v2Header("127.0.0.91"))).startsWith("554 5.7.1");
    // A malformed header from the trusted proxy ends the connection without a banner.
    assertThat(firstReply(at, "127.0.0.9", "PROXY NONSENSE\r\n".getBytes(StandardCharsets.US_ASCII))).isNull();
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "smtp"})
  void truncatedHeaderFromTheTrustedProxyIsClosedWithinTheTimeout(String mode) throws Exception {
    InetSocketAddress at = sluice(mode, "    accept_proxy: [127.0.0.9/32]\n");
    long start = System.nanoTime();
    assertThat(firstReply(at, "127.0.0.9", "PROXY TCP4 127.0.0.90".getBytes(StandardCharsets.US_ASCII))).isNull();
    assertThat(java.time.Duration.ofNanos(System.nanoTime() - start)).isLessThan(java.time.Duration.ofSeconds(8));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "smtp"})
  void totalConnectionLimitAnswers421(String mode) throws Exception {
    InetSocketAddress at = sluice(mode, "    limits: { max_connections: 2 }\n");
    try (LabSmtpClient a = LabSmtpClient.connect(at, client(32), Duration.ofSeconds(10));
        LabSmtpClient b = LabSmtpClient.connect(at, client(33), Duration.ofSeconds(10));
        LabSmtpClient c = LabSmtpClient.connect(at, client(34), Duration.ofSeconds(10))) {
      assertThat(a.banner().code()).isEqualTo(220);
      assertThat(b.banner().code()).isEqualTo(220);
      assertThat(c.banner().code()).isEqualTo(421);
      assertThat(c.banner().text()).startsWith("4.7.0");
    }
  }

  /**
   * AWS's Network Load Balancer and Traefik send the PROXY header only in front of the client's
   * first bytes, and an SMTP client sends nothing before the greeting. An smtp listener greets a
   * trusted peer that stays silent, then takes the header that comes with the first command; the
   * ACL still judges the address in the header.
   */
  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void aProxyThatSendsTheHeaderWithTheFirstCommandIsGreetedFirst(boolean v2) throws Exception {
    InetSocketAddress at = sluice("smtp", "    accept_proxy: [127.0.0.9/32]\n    allow: [127.0.0.90/32]\n");
    for (String client : List.of("127.0.0.90", "127.0.0.91")) {
      try (RawSmtpClient c = RawSmtpClient.connect(at, "127.0.0.9")) {
        assertThat(c.reply()).isEqualTo("220 mx.test ESMTP Sluice"); // unprompted
        byte[] header = v2 ? v2Header(client)
            : ("PROXY TCP4 " + client + " 127.0.0.1 4000 25\r\n").getBytes(StandardCharsets.US_ASCII);
        c.send(new String(header, StandardCharsets.ISO_8859_1) + "EHLO c.test\r\n");
        if (client.equals("127.0.0.90")) {
          assertThat(c.replyLines()).startsWith("250-mx.test"); // the EHLO reply: no second greeting
          c.send("QUIT\r\n").expect("221");
        } else {
          assertThat(c.reply()).startsWith("554 5.7.1"); // the ACL, on the carried address
        }
      }
    }
  }

  /**
   * A load balancer's connect-only health check closes (FIN) without a header: Sluice closes too,
   * without a greeting, rather than greeting it and waiting for a header that cannot come.
   */
  @org.junit.jupiter.api.Test
  void aTrustedPeerThatClosesBeforeItsHeaderIsClosedWithoutAGreeting() throws Exception {
    InetSocketAddress at = sluice("smtp", "    accept_proxy: [127.0.0.9/32]\n");
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress("127.0.0.9", 0));
      s.connect(at);
      s.setSoTimeout(10_000);
      s.shutdownOutput();
      assertThat(s.getInputStream().read()).isEqualTo(-1); // closed, and not greeted (a silent peer is, after 1 s)
    }
  }

  /** A tcp listener cannot greet (the backend does), so a silent trusted peer is closed as before. */
  @org.junit.jupiter.api.Test
  void aSilentTrustedPeerOfATcpListenerIsClosedWithoutABanner() throws Exception {
    InetSocketAddress at = sluice("tcp", "    accept_proxy: [127.0.0.9/32]\n");
    assertThat(firstReply(at, "127.0.0.9", null)).isNull();
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "smtp"})
  void proxyHeaderFromAnUntrustedPeerIsRefused(String mode) throws Exception {
    InetSocketAddress at = sluice(mode, "    accept_proxy: [127.0.0.9/32]\n");
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress("127.0.0.8", 0));
      s.connect(at);
      s.setSoTimeout(10_000);
      s.getOutputStream().write("PROXY TCP4 127.0.0.90 127.0.0.1 4000 25\r\nEHLO x\r\n".getBytes(StandardCharsets.US_ASCII));
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
      List<String> lines = new ArrayList<>();
      for (String l = in.readLine(); l != null; l = in.readLine()) {
        lines.add(l);
      }
      // Never an EHLO answer: the session ends (after Sluice's or the backend's greeting).
      assertThat(lines).noneMatch(l -> l.startsWith("250"));
      if (mode.equals("smtp")) {
        assertThat(lines).anyMatch(l -> l.startsWith("554 5.7.1"));
      }
    }
    assertThat(backend.messages()).isZero();
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "smtp"})
  void perClientConnectionLimitAnswers421AndOthersAreServed(String mode) throws Exception {
    InetSocketAddress at = sluice(mode, "    limits: { max_connections_per_client: 2 }\n");
    try (LabSmtpClient a = LabSmtpClient.connect(at, client(30), Duration.ofSeconds(10));
        LabSmtpClient b = LabSmtpClient.connect(at, client(30), Duration.ofSeconds(10))) {
      assertThat(a.banner().code()).isEqualTo(220);
      assertThat(b.banner().code()).isEqualTo(220);
      try (LabSmtpClient c = LabSmtpClient.connect(at, client(30), Duration.ofSeconds(10))) {
        assertThat(c.banner().code()).isEqualTo(421);
        assertThat(c.banner().text()).startsWith("4.7.0");
      }
      try (LabSmtpClient other = LabSmtpClient.connect(at, client(31), Duration.ofSeconds(10))) {
        assertThat(other.banner().code()).isEqualTo(220);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "smtp"})
  void connectionRateHoldsUnderAFloodFromOneAddress(String mode) throws Exception {
    InetSocketAddress at = sluice(mode, "    limits: { connection_rate: 5/h }\n");
    int served = 0;
    int refused = 0;
    for (int i = 0; i < 12; i++) {
      String line = firstReply(at, "127.0.0.40", null);
      if (line.startsWith("220")) {
        served++;
      } else if (line.startsWith("421 4.7.0")) {
        refused++;
      }
    }
    assertThat(served).isEqualTo(5);
    assertThat(refused).isEqualTo(7);
    assertThat(firstReply(at, "127.0.0.41", null)).as("another address is still served").startsWith("220");
  }
}
