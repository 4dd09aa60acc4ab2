package dev.sluice.lab;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.Cidr;
import dev.sluice.runtime.Transport;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The embedded server's relay control, as an Exchange relay connector would answer, and its
 * greylisting, as postgrey would.
 */
class EmbeddedSmtpServerTest {
  private final Transport transport = Transport.best();
  private EventLoopGroup group;
  private EmbeddedSmtpServer server;

  @BeforeEach
  void start() throws Exception {
    group = transport.newGroup(1);
    server = new EmbeddedSmtpServer("server1", null)
        .relayControl(List.of(Cidr.parse("127.0.0.22/32")), List.of("Corp.Example"))
        .start(new InetSocketAddress("127.0.0.1", 0), group, transport);
  }

  @AfterEach
  void stop() {
    server.close();
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }

  private String rcpt(String source, String to) throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(server.address(), InetAddress.getByName(source), Duration.ofSeconds(5))) {
      c.command("EHLO test.invalid");
      c.command("MAIL FROM:<someone@internet.example>");
      return c.command("RCPT TO:<" + to + ">").toString();
    }
  }

  @Test
  void foreignRecipientOnlyFromATrustedAddress() throws Exception {
    assertThat(rcpt("127.0.0.22", "x@elsewhere.example")).startsWith("250");
    assertThat(rcpt("127.0.0.66", "x@elsewhere.example")).startsWith("554 5.7.1 Relay access denied");
    assertThat(rcpt("127.0.0.66", "user@corp.example")).startsWith("250");
    assertThat(server.relayDenied()).isEqualTo(1);
  }

  @Test
  void greylistingDefersAPairOnceAndForgetsEveryPairWhenTurnedOnAgain() throws Exception {
    server.greylist();
    assertThat(rcpt("127.0.0.60", "user@corp.example")).startsWith("450 4.2.0 <user@corp.example>")
        .endsWith("Greylisted");
    assertThat(rcpt("127.0.0.61", "user@corp.example")).as("the retry, from anywhere").startsWith("250");
    assertThat(rcpt("127.0.0.60", "other@corp.example")).as("another pair").startsWith("450");

    server.greylist(); // what the lab does between runs

    assertThat(rcpt("127.0.0.60", "user@corp.example")).as("forgotten").startsWith("450");
    assertThat(server.greylisted()).isEqualTo(3);
  }
}
