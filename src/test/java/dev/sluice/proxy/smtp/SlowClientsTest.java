package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.SluiceFixture;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Slowloris: hundreds of clients dripping one byte a second hold connections open but must not
 * delay anyone else, since every session is event-driven and no thread waits for a slow client.
 */
class SlowClientsTest {
  final LoopbackLab lab = new LoopbackLab();

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  @Test
  void threeHundredDrippingClientsDoNotDelayANormalOne() throws Exception {
    EmbeddedSmtpServer backend = lab.backend("b", null);
    SluiceFixture f = lab.add(SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ "127.0.0.1:%d" ] } }
        listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, hostname: mx.test } }
        """.formatted(backend.port())));
    InetSocketAddress at = f.address("l");
    List<Socket> drippers = new ArrayList<>();
    ScheduledExecutorService drip = Executors.newSingleThreadScheduledExecutor();
    try {
      for (int i = 0; i < 300; i++) {
        Socket s = new Socket();
        // Distinct addresses, as a botnet would use, so per-client limits are not what saves us.
        s.bind(new InetSocketAddress("127.0.1." + (i % 250 + 1), 0));
        s.connect(at);
        drippers.add(s);
      }
      byte[] command = "EHLO dripping.example.com\r\n".getBytes();
      int[] position = {0};
      drip.scheduleAtFixedRate(() -> {
        int p = position[0]++ % command.length;
        for (Socket s : drippers) {
          try {
            s.getOutputStream().write(command[p]);
          } catch (IOException closed) {
            // Sluice may close a dripper; that is fine
          }
        }
      }, 0, 1, TimeUnit.SECONDS);

      CompletableFuture<Integer> normal = CompletableFuture.supplyAsync(() -> {
        int ok = 0;
        try (LabSmtpClient c = LabSmtpClient.connect(at, null, Duration.ofSeconds(10))) {
          c.command("EHLO normal.test");
          for (int i = 0; i < 10; i++) {
            ok += c.send("a@internet.example", "b@corp.example", "Subject: " + i + "\n\nhello\n").isPositive() ? 1 : 0;
          }
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
        return ok;
      });
      // A liveness bound, not a speed claim: the normal client would hang if it waited behind drippers.
      await().atMost(Duration.ofSeconds(30)).until(normal::isDone);
      assertThat(normal.get()).isEqualTo(10);
      assertThat(backend.messages()).isEqualTo(10);
      assertThat(f.server().listener("l").activeSessions()).as("the drippers are still connected").isGreaterThan(250);
    } finally {
      drip.shutdownNow();
      for (Socket s : drippers) {
        s.close();
      }
    }
  }
}
