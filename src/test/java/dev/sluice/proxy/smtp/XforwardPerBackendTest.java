package dev.sluice.proxy.smtp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * An xforward listener whose pool has a backend that sets {@code client_identity: none}: XFORWARD
 * goes before each MAIL to the backends that take the listener's identity, and never to that one.
 */
class XforwardPerBackendTest {
  private static ScriptedPeer offeringXforward() throws Exception {
    return new ScriptedPeer(c -> {
      c.say("220 mx.scripted ESMTP");
      c.hearUntil("EHLO");
      c.say("250-mx.scripted").say("250 XFORWARD NAME ADDR PROTO HELO");
      c.serveRest();
    });
  }

  @Test
  void xforwardGoesOnlyToTheBackendsThatTakeIt() throws Exception {
    try (ScriptedPeer none = offeringXforward(); ScriptedPeer inherits = offeringXforward();
        SluiceFixture s = SluiceFixture.start("""
            pools:
              p:
                algorithm: round_robin
                backends:
                  - { name: none, address: "127.0.0.1:%d", client_identity: none }
                  - { name: inherits, address: "127.0.0.1:%d" }
            listeners:
              l: { listen: "127.0.0.1:0", mode: smtp, pool: p, client_identity: xforward }
            """.formatted(none.port(), inherits.port()))) {
      for (int i = 0; i < 4; i++) {
        try (LabSmtpClient c = LabSmtpClient.connect(s.address("l"), client(60 + i), Duration.ofSeconds(10))) {
          c.command("EHLO gateway.test");
          assertThat(c.send("x@internet.example", "y@corp.example", "Subject: hi\n\nbody\n").code()).isEqualTo(250);
        }
      }
      assertThat(none.received()).anyMatch(l -> l.startsWith("MAIL FROM")).noneMatch(l -> l.startsWith("XFORWARD"));
      assertThat(inherits.received()).anyMatch(l -> l.startsWith("XFORWARD ADDR=127.0.0.6"));
    }
  }
}
