package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.LabSmtpClient;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A server that refuses a MAIL for its declared SIZE (RFC 1870) keeps that size until RSET, as
 * Postfix does, and judges a next MAIL without SIZE by it. Sluice answers the client's RSET itself,
 * so it resets the backend session before giving it the next MAIL; otherwise every later message
 * of that client on that session is refused for the first one's size.
 */
@Tag("integration")
class SizeRefusalPostfixIT {
  static PostfixInstance pf;
  static SluiceFixture sluice;

  @BeforeAll
  static void start() throws Exception {
    pf = PostfixInstance.builder("size").mainCf("message_size_limit", "10240").build().start();
    sluice = SluiceFixture.start("""
        health:
          deep: { steps: [connect, banner, ehlo, mail_from, quit], mail_from: probe@corp.example, interval: 5s, timeout: 2s }
        pools:
          p: { backends: [ "%s:%d" ] }
        listeners:
          l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: deep, limits: { max_message_size: 10MB } }
        """.formatted(pf.address(), pf.port()));
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (pf != null) {
      pf.close();
    }
  }

  @Test
  void aMessageRefusedForItsSizeDoesNotRefuseTheNextOnes() throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("l"), null, Duration.ofSeconds(10))) {
      c.command("EHLO client.example");
      assertThat(c.command("MAIL FROM:<a@corp.example> SIZE=20000").code()).isEqualTo(250); // Sluice's limit is 10MB
      assertThat(c.command("RCPT TO:<u@example.test>").toString()).startsWith("552 5.3.4");
      assertThat(c.command("RSET").code()).isEqualTo(250);
      for (int i = 0; i < 3; i++) {
        assertThat(c.command("MAIL FROM:<a@corp.example>").code()).isEqualTo(250);
        assertThat(c.command("RCPT TO:<u@example.test>").code()).as("message " + i).isEqualTo(250);
        assertThat(c.command("DATA").code()).isEqualTo(354);
        assertThat(c.command("Subject: small " + i + "\r\n\r\nhello\r\n.").code()).isEqualTo(250);
      }
    }
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> pf.deliveredCount() == 3);
  }
}
