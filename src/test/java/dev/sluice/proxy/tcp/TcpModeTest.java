package dev.sluice.proxy.tcp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.proxy.smtp.SmtpReply;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** tcp mode over loopback against the embedded lab server and scripted peers. */
class TcpModeTest {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  final LoopbackLab lab = new LoopbackLab();

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  EmbeddedSmtpServer backend(String name) throws InterruptedException {
    return lab.backend(name, null);
  }

  SluiceFixture sluice(String poolExtras, String listenerExtras, String... backends) throws Exception {
    StringBuilder y = new StringBuilder();
    y.append("health:\n  basic:\n    steps: [connect, banner, ehlo, quit]\n    interval: 60s\n    timeout: 5s\n");
    y.append("pools:\n  p:\n").append(poolExtras).append("    backends:\n");
    for (String b : backends) {
      y.append("      - ").append(b).append('\n');
    }
    y.append("listeners:\n  l:\n    listen: 127.0.0.1:0\n    mode: tcp\n    pool: p\n    health: basic\n").append(listenerExtras);
    SluiceFixture f = SluiceFixture.start(y.toString());
    lab.add(f);
    return f;
  }

  /** A peer that greets (and serves the health probe) until {@code refuse} is set, then answers 421. */
  static ScriptedPeer.Script refusingWhen(AtomicBoolean refuse) {
    return c -> {
      if (refuse.get()) {
        c.say("421 4.3.2 Service shutting down");
        c.hear();
      } else {
        c.say("220 grumpy ready");
        c.serveRest();
      }
    };
  }

  static String entry(EmbeddedSmtpServer s, int weight) {
    return "{ name: " + s.name() + ", address: 127.0.0.1:" + s.port() + ", weight: " + weight + " }";
  }

  /** Sends one message per connection from {@code source}; returns the final reply. */
  static SmtpReply sendOne(InetSocketAddress at, InetAddress source) throws IOException {
    try (LabSmtpClient c = LabSmtpClient.connect(at, source, TIMEOUT)) {
      if (!c.banner().isPositive()) {
        return c.banner();
      }
      c.command("EHLO client.test");
      return c.send("sender@internet.example", "rcpt@corp.example", "Subject: t\n\nhello\n");
    }
  }

