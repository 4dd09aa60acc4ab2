package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.ExternalCommand;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.PostfixPair;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SmtplibResult;
import jakarta.mail.Message;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeMessage;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * smtp mode in front of two real Postfix instances: per-transaction balancing on one connection,
 * retry of refused transactions, smuggling-proof framing, and real clients. Every test counts what
 * the clients were told was accepted against what Postfix delivered.
 */
@Tag("integration")
class SmtpModePostfixIT {
  static PostfixPair pair;
  static PostfixInstance pfA;
  static PostfixInstance pfB;
  SluiceFixture sluice;

  @BeforeAll
  static void startPostfix() {
    pair = PostfixPair.start("smtp", b -> b.mainCf("message_size_limit", "104857600").mainCf("virtual_mailbox_limit", "0"));
    pfA = pair.a();
    pfB = pair.b();
  }

  @AfterAll
  static void stopPostfix() {
    if (pair != null) {
      pair.close();
    }
  }

  @BeforeEach
  void counts() {
    pair.mark();
  }

  @AfterEach
  void after() {
    if (sluice != null) {
      sluice.close();
    }
    if (pfA.backPressure()) {
      pfA.setBackPressure(false);
    }
  }

  static String config(String interval, String listenerExtras) {
    return """
        health:
          deep:
            steps: [connect, banner, ehlo, mail_from, quit]
            mail_from: probe@internet.example
            interval: %s
            timeout: 2s
        pools:
          hub:
            backends:
              - { name: a, address: "%s:%d" }
              - { name: b, address: "%s:%d" }
        listeners:
          mx:
            listen: 127.0.0.1:0
            mode: smtp
            pool: hub
            health: deep
            hostname: mx.sluice.test
            limits: { max_message_size: 100MB }
        %s
        """.formatted(interval, pfA.address(), pfA.port(), pfB.address(), pfB.port(), listenerExtras);
  }

  SluiceFixture start(String interval, String listenerExtras) throws Exception {
    sluice = SluiceFixture.start(config(interval, listenerExtras));
    return sluice;
  }

  int port() {
    return sluice.address("mx").getPort();
  }

  int deliveredA() {
    return pair.deliveredA();
  }

  int deliveredB() {
    return pair.deliveredB();
  }

  void assertNothingLost(int accepted) {
    pair.assertNothingLost(accepted);
  }

  @Test
  void hundredMessagesOnOneConnectionSplitOverBothServers() throws Exception {
    start("5s", "");
    SmtplibResult r = SmtpClients.smtplib("127.0.0.1", port(), "127.0.0.50", 100, 100, "news@internet.example", "user@example.test");
    assertThat(r.accepted()).as(r.output()).isEqualTo(100);
    assertNothingLost(100);
    assertThat(deliveredA()).isGreaterThanOrEqualTo(35);
    assertThat(deliveredB()).isGreaterThanOrEqualTo(35);
  }

  @Test
  void backPressureIsRetriedOnTheOtherServerBeforeHealthNotices() throws Exception {
    start("30s", "");
    pfA.setBackPressure(true);
    SmtplibResult r = SmtpClients.smtplib("127.0.0.1", port(), "127.0.0.50", 40, 40, "news@internet.example", "user@example.test");
    assertThat(r.accepted()).as(r.output()).isEqualTo(40);
    assertNothingLost(40);
    assertThat(deliveredA()).as("nothing to the refusing server").isZero();
    assertThat(deliveredB()).isEqualTo(40);
  }

  /**
   * A client that pipelines like Postfix's own smtp client (RFC 2920: MAIL, RCPT and DATA in one
   * write): Sluice sends each group to a server in one write too. With back pressure on server A,
   * a group refused at MAIL there goes again, whole, to server B; the client hears only B.
   */
  @Test
  void pipelinedGroupsAreSentWholeAndRetriedWholeUnderBackPressure() throws Exception {
    start("30s", "");
    String group = "MAIL FROM:<news@internet.example>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n";
    int accepted = 0;
    try (RawSmtpClient r = RawSmtpClient.connect(sluice.address("mx"), "127.0.0.65")) {
      r.expect("220");
      r.send("EHLO pipelining.test\r\n");
      r.expect("250");
      for (int i = 0; i < 40; i++) {
        if (i == 20) {
          pfA.setBackPressure(true);
        }
        r.send(group);
        assertThat(r.reply()).as("MAIL of message %d", i).startsWith("250 2.1.0");
        assertThat(r.reply()).as("RCPT of message %d", i).startsWith("250 2.1.5");
        assertThat(r.reply()).as("DATA of message %d", i).startsWith("354");
        r.send("Subject: pipelined " + i + "\r\n\r\nhello\r\n.\r\n");
        accepted += r.reply().startsWith("250 2.0.0") ? 1 : 0;
      }
      r.send("QUIT\r\n");
      r.expect("221");
    }
    assertThat(accepted).isEqualTo(40);
    assertNothingLost(40);
    assertThat(deliveredA()).as("half of the first twenty, none after back pressure").isEqualTo(10);
    assertThat(deliveredB()).isEqualTo(30);
  }

