package dev.sluice.proxy.smtp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** smtp mode over loopback against the embedded lab server and scripted peers. */
class SmtpModeTest {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  final LoopbackLab lab = new LoopbackLab();

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  EmbeddedSmtpServer backend(String name) throws InterruptedException {
    return lab.backend(name, "corp.example");
  }

  SluiceFixture sluice(String listenerExtras, String... backends) throws Exception {
    StringBuilder y = new StringBuilder();
    y.append("health:\n  deep:\n    steps: [connect, banner, ehlo, mail_from, quit]\n    mail_from: probe@internet.example\n"
        + "    interval: 60s\n    timeout: 5s\n");
    y.append("pools:\n  p:\n    backends:\n");
    for (String b : backends) {
      y.append("      - ").append(b).append('\n');
    }
    y.append("listeners:\n  l:\n    listen: 127.0.0.1:0\n    mode: smtp\n    pool: p\n    health: deep\n    hostname: mx.test\n")
        .append(listenerExtras);
    SluiceFixture f = SluiceFixture.start(y.toString());
    lab.add(f);
    return f;
  }

  static String entry(EmbeddedSmtpServer s) {
    return "{ name: " + s.name() + ", address: 127.0.0.1:" + s.port() + " }";
  }

  @Test
  void hundredMessagesOnOneConnectionSpreadOverBothBackends() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice("", entry(a), entry(b));
    int accepted = 0;
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(50), TIMEOUT)) {
      assertThat(c.banner().lines()).containsExactly("220 mx.test ESMTP Sluice");
      c.command("EHLO gateway.test");
      for (int i = 0; i < 100; i++) {
        accepted += c.send("news@internet.example", "user" + i + "@corp.example", "Subject: " + i + "\n\nbody\n").isPositive() ? 1 : 0;
      }
    }
    assertThat(accepted).isEqualTo(100);
    assertThat(a.messages() + b.messages()).isEqualTo(100);
    assertThat(a.messages()).isEqualTo(50);
  }

  @Test
  void transactionRefusedWithBackPressureIsRetriedOnAnotherBackend() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice("", entry(a), entry(b));
    a.setBackPressure(true); // health probes every 60 s will not notice in time: retry must do it
    int accepted = 0;
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(51), TIMEOUT)) {
      c.command("EHLO gateway.test");
      for (int i = 0; i < 40; i++) {
        accepted += c.send("news@internet.example", "user@corp.example", "Subject: " + i + "\n\nbody\n").isPositive() ? 1 : 0;
      }
    }
    assertThat(accepted).isEqualTo(40);
    assertThat(a.messages()).isZero();
    assertThat(b.messages()).isEqualTo(40);
  }

  @Test
  void noEligibleBackendAnswers451AtMailFrom() throws Exception {
    SluiceFixture f = sluice("", "{ name: gone, address: 127.0.0.1:" + Loopback.freePort() + " }");
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(52), TIMEOUT)) {
      assertThat(c.banner().code()).isEqualTo(220);
      c.command("EHLO x.test");
      SmtpReply r = c.command("MAIL FROM:<a@internet.example>");
      assertThat(r.code()).isEqualTo(451);
      assertThat(r.text()).startsWith("4.3.0");
    }
  }

  @Test
  void pipelinedGroupGetsItsRepliesInOrder() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("", entry(a));
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO p.test\r\nMAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\nRCPT TO:<c@corp.example>\r\nDATA\r\n");
      assertThat(r.reply()).startsWith("250 ENHANCEDSTATUSCODES");
      assertThat(r.reply()).startsWith("250 2.1.0");
      assertThat(r.reply()).startsWith("250 2.1.5");
      assertThat(r.reply()).startsWith("250 2.1.5");
      assertThat(r.reply()).startsWith("354");
      r.send("Subject: pipelined\r\n\r\nhello\r\n.\r\nNOOP\r\nQUIT\r\n");
      assertThat(r.reply()).startsWith("250 2.0.0 Ok: queued");
      assertThat(r.reply()).startsWith("250 2.0.0 Ok");
      assertThat(r.reply()).startsWith("221");
    }
    assertThat(a.messages()).isEqualTo(1);
  }

  @Test
  void backendLostMidDataGives451NeverA250() throws Exception {
    ScriptedPeer dropper = new ScriptedPeer(ScriptedPeer.afterHealthProbe("220 dropper ready", c -> {
      c.acceptUpToBody("dropper");
      c.hear();
      c.close(); // gone in the middle of the body
    }));
    lab.add(dropper);
    SluiceFixture f = sluice("", "{ name: dropper, address: 127.0.0.1:" + dropper.port() + " }");
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(53), TIMEOUT)) {
      c.command("EHLO x.test");
      StringBuilder body = new StringBuilder("Subject: big\n\n");
      for (int i = 0; i < 2000; i++) {
        body.append("line ").append(i).append(" of a message that will not arrive\n");
      }
      SmtpReply r = c.send("a@internet.example", "b@corp.example", body.toString());
      assertThat(r.code()).isEqualTo(451);
      assertThat(r.text()).startsWith("4.4.2");
    }
  }

  /**
   * A backend that goes silent: after the {@code command} timeout for RCPT, and after the {@code
   * end_of_data} timeout for the final reply, the client gets a 451, never a 250.
   */
  @Test
  void silentBackendTimesOutPerStepWith451() throws Exception {
    AtomicInteger sessions = new AtomicInteger();
    ScriptedPeer silent = new ScriptedPeer(c -> {
      c.say("220 silent ready");
      int n = sessions.incrementAndGet();
      if (n == 1) {
        c.serveRest(); // the health probe
        return;
      }
      c.hearUntil("EHLO");
      c.say("250 silent");
      c.hearUntil("MAIL");
      c.say("250 2.1.0 Ok");
      c.hearUntil("RCPT");
      if (n == 2) {
        c.hear(); // never answers RCPT; Sluice gives up and closes
        return;
      }
      c.say("250 2.1.5 Ok");
      c.hearUntil("DATA");
      c.say("354 go ahead");
      c.hearBody(); // then no final reply
      c.hear();
    });
    lab.add(silent);
    SluiceFixture f = sluice("    timeouts: { command: 1s, end_of_data: 2s }\n",
        "{ name: silent, address: 127.0.0.1:" + silent.port() + " }");
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO t.test\r\nMAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\n");
      r.expect("250");
      r.expect("250");
      assertThat(r.reply()).as("RCPT never answered").startsWith("451 4.4.2");
      r.send("RSET\r\nMAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\nDATA\r\n");
      r.expect("250");
      r.expect("250");
      r.expect("250");
      r.expect("354");
      r.send("Subject: t\r\n\r\nhello\r\n.\r\n");
      assertThat(r.reply()).as("end of data never answered").startsWith("451 4.4.2");
    }
  }

  /**
   * Backend replies are framed by Sluice itself: a reply split across segments, with a bare LF or
   * multi-line, is one reply; a reply line over 8 KiB fails that backend at once (not after the
   * command timeout) and the transaction moves to the next backend.
   */
  @Test
  void backendReplyLinesAreFramedAndAnOverlongOneFailsTheBackendAtOnce() throws Exception {
    ScriptedPeer babbler = new ScriptedPeer(ScriptedPeer.afterHealthProbe("220 babbler ready", c -> {
      c.hearUntil("EHLO");
      c.raw("250-babbler\r\n250-PIPE").raw("LINING\n250 8BITMIME\r\n"); // split, and one bare LF
      c.hearUntil("MAIL");
      c.raw("250 " + "x".repeat(9000)); // no end of line, ever
      c.hear();
    }));
    lab.add(babbler);
    EmbeddedSmtpServer good = backend("good");
    SluiceFixture f = sluice("    timeouts: { command: 120s }\n",
        "{ name: babbler, address: 127.0.0.1:" + babbler.port() + " }", entry(good));
    for (int i = 0; i < 4; i++) {
      try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(60 + i), TIMEOUT)) {
        c.command("EHLO x.test");
        assertThat(c.send("a@internet.example", "b@corp.example", "Subject: " + i + "\n\nhi\n").code()).isEqualTo(250);
      }
    }
    assertThat(good.messages()).isEqualTo(4);
    // It got as far as MAIL FROM, so its split EHLO reply was read as one.
    assertThat(babbler.received()).anyMatch(l -> l.startsWith("MAIL FROM"));
  }

  @Test
  void bareLineFeedIsRejectedWith550AndNothingReachesTheBackend() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("", entry(a));
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO p.test\r\n");
      r.expect("250 ENHANCEDSTATUSCODES");
      r.send("MAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\nDATA\r\n");
      r.expect("250");
      r.expect("250");
      r.expect("354");
      // The smuggling shape: a bare-LF "terminator" followed by a second transaction.
      r.send("Subject: smuggle\r\n\r\nhello\n.\r\nMAIL FROM:<evil@internet.example>\r\nRCPT TO:<b@corp.example>\r\nDATA\r\n"
          + "smuggled\r\n.\r\n");
      String reply = r.reply();
      assertThat(reply).startsWith("550 5.6.0");
      // The session goes on: a clean message afterwards is accepted.
      r.send("MAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\nDATA\r\n");
      r.expect("250");
      r.expect("250");
      r.expect("354");
      r.send("Subject: clean\r\n\r\nhello\r\n.\r\n");
      assertThat(r.reply()).startsWith("250 2.0.0 Ok: queued");
    }
    await().atMost(TIMEOUT).until(() -> a.messages() == 1);
    assertThat(a.messages()).isEqualTo(1);
  }

  @Test
  void overlongCommandLineGets500AndTheSessionContinues() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("", entry(a));
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("NOOP " + "x".repeat(20_000) + "\r\nNOOP\r\n");
      assertThat(r.reply()).startsWith("500 5.5.2");
      assertThat(r.reply()).startsWith("250");
    }
  }

  @Test
  void idleClientGets421AndIsDisconnected() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("    limits: { idle_timeout: 1s }\n", entry(a));
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO idle.test\r\n");
      r.expect("250");
      assertThat(r.reply()).startsWith("421 4.4.2");
    }
  }

  /** Commands keep a session open past the idle timeout. */
  @Test
  void aClientThatKeepsTalkingIsNotIdle() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("    limits: { idle_timeout: 1s }\n", entry(a));
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(57), TIMEOUT)) {
      c.command("EHLO talk.test");
      Loopback.keepTalking(c, Duration.ofMillis(3500)); // three and a half timeouts
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: still here\n\nhi\n").code()).isEqualTo(250);
    }
    assertThat(a.messages()).isEqualTo(1);
  }

  /**
   * A client waiting for a backend's reply is not idle, however long the backend takes: a server
   * that needs 2.5 s for its final reply, behind an idle timeout of 1 s, still gets its 250 through.
   */
  @Test
  void aClientWaitingForASlowBackendIsNotIdle() throws Exception {
    ScriptedPeer slow = new ScriptedPeer(ScriptedPeer.afterHealthProbe("220 slow ready", c -> {
      c.acceptUpToBody("slow").hearBody();
      await().pollDelay(Duration.ofMillis(2500)).atMost(Duration.ofSeconds(5)).until(() -> true); // a slow server
      c.say("250 2.0.0 Ok: queued slowly");
      c.serveRest();
    }));
    lab.add(slow);
    SluiceFixture f = sluice("    limits: { idle_timeout: 1s }\n", "{ name: slow, address: 127.0.0.1:" + slow.port() + " }");
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO wait.test\r\nMAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\nDATA\r\n");
      r.expect("250");
      r.expect("250");
      r.expect("250");
      r.expect("354");
      r.send("Subject: slow\r\n\r\nhello\r\n.\r\n");
      assertThat(r.reply()).startsWith("250 2.0.0 Ok: queued slowly");
      assertThat(r.reply()).as("then idle: the timeout applies again").startsWith("421 4.4.2");
    }
  }

  /**
   * A backend's 421 closes Sluice's session to that backend only (RFC 5321 §3.8): the client gets
   * 451 with the same text, keeps its session, and its next message is delivered. Passing the 421
   * on would tell the client its session is closing while Sluice kept it open.
   */
  @Test
  void aBackendsClosing421ReachesTheClientAs451AndTheSessionGoesOn() throws Exception {
    java.util.concurrent.atomic.AtomicInteger sessions = new java.util.concurrent.atomic.AtomicInteger();
    ScriptedPeer closing = new ScriptedPeer(ScriptedPeer.afterHealthProbe("220 closing ready", c -> {
      if (sessions.incrementAndGet() == 1) {
        c.acceptUpToBody("closing").hearBody();
        c.say("421 4.3.2 closing Service shutting down");
        return; // and the connection closes
      }
      c.serveRest();
    }));
    lab.add(closing);
    SluiceFixture f = sluice("", "{ name: closing, address: 127.0.0.1:" + closing.port() + " }");
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(58), TIMEOUT)) {
      c.command("EHLO gateway.test");
      SmtpReply first = c.send("a@internet.example", "b@corp.example", "Subject: one\n\nhi\n");
      assertThat(first.lines()).containsExactly("451 4.3.2 closing Service shutting down");
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: two\n\nhi\n").code()).isEqualTo(250);
    }
  }

  @Test
  void tooManyRecipientsGets452() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("    limits: { max_recipients: 2 }\n", entry(a));
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO r.test\r\nMAIL FROM:<a@internet.example>\r\nRCPT TO:<1@corp.example>\r\nRCPT TO:<2@corp.example>\r\n"
          + "RCPT TO:<3@corp.example>\r\n");
      r.expect("250");
      r.expect("250");
      r.expect("250");
      r.expect("250");
      assertThat(r.reply()).startsWith("452 4.5.3");
    }
  }

  @Test
  void messageOverTheSizeLimitGets552() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("    limits: { max_message_size: 10KB }\n", entry(a));
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(54), TIMEOUT)) {
      c.command("EHLO x.test");
      SmtpReply r = c.send("a@internet.example", "b@corp.example", "Subject: big\n\n" + "y".repeat(80) + "\n".repeat(1) 
          + ("z".repeat(100) + "\n").repeat(200));
      assertThat(r.code()).isEqualTo(552);
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: small\n\nok\n").code()).isEqualTo(250);
    }
    assertThat(a.messages()).isEqualTo(1);
  }

  /** RFC 1870: quoting dots are not part of a message's size. 9,000 bytes here, 12,000 on the wire. */
  @Test
  void dotStuffingDoesNotCountTowardsTheSizeLimit() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice("    limits: { max_message_size: 10KB }\n", entry(a));
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(54), TIMEOUT)) {
      c.command("EHLO x.test");
      String dots = ".\n".repeat(2990); // each goes as "..": four bytes on the wire, three in the message
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: dots\n\n" + dots).code()).isEqualTo(250);
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: dots\n\n" + dots + dots).code())
          .isEqualTo(552);
    }
    assertThat(a.messages()).isEqualTo(1);
  }

  @Test
  void aBackendRefusingTheClientsEhloNameIsAVerdictOnTheClientNotOnTheBackend() throws Exception {
    // As Postfix's reject_invalid_helo_hostname answers EHLO bad..name; the probe's own name passes.
    ScriptedPeer strict = lab.add(new ScriptedPeer(c -> {
      c.say("220 strict ESMTP");
      String ehlo = c.hearUntil("EHLO");
      if (ehlo != null && ehlo.contains("..")) {
        c.say("501 5.5.2 <bad..name>: Helo command rejected: Invalid name");
      } else {
        c.say("250-strict").say("250 PIPELINING");
      }
      c.serveRest();
    }));
    SluiceFixture f = sluice("", "{ name: strict, address: 127.0.0.1:" + strict.port() + " }");
    for (int i = 0; i < 5; i++) {
      try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(60), TIMEOUT)) {
        c.command("EHLO bad..name");
        c.command("MAIL FROM:<a@internet.example>"); // Sluice's 250: MAIL goes with the first RCPT
        SmtpReply rcpt = c.command("RCPT TO:<b@corp.example>");
        assertThat(rcpt.code()).as("session %d: %s", i, rcpt).isEqualTo(501);
        assertThat(rcpt.text()).contains("Helo command rejected");
      }
    }
    // Five refusals in a row (three eject on a backend's own failures), and it still serves others.
    assertThat(f.server().passive("l").ejected(f.server().pools().get("p").backends().get(0))).isFalse();
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(61), TIMEOUT)) {
      c.command("EHLO good.example");
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: t\n\nhi\n").code()).isEqualTo(250);
    }
  }
}
