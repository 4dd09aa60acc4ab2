package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.ConfigLoader;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.RecordingSmtpBackend;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.TestCertificates;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code received_header: true} across a session's life: the "with" keyword after STARTTLS and
 * AUTH, a transaction that moves to a second backend before DATA, and reloads that turn the key on
 * and off while a session goes on.
 */
class ReceivedHeaderSessionTest {
  @TempDir Path dir;

  @Test
  void afterStarttlsAndAuthTheLineSaysEsmtpsa() throws Exception {
    Path cert = dir.resolve("cert.pem");
    Path key = dir.resolve("key.pem");
    TestCertificates.selfSigned("mx.test", Instant.now().minusSeconds(60), Instant.now().plusSeconds(86_400))
        .writePem(cert, key);
    try (ScriptedPeer backend = AuthRelayTest.authServer("auth", new AtomicInteger());
        SluiceFixture sluice = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ "127.0.0.1:%d" ] } }
            listeners:
              l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, hostname: mx.test, auth: relay,
                   received_header: true, tls: { cert: "%s", key: "%s" } }
            """.formatted(backend.port(), cert, key));
        RawSmtpClient c = RawSmtpClient.connect(sluice.address("l"), "127.0.0.61")) {
      c.expect("220");
      c.send("EHLO plain.test\r\n").expect("250");
      c.send("MAIL FROM:<a@x.example>\r\n").expect("250");
      c.send("RCPT TO:<b@y.example>\r\n").expect("250");
      c.send("DATA\r\n").expect("354");
      c.send("Subject: plain\r\n\r\n.\r\n").expect("250");
      c.send("STARTTLS\r\n").expect("220");
      c.upgrade(SmtpTlsTest.trustAll(), "mx.test");
      c.send("EHLO tls.test\r\n").expect("250");
      c.send("MAIL FROM:<a@x.example>\r\n").expect("250");
      c.send("RCPT TO:<b@y.example>\r\n").expect("250");
      c.send("DATA\r\n").expect("354");
      c.send("Subject: tls\r\n\r\n.\r\n").expect("250");
      c.send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n").expect("235");
      c.send("MAIL FROM:<a@x.example>\r\n").expect("250");
      c.send("RCPT TO:<b@y.example>\r\n").expect("250");
      c.send("DATA\r\n").expect("354");
      c.send("Subject: auth\r\n\r\n.\r\n").expect("250");
      List<String> with = backend.received().stream().filter(l -> l.contains("(Sluice) with ")).toList();
      assertThat(with).hasSize(3);
      assertThat(with.get(0)).contains(" with ESMTP id ").endsWith(".1;");
      assertThat(with.get(1)).contains(" with ESMTPS id ").endsWith(".2;");
      assertThat(with.get(2)).contains(" with ESMTPSA id ").endsWith(".3;");
      assertThat(backend.received()).filteredOn(l -> l.startsWith("Received: from ")).containsExactly(
          "Received: from plain.test (unknown [127.0.0.61])", "Received: from tls.test (unknown [127.0.0.61])",
          "Received: from tls.test (unknown [127.0.0.61])");
    }
  }

  @Test
  void aTransactionThatMovesToASecondBackendCarriesTheLineOnceThere() throws Exception {
    // The first backend turns every MAIL away with a 451: the transaction goes to the second.
    try (ScriptedPeer refusing = new ScriptedPeer(c -> {
          c.say("220 refusing ready");
          for (String line = c.hear(); line != null && !line.toUpperCase().startsWith("QUIT"); line = c.hear()) {
            String u = line.toUpperCase();
            c.say(u.startsWith("EHLO") ? "250 refusing" : u.startsWith("MAIL") ? "451 4.3.0 try another" : "503 5.5.1 no");
          }
        });
        RecordingSmtpBackend taking = new RecordingSmtpBackend("taking");
        SluiceFixture sluice = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ "127.0.0.1:%d", "127.0.0.1:%d" ] } }
            listeners:
              l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, hostname: mx.test, retries: 1,
                   received_header: true }
            """.formatted(refusing.port(), taking.port()));
        RawSmtpClient c = RawSmtpClient.connect(sluice.address("l"), "127.0.0.62")) {
      c.expect("220");
      c.send("EHLO gateway.test\r\n").expect("250");
      for (int i = 1; i <= 2; i++) {
        ReceivedHeaderRelayTest.openData(c);
        c.send("Subject: " + i + "\r\n\r\n.\r\n").expect("250");
      }
      List<String> bodies = taking.messages().values().stream()
          .sorted(Comparator.comparing(RecordingSmtpBackend.Message::queueId))
          .map(m -> new String(m.body(), StandardCharsets.ISO_8859_1)).toList();
      assertThat(bodies).hasSize(2).allSatisfy(b -> assertThat(b.split("\\(Sluice\\)", -1)).hasSize(2));
      assertThat(bodies.get(0)).contains(".1;\r\n").endsWith("Subject: 1\r\n\r\n");
      assertThat(bodies.get(1)).contains(".2;\r\n").endsWith("Subject: 2\r\n\r\n");
      assertThat(refusing.received()).anyMatch(l -> l.startsWith("MAIL FROM:"))
          .noneMatch(l -> l.startsWith("Received:"));
    }
  }

  @Test
  void aReloadTurnsTheLineOnAndOffForTheNextMessageOfARunningSession() throws Exception {
    try (RecordingSmtpBackend backend = new RecordingSmtpBackend("rec")) {
      String yaml = """
          pools: { p: { backends: [ "127.0.0.1:%d" ] } }
          listeners:
            l: { listen: "127.0.0.1:0", mode: smtp, pool: p, hostname: mx.test, received_header: %s }
          """;
      AtomicReference<String> next = new AtomicReference<>();
      try (SluiceFixture sluice = SluiceFixture.start(yaml.formatted(backend.port(), false));
          RawSmtpClient c = RawSmtpClient.connect(sluice.address("l"), "127.0.0.63")) {
        sluice.server().configSource(() -> ConfigLoader.parse(next.get(), "reload.yaml"));
        c.expect("220");
        c.send("EHLO gateway.test\r\n").expect("250");
        for (boolean on : new boolean[] {false, true, false}) {
          next.set(yaml.formatted(backend.port(), on));
          assertThat(sluice.server().reload().ok()).isTrue();
          ReceivedHeaderRelayTest.openData(c);
          c.send("Subject: " + on + "\r\n\r\n.\r\n").expect("250");
        }
      }
      List<String> bodies = backend.messages().values().stream()
          .sorted(Comparator.comparing(RecordingSmtpBackend.Message::queueId))
          .map(m -> new String(m.body(), StandardCharsets.ISO_8859_1)).toList();
      assertThat(bodies).hasSize(3);
      assertThat(bodies.get(0)).isEqualTo("Subject: false\r\n\r\n");
      assertThat(bodies.get(1)).startsWith("Received: from gateway.test").contains(".2;\r\n")
          .endsWith("Subject: true\r\n\r\n");
      assertThat(bodies.get(2)).isEqualTo("Subject: false\r\n\r\n");
    }
  }
}