  /** Published end-of-data variants that Postfix 3.7 may take as the end of a message. */
  @ParameterizedTest
  @ValueSource(strings = {"\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\r\n.\n", "\n..\r\n"})
  void smugglingNeverDeliversASecondMessage(String variant) throws Exception {
    for (String mode : List.of("reject", "normalize")) {
      start("5s", "    bare_newline: " + mode + "\n");
      String reply;
      try (RawSmtpClient c = RawSmtpClient.connect(sluice.address("mx"), null)) {
        c.expect("220");
        c.send("EHLO attacker.test\r\n");
        c.expect("250 ");
        c.send("MAIL FROM:<a@internet.example>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n");
        c.expect("250");
        c.expect("250");
        c.expect("354");
        c.send("Subject: carrier\r\n\r\nbefore" + variant
            + "MAIL FROM:<evil@internet.example>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
            + "Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n");
        reply = c.reply();
        c.send("QUIT\r\n");
      }
      if (mode.equals("reject")) {
        assertThat(reply).as("reject mode, variant %s", escape(variant)).startsWith("550 5.6.0");
      } else {
        assertThat(reply).as("normalize mode, variant %s", escape(variant)).startsWith("250");
      }
      int expected = mode.equals("reject") ? 0 : 1;
      assertNothingLost(expected);
      List<String> delivered = new java.util.ArrayList<>(pfA.deliveredMessageContents());
      delivered.addAll(pfB.deliveredMessageContents());
      assertThat(delivered).as("variant %s in %s mode", escape(variant), mode)
          .noneMatch(m -> m.contains("Subject: smuggled") && !m.contains("Subject: carrier"));
      sluice.close();
      sluice = null;
      counts();
    }
  }

  private static String escape(String s) {
    return s.replace("\r", "<CR>").replace("\n", "<LF>");
  }

  @Test
  void realClientsAllGetTheirMailThrough() throws Exception {
    start("5s", "");
    int accepted = 0;
    // Postfix's own load generator, several messages per connection.
    SmtpClients.SmtpSourceResult src = SmtpClients.smtpSource("127.0.0.1", port(), 4, 200, 1024, "-d");
    assertThat(src.succeeded()).as(src.output()).isTrue();
    accepted += 200;
    // swaks with PIPELINING.
    for (int i = 0; i < 3; i++) {
      SmtpClients.SwaksResult s = SmtpClients.swaks("127.0.0.1", port(), "app@corp.example", "user@example.test", "127.0.0.61",
          "--pipeline");
      assertThat(s.succeeded()).as(s.transcript()).isTrue();
      accepted++;
    }
    // Python smtplib, two connections.
    SmtplibResult py = SmtpClients.smtplib("127.0.0.1", port(), "127.0.0.62", 10, 5, "app@corp.example", "user@example.test");
    assertThat(py.accepted()).as(py.output()).isEqualTo(10);
    accepted += 10;
    // curl's SMTP client.
    Path mail = Files.writeString(Files.createTempFile("curl", ".eml"), "Subject: curl\r\n\r\nfrom curl\r\n");
    for (int i = 0; i < 3; i++) {
      ExternalCommand.Result c = ExternalCommand.run(Duration.ofSeconds(30), List.of("curl", "-sS", "--interface", "127.0.0.63",
          "smtp://127.0.0.1:" + port(), "--mail-from", "app@corp.example", "--mail-rcpt", "user@example.test", "-T",
          mail.toString()));
      assertThat(c.exitCode()).as(c.output()).isZero();
      accepted++;
    }
    Files.delete(mail);
    // Jakarta (Angus) Mail.
    Properties props = new Properties();
    props.put("mail.smtp.host", "127.0.0.1");
    props.put("mail.smtp.port", Integer.toString(port()));
    props.put("mail.smtp.localaddress", "127.0.0.64");
    props.put("mail.smtp.timeout", "10000");
    Session session = Session.getInstance(props);
    try (Transport t = session.getTransport("smtp")) {
      t.connect();
      for (int i = 0; i < 5; i++) {
        MimeMessage m = new MimeMessage(session);
        m.setFrom(new InternetAddress("app@corp.example"));
        m.setRecipient(Message.RecipientType.TO, new InternetAddress("user@example.test"));
        m.setSubject("angus " + i);
        m.setText("from Jakarta Mail\n");
        t.sendMessage(m, m.getAllRecipients());
        accepted++;
      }
    }
    assertNothingLost(accepted);
  }

  @Test
  void fiftyMegabyteMessageStreamsThroughWithBoundedMemory(@TempDir Path dir) throws Exception {
    Path cfg = dir.resolve("sluice.yaml");
    int port = dev.sluice.testing.Loopback.freePort();
    Files.writeString(cfg, config("5s", "").replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:" + port));
    Path body = dir.resolve("big.eml");
    try (OutputStream out = Files.newOutputStream(body)) {
      out.write("Subject: fifty megabytes\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      byte[] line = ("x".repeat(998) + "\r\n").getBytes(StandardCharsets.US_ASCII);
      for (int i = 0; i < 50 * 1024 * 1024 / line.length; i++) {
        out.write(line);
      }
    }
    // A separate Sluice whose heap cannot hold the message: it passes only if the body streams.
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx32m", "-XX:MaxDirectMemorySize=32m", "-cp", System.getProperty("java.class.path"),
        "dev.sluice.cli.Main", "run", "-c", cfg.toString()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("sluice.out").toFile());
    Process sluiceProcess = pb.start();
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(dir.resolve("sluice.out")).contains("listener mx"));
      ExternalCommand.Result c = ExternalCommand.run(Duration.ofSeconds(120), List.of("curl", "-sS", "smtp://127.0.0.1:" + port,
          "--mail-from", "big@corp.example", "--mail-rcpt", "user@example.test", "-T", body.toString()));
      assertThat(c.exitCode()).as(c.output() + Files.readString(dir.resolve("sluice.out"))).isZero();
      assertNothingLost(1);
      assertThat(sluiceProcess.isAlive()).as(Files.readString(dir.resolve("sluice.out"))).isTrue();
    } finally {
      sluiceProcess.destroy();
      sluiceProcess.waitFor();
    }
  }

}
