package dev.sluice.proxy.smtp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A backend that refuses Sluice's XFORWARD (Sluice missing from Postfix's
 * smtpd_authorized_xforward_hosts: {@code 550 5.7.0 Error: insufficient authorization}) has a setup
 * fault: the transaction moves to another backend, and with none left the client hears 4xx, never
 * that 5xx, which would make it bounce mail no server refused.
 */
class XforwardRefusalTest {
  static final Duration TIMEOUT = Duration.ofSeconds(20);

  /** Offers XFORWARD and refuses the clients' one, as Postfix does to an unauthorized client. */
  static ScriptedPeer refusing() throws Exception {
    return new ScriptedPeer(c -> {
      c.say("220 strict ESMTP");
      String line;
      while ((line = c.hear()) != null) {
        String u = line.toUpperCase();
        if (u.startsWith("EHLO")) {
          c.say("250-strict").say("250 XFORWARD NAME ADDR PROTO HELO");
        } else if (u.startsWith("XFORWARD") && line.contains("ADDR=127.0.0.9")) {
          // The clients' XFORWARD only: the probes' (naming Sluice itself) pass, so the backend is
          // UP and chosen, as with a Postfix that refuses some attribute values (501 5.5.4).
          c.say("550 5.7.0 Error: insufficient authorization");
        } else if (u.startsWith("QUIT")) {
          c.say("221 bye");
          return;
        } else {
          c.say("250 2.0.0 Ok");
        }
      }
    });
  }

  /** Offers XFORWARD and takes it. */
  static ScriptedPeer accepting() throws Exception {
    return new ScriptedPeer(c -> {
      c.say("220 open ESMTP");
      c.hearUntil("EHLO");
      c.say("250-open").say("250 XFORWARD NAME ADDR PROTO HELO");
      c.serveRest();
    });
  }

  static SluiceFixture sluice(ScriptedPeer... backends) throws Exception {
    StringBuilder list = new StringBuilder();
    for (int i = 0; i < backends.length; i++) {
      list.append(i == 0 ? "" : ", ").append("{ name: b").append(i).append(", address: \"127.0.0.1:")
          .append(backends[i].port()).append("\" }");
    }
    return SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ %s ] } }
        listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, client_identity: xforward } }
        """.formatted(list));
  }

  @Test
  void aRefusedXforwardMovesTheMessageToAnotherBackend() throws Exception {
    try (ScriptedPeer strict = refusing(); ScriptedPeer open = accepting(); SluiceFixture f = sluice(strict, open);
        LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(94), TIMEOUT)) {
      c.command("EHLO gateway.test");
      for (int i = 0; i < 4; i++) {
        assertThat(c.send("a@internet.example", "u" + i + "@corp.example", "Subject: " + i + "\n\nbody\n").code())
            .isEqualTo(250);
      }
      assertThat(open.received()).filteredOn(l -> l.startsWith("DATA")).hasSize(4);
      assertThat(strict.received()).filteredOn(l -> l.startsWith("MAIL")).isEmpty();
    }
  }

  @Test
  void withNoOtherBackendTheClientIsToldToTryAgainNotRefused() throws Exception {
    try (ScriptedPeer strict = refusing(); SluiceFixture f = sluice(strict);
        LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(95), TIMEOUT)) {
      c.command("EHLO gateway.test");
      var reply = c.send("a@internet.example", "u@corp.example", "Subject: x\n\nbody\n");
      assertThat(reply.code()).as(reply.toString()).isBetween(400, 499);
    }
  }
}
