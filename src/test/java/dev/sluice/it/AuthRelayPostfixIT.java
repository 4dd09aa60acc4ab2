package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.ExternalCommand;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.balance.Backend;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SwaksResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code auth: relay} against real Postfix SASL (Cyrus, a sasldb with one user): the client's AUTH
 * is judged by the Postfix that then takes its mail, Postfix relays for it as for any authenticated
 * client, and a Postfix in the same pool without SASL (its default) is passed over, not blamed.
 */
@Tag("integration")
class AuthRelayPostfixIT {
  static PostfixInstance withSasl;
  static PostfixInstance withoutSasl;
  static SluiceFixture sluice;

  @BeforeAll
  static void start() throws Exception {
    // Sluice connects from 127.0.0.1: outside mynetworks, so relaying takes an authenticated client.
    withSasl = PostfixInstance.builder("sasl").mynetworks("127.0.0.254/32")
        .mainCf("smtpd_sasl_auth_enable", "yes")
        .mainCf("smtpd_sasl_type", "cyrus")
        .mainCf("smtpd_sasl_path", "smtpd")
        .mainCf("smtpd_sasl_local_domain", "sluice.test")
        .mainCf("smtpd_relay_restrictions", "permit_sasl_authenticated, reject_unauth_destination")
        // Low, so that a test reaches it: Postfix then says 421 and closes (default 20).
        .mainCf("smtpd_hard_error_limit", "3")
        .build();
    // Cyrus reads smtpd.conf from $config_directory/sasl in Debian's Postfix (which does not
    // honour cyrus_sasl_config_path); upstream Postfix takes the parameter, set below as well.
    Path sasl = Files.createDirectories(withSasl.configDirectory().resolve("sasl"));
    Path db = sasl.resolve("sasldb2");
    Files.writeString(sasl.resolve("smtpd.conf"), """
        pwcheck_method: auxprop
        auxprop_plugin: sasldb
        sasldb_path: %s
        mech_list: PLAIN LOGIN
        """.formatted(db));
    ExternalCommand.Result created = ExternalCommand.run(Duration.ofSeconds(20), "sh", "-c",
        "echo secret | " + ExternalCommand.tool("saslpasswd2") + " -p -c -f " + db + " -u sluice.test bob");
    assertThat(created.exitCode()).as(created.toString()).isZero();
    // smtpd reads it as the mail owner; these are test credentials.
    Files.setPosixFilePermissions(db, PosixFilePermissions.fromString("rw-r--r--"));
    Files.writeString(withSasl.configDirectory().resolve("main.cf"), "cyrus_sasl_config_path = " + sasl + "\n",
        StandardOpenOption.APPEND);
    withSasl.start();
    withoutSasl = PostfixInstance.builder("nosasl").mynetworks("127.0.0.254/32").build().start();
    sluice = SluiceFixture.start("""
        health:
          basic: { steps: [connect, banner, ehlo, quit], interval: 5s, timeout: 2s }
        pools:
          p: { passive: { consecutive_failures: 1 }, backends: [ "%s:%d", "%s:%d" ] }
        listeners:
          submission: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay }
        """.formatted(withSasl.address(), withSasl.port(), withoutSasl.address(), withoutSasl.port()));
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    for (PostfixInstance pf : new PostfixInstance[] {withSasl, withoutSasl}) {
      if (pf != null) {
        pf.close();
      }
    }
  }

  /**
   * Draining the server a client logged in at: the message in flight is delivered there, and then
   * the client gets 421, so it reconnects and logs in at a server in service instead of holding the
   * drained one busy.
   */
  @Test
  void drainingTheServerAClientLoggedInAtAsksItToReconnectOnceItsMessageIsDone() throws Exception {
    String name = withSasl.address() + ":" + withSasl.port();
    int before = withSasl.deliveredCount();
    try (RawSmtpClient c = RawSmtpClient.connect(sluice.address("submission"), null)) {
      c.expect("220");
      c.send("EHLO client.example\r\n").expect("250");
      c.send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n").expect("235 2.7.0");
      c.send("MAIL FROM:<bob@corp.example>\r\n").expect("250");
      c.send("RCPT TO:<drain@example.test>\r\n").expect("250");
      c.send("DATA\r\n").expect("354");
      c.send("Subject: drained mid-message\r\n\r\nfirst half\r\n");
      assertThat(sluice.server().setAdminState("p", name, Backend.AdminState.DRAINING)).isTrue();
      c.send("second half\r\n.\r\n").expect("250");
      assertThat(c.reply()).startsWith("421 4.3.2").contains("log in again"); // unprompted, once it is done
    } finally {
      sluice.server().setAdminState("p", name, Backend.AdminState.ENABLED);
    }
    assertThat(withSasl.awaitDelivered(before + 1)).isEqualTo(before + 1);
  }