  @Test
  void roundRobinGivesEachBackendItsExactShare() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b"), c = backend("c");
    SluiceFixture f = sluice("    algorithm: round_robin\n", "", entry(a, 1), entry(b, 1), entry(c, 1));
    int accepted = 0;
    for (int i = 0; i < 30; i++) {
      accepted += sendOne(f.address("l"), client(10 + i % 5)).isPositive() ? 1 : 0;
    }
    assertThat(accepted).isEqualTo(30);
    assertThat(List.of(a.messages(), b.messages(), c.messages())).containsExactly(10L, 10L, 10L);
  }

  @Test
  void weightsThreeToOneGiveThreeQuarters() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice("", "", entry(a, 3), entry(b, 1));
    for (int i = 0; i < 40; i++) {
      assertThat(sendOne(f.address("l"), client(10)).isPositive()).isTrue();
    }
    assertThat(a.messages()).isEqualTo(30);
    assertThat(b.messages()).isEqualTo(10);
  }

  @Test
  void sourceIpPersistenceKeepsAClientOnOneBackend() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice("    persistence: { mode: source_ip, ttl: 30m }\n", "", entry(a, 1), entry(b, 1));
    for (int i = 0; i < 20; i++) {
      sendOne(f.address("l"), client(50));
    }
    assertThat(List.of(a.messages(), b.messages())).containsExactlyInAnyOrder(20L, 0L);
  }

  @Test
  void failedConnectAndRefusingBannerMoveToTheNextBackendNeverTheSameTwice() throws Exception {
    AtomicBoolean refuse = new AtomicBoolean();
    ScriptedPeer grumpy = lab.add(new ScriptedPeer(refusingWhen(refuse)));
    EmbeddedSmtpServer dying = backend("dying");
    EmbeddedSmtpServer good = backend("good");
    SluiceFixture f = sluice("", "",
        "{ name: dying, address: 127.0.0.1:" + dying.port() + " }",
        "{ name: grumpy, address: 127.0.0.1:" + grumpy.port() + " }",
        entry(good, 1));
    // Health saw all three up; now two go bad faster than the next probe (60 s) can notice.
    dying.close();
    refuse.set(true);
    int grumpyBefore = grumpy.connections();
    for (int i = 0; i < 6; i++) {
      SmtpReply r = sendOne(f.address("l"), client(20));
      assertThat(r.isPositive()).as("message %d: %s", i, r).isTrue();
    }
    assertThat(good.messages()).isEqualTo(6);
    // Round robin starts each session at a different backend, but no session tried one twice.
    assertThat(grumpy.connections() - grumpyBefore).isBetween(1, 6);
  }

  @Test
  void passiveFailuresEjectABackendBeforeTheNextProbe() throws Exception {
    AtomicBoolean refuse = new AtomicBoolean();
    ScriptedPeer grumpy = lab.add(new ScriptedPeer(refusingWhen(refuse)));
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice("    passive: { consecutive_failures: 1, eject_for: 60s }\n", "",
        "{ name: grumpy, address: 127.0.0.1:" + grumpy.port() + " }", entry(a, 1), entry(b, 1));
    refuse.set(true);
    int before = grumpy.connections();
    for (int i = 0; i < 12; i++) {
      assertThat(sendOne(f.address("l"), client(21)).isPositive()).isTrue();
    }
    // One refused session ejected it; no later session went there.
    assertThat(grumpy.connections() - before).isEqualTo(1);
    assertThat(f.server().passive("l").ejected(f.server().pools().get("p").backends().get(0))).isTrue();
    assertThat(a.messages() + b.messages()).isEqualTo(12);
  }

  @Test
  void noEligibleBackendGets421AndTheClientRetriesLater() throws Exception {
    SluiceFixture f = sluice("", "",
        "{ name: gone1, address: 127.0.0.1:" + Loopback.freePort() + " }",
        "{ name: gone2, address: 127.0.0.1:" + Loopback.freePort() + " }");
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(30), TIMEOUT)) {
      assertThat(c.banner().code()).isEqualTo(421);
      assertThat(c.banner().text()).startsWith("4.3.2 ");
    }
  }

  @Test
  void allBackendsFailingAfterHealthSaidUpStillAnswers421() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice("", "", entry(a, 1), entry(b, 1));
    a.close();
    b.close();
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(31), TIMEOUT)) {
      assertThat(c.banner().code()).isEqualTo(421);
    }
  }

  @Test
  void aclRefusesClientsOutsideAllowWith554() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("", "    allow: [127.0.0.1/32]\n    deny: []\n", entry(a, 1));
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(2), TIMEOUT)) {
      assertThat(c.banner().code()).isEqualTo(554);
      assertThat(c.banner().text()).startsWith("5.7.1");
    }
    assertThat(sendOne(f.address("l"), client(1)).isPositive()).isTrue();
    assertThat(a.sessions()).isEqualTo(2); // the probe's session and the allowed client's
  }

  @Test
  void largeMessageIsRelayedWhole() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("", "", entry(a, 1));
    String line = "x".repeat(998) + "\n";
    String body = "Subject: big\n\n" + line.repeat(20_000); // ~20 MB
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(40), TIMEOUT)) {
      c.command("EHLO big.test");
      assertThat(c.send("a@internet.example", "b@corp.example", body).code()).isEqualTo(250);
    }
    assertThat(a.messages()).isEqualTo(1);
  }

  @Test
  void idleSessionIsClosed() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("", "    limits: { idle_timeout: 1s }\n", entry(a, 1));
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(client(41), 0));
      s.connect(f.address("l"));
      s.setSoTimeout(15_000);
      InputStream in = s.getInputStream();
      byte[] buf = new byte[512];
      int total = 0;
      int n;
      while ((n = in.read(buf)) >= 0) {
        total += n;
      }
      assertThat(total).as("banner bytes before close").isGreaterThan(0);
    }
  }

  /** Traffic in either direction keeps a session open past the idle timeout. */
  @Test
  void aSessionThatKeepsTalkingIsNotIdle() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("", "    limits: { idle_timeout: 1s }\n", entry(a, 1));
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(42), Duration.ofSeconds(10))) {
      c.command("EHLO busy.test");
      Loopback.keepTalking(c, Duration.ofMillis(3500)); // three and a half timeouts
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: still here\n\nhi\n").code()).isEqualTo(250);
    }
    assertThat(a.messages()).isEqualTo(1);
  }

  @Test
  void halfCloseDeliversTheLastBytesBothWays() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("", "", entry(a, 1));
    try (Socket s = new Socket()) {
      s.connect(f.address("l"));
      s.setSoTimeout(10_000);
      s.getOutputStream().write("EHLO h\r\nNOOP\r\nQUIT\r\n".getBytes());
      s.shutdownOutput();
      String all = new String(s.getInputStream().readAllBytes());
      assertThat(all).contains("220 a").contains("250 ENHANCEDSTATUSCODES").contains("250 2.0.0 Ok").endsWith("221 2.0.0 Bye\r\n");
    }
  }

  @Test
  void thousandSessionsLeaveFileDescriptorsFlat() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice("", "", entry(a, 1), entry(b, 1));
    for (int i = 0; i < 50; i++) { // warm up lazily opened descriptors (epoll, pipes, jars)
      cycle(f.address("l"), i);
    }
    int before = Loopback.openFileDescriptors();
    for (int i = 0; i < 1000; i++) {
      cycle(f.address("l"), i);
    }
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
        assertThat(Loopback.openFileDescriptors()).isLessThanOrEqualTo(before + 10));
    assertThat(f.server().listener("l").activeSessions()).isZero();
    assertThat(f.server().pools().get("p").backends()).allSatisfy(be -> assertThat(be.active()).isZero());
  }

  private static void cycle(InetSocketAddress at, int i) throws IOException {
    try (LabSmtpClient c = LabSmtpClient.connect(at, client(100 + i % 50), TIMEOUT)) {
      assertThat(c.banner().code()).isEqualTo(220);
    }
  }
}
