package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.SluiceFixture;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Hostile input never crashes a session or the process; the next client is served. */
class BadInputTest {
  final LoopbackLab lab = new LoopbackLab();
  EmbeddedSmtpServer backend;
  InetSocketAddress at;

  @BeforeEach
  void setUp() throws Exception {
    backend = lab.backend("b", null);
    SluiceFixture f = lab.add(SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ "127.0.0.1:%d" ] } }
        listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, hostname: mx.test } }
        """.formatted(backend.port())));
    at = f.address("l");
  }

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  void normalClientIsServed() throws IOException {
    try (LabSmtpClient c = LabSmtpClient.connect(at, null, Duration.ofSeconds(10))) {
      c.command("EHLO after.test");
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: ok\n\nstill here\n").code()).isEqualTo(250);
    }
  }

  @Test
  void randomBinaryGarbageEndsInRepliesOrACloseNeverACrash() throws Exception {
    long seed = Long.getLong("sluice.fuzz.seed", 20261130L);
    Random rnd = new Random(seed);
    for (int session = 0; session < 40; session++) {
      try (Socket s = new Socket(at.getAddress(), at.getPort())) {
        s.setSoTimeout(10_000);
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        for (int chunk = 0; chunk < 5; chunk++) {
          byte[] junk = new byte[rnd.nextInt(3000) + 1];
          rnd.nextBytes(junk);
          try {
            out.write(junk);
            out.flush();
          } catch (IOException closedByServer) {
            break; // too many errors: Sluice answered 421 and closed, as it should
          }
        }
        s.shutdownOutput();
        byte[] buf = new byte[8192];
        while (in.read(buf) >= 0) {
          // drain until Sluice closes
        }
      } catch (IOException e) {
        // a reset after the 421 is fine; the process must survive
      }
    }
    normalClientIsServed();
    assertThat(backend.messages()).as("seed %d", seed).isEqualTo(1);
  }

  @Test
  void invalidUtf8IsRefusedAndNonAsciiAddressesNeedSmtputf8() throws Exception {
    try (Socket s = new Socket(at.getAddress(), at.getPort())) {
      s.setSoTimeout(10_000);
      RawSmtpClient c = new RawSmtpClient(s);
      c.expect("220");
      c.send("EHLO utf8.test\r\n");
      c.expect("250");
      s.getOutputStream().write(new byte[] {'M', 'A', 'I', 'L', ' ', 'F', 'R', 'O', 'M', ':', '<', (byte) 0xC3, (byte) 0x28,
          '@', 'x', '>', '\r', '\n'});
      assertThat(c.reply()).startsWith("500 5.5.2");
      s.getOutputStream().write("MAIL FROM:<jürgen@example.test>\r\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
      assertThat(c.reply()).startsWith("553 5.6.7");
      s.getOutputStream().write("MAIL FROM:<a@example.test>\r\nRCPT TO:<müller@corp.example>\r\n"
          .getBytes(java.nio.charset.StandardCharsets.UTF_8));
      c.expect("250");
      assertThat(c.reply()).startsWith("553 5.6.7");
    }
    normalClientIsServed();
  }

  @Test
  void tenThousandPipelinedRecipientsGetTheirRepliesInOrderThen421() throws Exception {
    try (RawSmtpClient c = RawSmtpClient.connect(at, null)) {
      c.expect("220");
      StringBuilder sb = new StringBuilder("EHLO flood.test\r\nMAIL FROM:<a@internet.example>\r\n");
      for (int i = 0; i < 10_000; i++) {
        sb.append("RCPT TO:<user").append(i).append("@corp.example>\r\n");
      }
      c.send(sb.toString());
      // Read only once the replies have stopped arriving (Sluice has given up, with input of ours
      // still unread): the replies and the 421 must be there (a plain close would reset the
      // connection and lose them).
      java.util.concurrent.atomic.AtomicInteger waiting = new java.util.concurrent.atomic.AtomicInteger(-1);
      await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100)).during(Duration.ofMillis(500))
          .until(() -> waiting.getAndSet(c.bytesWaiting()) == c.bytesWaiting() && waiting.get() > 0);
      c.expect("250");
      c.expect("250");
      for (int i = 0; i < 1000; i++) {
        assertThat(c.reply()).as("recipient %d", i).startsWith("250");
      }
      String last;
      int limited = 0;
      while ((last = c.reply()).startsWith("452")) {
        limited++;
      }
      assertThat(limited).isPositive();
      assertThat(last).startsWith("421 4.7.0");
    }
    normalClientIsServed();
  }

  @Test
  void aClientThatKeepsSendingAfterThe421IsCutOffAfterTheLinger() throws Exception {
    try (RawSmtpClient c = RawSmtpClient.connect(at, null)) {
      c.expect("220");
      c.send("BOGUS\r\n".repeat(25));
      String last;
      while ((last = c.reply()).startsWith("500")) {
        // the error budget runs out
      }
      assertThat(last).startsWith("421");
      assertThatThrownBy(c::reply).as("Sluice half-closed after its 421").hasMessageContaining("closed");
      // Sluice still reads (and discards) for a while, then closes: writes start failing.
      await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
          .until(() -> {
            try {
              c.send("NOOP\r\n");
              return false;
            } catch (IOException reset) {
              return true;
            }
          });
    }
    normalClientIsServed();
  }
}
