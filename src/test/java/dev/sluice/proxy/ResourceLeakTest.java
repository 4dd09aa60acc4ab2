package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * 10,000 sessions through both modes leave no file descriptor, thread or buffer behind, and
 * neither do backends that close in the middle of a reply line: every buffer Netty allocates is
 * tracked (leak detection at paranoid) and a leak would be reported.
 */
class ResourceLeakTest {
  final LoopbackLab lab = new LoopbackLab();
  final ListAppender<ILoggingEvent> leaks = new ListAppender<>();
  Logger leakLogger;

  @BeforeEach
  void watchLeaks() {
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    leakLogger = (Logger) LoggerFactory.getLogger(ResourceLeakDetector.class);
    leaks.start();
    leakLogger.addAppender(leaks);
  }

  @AfterEach
  void tearDown() throws Exception {
    leakLogger.detachAppender(leaks);
    lab.close();
  }

  @Test
  void tenThousandSessionsLeaveNothingBehind() throws Exception {
    EmbeddedSmtpServer backend = lab.backend("b", null);
    SluiceFixture f = lab.add(SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ "127.0.0.1:%d" ] } }
        listeners:
          relay: { listen: "127.0.0.1:0", mode: tcp, pool: p, health: basic }
          mx: { listen: "127.0.0.2:0", mode: smtp, pool: p, health: basic, hostname: mx.test }
        """.formatted(backend.port())));
    for (int i = 0; i < 200; i++) { // warm up lazily created descriptors and threads
      session(f, i);
    }
    int fds = Loopback.openFileDescriptors();
    int threads = Thread.activeCount();
    for (int i = 0; i < 10_000; i++) {
      session(f, i);
    }
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
      assertThat(Loopback.openFileDescriptors()).isLessThanOrEqualTo(fds + 10);
      assertThat(f.server().listeners()).allSatisfy(l -> assertThat(l.activeSessions()).isZero());
    });
    assertThat(Thread.activeCount()).isLessThanOrEqualTo(threads + 2);
    assertThat(f.server().pools().get("p").backends().get(0).active()).isZero();
    assertNoLeakReported();
  }

  /**
   * A backend that closes in the middle of a reply line leaves its partial line in Sluice's reply
   * buffer: that buffer is released with the connection, every time.
   */
  @Test
  void backendsClosingMidReplyLineLeaveNoBufferBehind() throws Exception {
    ScriptedPeer halfReplier = new ScriptedPeer(ScriptedPeer.afterHealthProbe("220 half ready", c -> {
      c.hearUntil("EHLO");
      c.say("250 half");
      c.hearUntil("MAIL");
      c.raw("250 2.1.0 O"); // no end of line: the connection closes after this
    }));
    lab.add(halfReplier);
    // Never ejected for its failures: every session must reach it.
    SluiceFixture f = lab.add(SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ "127.0.0.1:%d" ], passive: { consecutive_failures: 1000 } } }
        listeners:
          mx: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, hostname: mx.test, retries: 0 }
        """.formatted(halfReplier.port())));
    for (int i = 0; i < 200; i++) {
      try (LabSmtpClient c = LabSmtpClient.connect(f.address("mx"), null, Duration.ofSeconds(10))) {
        c.command("EHLO leak.test");
        assertThat(c.command("MAIL FROM:<a@internet.example>").code()).as("session %d", i).isEqualTo(250);
        // The MAIL goes with the first RCPT, which gets the failure.
        assertThat(c.command("RCPT TO:<b@corp.example>").code()).as("session %d", i).isEqualTo(451);
      }
    }
    assertThat(halfReplier.connections()).isGreaterThan(200);
    assertNoLeakReported();
  }

  private void assertNoLeakReported() {
    // Leaked buffers are reported when they are collected and the detector next runs.
    System.gc();
    for (int i = 0; i < 100; i++) {
      ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(256);
      b.release();
    }
    assertThat(leaks.list).extracting(ILoggingEvent::getFormattedMessage).noneMatch(m -> m.contains("LEAK"));
  }

  /** Even sessions: tcp mode, banner and QUIT. Odd: smtp mode with one message. */
  private static void session(SluiceFixture f, int i) throws IOException {
    InetSocketAddress at = f.address(i % 2 == 0 ? "relay" : "mx");
    try (LabSmtpClient c = LabSmtpClient.connect(at, null, Duration.ofSeconds(10))) {
      assertThat(c.banner().code()).isEqualTo(220);
      if (i % 2 == 1) {
        c.command("EHLO leak.test");
        assertThat(c.send("a@internet.example", "b@corp.example", "Subject: " + i + "\n\nhi\n").code()).isEqualTo(250);
      }
    }
  }
}