  /** swaks authenticates through Sluice every time, whichever backend round robin offers first. */
  @Test
  void swaksAuthenticatesAtTheServerThatHasSaslAndItsMailIsDeliveredThere() throws Exception {
    int before = withSasl.deliveredCount();
    int other = withoutSasl.deliveredCount();
    for (int i = 0; i < 4; i++) {
      SwaksResult r = SmtpClients.swaks("127.0.0.1", sluice.address("submission").getPort(), "bob@corp.example",
          "u" + i + "@example.test", null, "--auth", "PLAIN", "--auth-user", "bob", "--auth-password", "secret");
      assertThat(r.succeeded()).as(r.transcript()).isTrue();
      assertThat(r.serverReplies()).anyMatch(l -> l.startsWith("235 2.7.0"));
    }
    assertThat(withSasl.awaitDelivered(before + 4)).isEqualTo(before + 4);
    assertThat(withoutSasl.deliveredCount()).isEqualTo(other);
    assertThat(withSasl.awaitMaillog("sasl_method=PLAIN, sasl_username=bob@sluice.test")).contains("client=");
    assertThat(String.join("\n", withoutSasl.maillog())).doesNotContain("AUTH");
  }

  /**
   * Postfix's own verdicts reach the client: a wrong password is 535 (and the session may try
   * again), relaying is refused before AUTH and allowed after it, as Postfix decides.
   */
  @Test
  void postfixJudgesTheCredentialsAndTheRelayingThroughSluice() throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("submission"), null, Duration.ofSeconds(10))) {
      c.command("EHLO client.example");
      // "bob@sluice.test" with a wrong password, then the right one.
      assertThat(c.command("AUTH PLAIN AGJvYgB3cm9uZw==").toString()).as(() -> String.join("\n", withSasl.maillog()))
          .startsWith("535 5.7.8");
      assertThat(c.command("AUTH PLAIN AGJvYgBzZWNyZXQ=").toString()).startsWith("235 2.7.0");
      assertThat(c.command("MAIL FROM:<bob@corp.example>").code()).isEqualTo(250);
      // Past the relay check (a test instance then refuses it for having no outbound transport).
      assertThat(c.command("RCPT TO:<someone@elsewhere.test>").toString()).as("relayed for bob")
          .doesNotContain("Relay access denied").contains("no outbound delivery");
      assertThat(c.command("RSET").code()).isEqualTo(250);
    }
    for (int i = 0; i < 2; i++) { // both backends in turn: neither relays for a client that did not authenticate
      try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("submission"), null, Duration.ofSeconds(10))) {
        c.command("EHLO client.example");
        assertThat(c.command("MAIL FROM:<x@corp.example>").code()).isEqualTo(250);
        assertThat(c.command("RCPT TO:<someone@elsewhere.test>").toString()).startsWith("554 5.7.1")
            .contains("Relay access denied");
      }
    }
  }

  /**
   * A password guesser runs into Postfix's hard error limit (421, and Postfix hangs up): that is
   * about the client, so the server is not ejected (one counted failure would do it here, and it
   * is the pool's only server with SASL), Sluice's own error limit ends the guessing, and the next
   * client authenticates and sends as usual.
   */
  @Test
  void aGuesserHittingPostfixsErrorLimitDoesNotLockOthersOut() throws Exception {
    try (RawSmtpClient c = RawSmtpClient.connect(sluice.address("submission"), null)) {
      c.expect("220");
      c.send("EHLO guesser.example\r\n");
      c.expect("250");
      for (int i = 0; i < 20; i++) { // Sluice's error limit is 20 errors
        c.send("AUTH PLAIN AGJvYgB3cm9uZw==\r\n"); // bob, wrong password
        // 451 when Postfix's 421 crossed the AUTH on the wire (as a direct client would get 421).
        assertThat(c.reply()).as(() -> String.join("\n", withSasl.maillog())).matches("(535 5\\.7\\.8|451 4\\.7\\.0) .*");
      }
      assertThat(c.reply()).as("Sluice's error limit").startsWith("421 4.7.0").contains("too many errors");
    }
    assertThat(withSasl.awaitMaillog("too many errors")).isNotEmpty();
    int before = withSasl.deliveredCount();
    SwaksResult r = SmtpClients.swaks("127.0.0.1", sluice.address("submission").getPort(), "bob@corp.example",
        "after-guesser@example.test", null, "--auth", "PLAIN", "--auth-user", "bob", "--auth-password", "secret");
    assertThat(r.succeeded()).as(r.transcript()).isTrue();
    assertThat(withSasl.awaitDelivered(before + 1)).isEqualTo(before + 1);
  }
}
