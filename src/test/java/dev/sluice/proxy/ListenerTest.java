package dev.sluice.proxy;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.SluiceServer.StartupException;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.SluiceFixture;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Listening sockets: one per event loop where the transport allows it, and never a shared port. */
class ListenerTest {
  final LoopbackLab lab = new LoopbackLab();

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  String config(EmbeddedSmtpServer backend, int port) {
    return """
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ "127.0.0.1:%d" ] } }
        listeners: { l: { listen: "127.0.0.1:%d", mode: smtp, pool: p, health: basic } }
        """.formatted(backend.port(), port);
  }

  @Test
  void everyEventLoopListensOnTheOnePortAndEveryConnectionIsServed() throws Exception {
    EmbeddedSmtpServer backend = lab.backend("b", null);
    SluiceFixture sluice = lab.add(SluiceFixture.start(config(backend, 0)));
    int port = sluice.address("l").getPort();

    int expected = Transport.best().listensPerLoop() ? Runtime.getRuntime().availableProcessors() : 1;
    assertThat(listeningSockets(port)).isEqualTo(expected);

    // Distinct sources hash to different sockets; each connection must be served wherever it lands.
    for (int i = 1; i <= 24; i++) {
      try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("l"), client(100 + i), Duration.ofSeconds(10))) {
        assertThat(c.banner().code()).isEqualTo(220);
        c.command("EHLO client.test");
        assertThat(c.send("a@example.test", "b@example.test", "Subject: " + i + "\n\nhi\n").code()).isEqualTo(250);
      }
    }
    assertThat(backend.messages()).isEqualTo(24);
  }

  @Test
  void aSecondInstanceOnTheSamePortIsRefusedInsteadOfSharingIt() throws Exception {
    EmbeddedSmtpServer backend = lab.backend("b", null);
    int port = Loopback.freePort();
    SluiceFixture first = lab.add(SluiceFixture.start(config(backend, port)));

    assertThatThrownBy(() -> lab.add(SluiceFixture.start(config(backend, port))))
        .isInstanceOf(StartupException.class)
        .hasMessageContaining("listener 'l' cannot listen on 127.0.0.1:" + port);

    // The first one still has the port to itself and serves.
    assertThat(listeningSockets(port)).isEqualTo(Transport.best().listensPerLoop() ? Runtime.getRuntime().availableProcessors() : 1);
    try (LabSmtpClient c = LabSmtpClient.connect(first.address("l"), client(99), Duration.ofSeconds(10))) {
      assertThat(c.banner().code()).isEqualTo(220);
    }
  }

  /** Sockets in LISTEN state on {@code port}, from the kernel's tables (IPv4 and IPv6). */
  static long listeningSockets(int port) throws IOException {
    String local = String.format(":%04X ", port);
    long n = 0;
    for (String table : new String[] {"/proc/net/tcp", "/proc/net/tcp6"}) {
      Path p = Path.of(table);
      if (Files.exists(p)) {
        n += Files.readAllLines(p).stream()
            .skip(1)
            .map(String::trim)
            .map(l -> l.split("\\s+"))
            .filter(f -> f[1].endsWith(local.trim()) && f[3].equals("0A"))
            .count();
      }
    }
    return n;
  }
}
