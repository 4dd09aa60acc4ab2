package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.cli.Main;
import dev.sluice.testing.Loopback;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.SluiceFixture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed's pitfall 5 reproduced against real Postfix: the relay connector trusts the balancer's
 * address; internet mail entering through the same balancer from the same address can relay. Sluice
 * shows it with {@code probe relay}, prevents it with a separate source address per listener, and
 * {@code audit} names the layout.
 */
@Tag("integration")
class OpenRelayPostfixIT {
  static PostfixInstance pf;
  static int relayPort;

  @BeforeAll
  static void start() {
    relayPort = Loopback.freePort();
    // Like an Exchange "internal relay" connector: anything from mynetworks may relay.
    // A discard transport instead of the harness's error transport, so the relay decision is
    // Postfix's own; nothing leaves the machine either way (and probes RSET before DATA).
    pf = PostfixInstance.builder("relay").mynetworks("127.0.0.30/32")
        .mainCf("default_transport", "discard:relay test").mainCf("relay_transport", "discard:relay test")
        .additionalListener(relayPort, Map.of("smtpd_recipient_restrictions", "permit_mynetworks,reject_unauth_destination"))
        .build().start();
  }

  @AfterAll
  static void stop() {
    if (pf != null) {
      pf.close();
    }
  }

  static String layout(String externalSource) {
    return """
        health:
          internal: { mail_from: health@corp.example, interval: 5s, timeout: 2s }
        pools:
          hub: { backends: [ { name: hub1, address: "%s:%d" } ] }
        listeners:
          internet: { listen: "127.0.0.1:0", mode: smtp, pool: hub, health: internal, trust: external, source_address: %s }
          relay:    { listen: "127.0.0.2:0", mode: tcp,  pool: hub, health: internal, trust: internal, source_address: 127.0.0.30, allow: [127.0.0.0/8] }
        """.formatted(pf.address(), relayPort, externalSource);
  }

  record Run(int exit, String out) {}

  static Run cli(String... args) {
    PrintStream original = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int code;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      code = Main.execute(args);
    } finally {
      System.setOut(original);
    }
    return new Run(code, buf.toString(StandardCharsets.UTF_8));
  }

  @Test
  void sharedSourceAddressIsAnOpenRelayAndTheAuditSaysSo(@TempDir Path dir) throws Exception {
    String yaml = layout("127.0.0.30");
    try (SluiceFixture f = SluiceFixture.start(yaml)) {
      var at = f.address("internet");
      Run r = cli("probe", "relay", at.getHostString() + ":" + at.getPort(), "--from", "spammer@internet.example",
          "--to", "victim@elsewhere.example", "--source", "127.0.0.99");
      assertThat(r.exit()).as(r.out()).isEqualTo(1);
      assertThat(r.out()).contains("C: RCPT TO:<victim@elsewhere.example>").contains("OPEN RELAY");
    }
    Path cfg = Files.writeString(dir.resolve("seed.yaml"), yaml);
    Run audit = cli("audit", "-c", cfg.toString());
    assertThat(audit.exit()).isEqualTo(2);
    assertThat(audit.out()).contains("SL001");
  }

  @Test
  void separateSourceAddressKeepsTheRelayClosed() throws Exception {
    try (SluiceFixture f = SluiceFixture.start(layout("127.0.0.31"))) {
      var at = f.address("internet");
      Run r = cli("probe", "relay", at.getHostString() + ":" + at.getPort(), "--from", "spammer@internet.example",
          "--to", "victim@elsewhere.example", "--source", "127.0.0.99");
      assertThat(r.exit()).as(r.out()).isZero();
      assertThat(r.out()).contains("554 5.7.1").contains("relay refused");
      // The internal relay still relays for internal applications.
      var relay = f.address("relay");
      Run internal = cli("probe", "relay", relay.getHostString() + ":" + relay.getPort(), "--from", "app@corp.example",
          "--to", "partner@elsewhere.example", "--source", "127.0.0.101");
      assertThat(internal.exit()).as(internal.out()).isEqualTo(1);
    }
    assertThat(pf.queuedCount()).as("RSET before DATA: nothing was queued").isZero();
  }
}
