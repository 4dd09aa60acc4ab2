package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.TestCertificates;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** STARTTLS and implicit TLS on smtp listeners. */
class SmtpTlsTest {
  @TempDir Path dir;
  EventLoopGroup group;
  EmbeddedSmtpServer backend;
  SluiceFixture sluice;
  Path cert;
  Path key;

  @BeforeEach
  void setUp() throws Exception {
    group = Transport.NIO.newGroup(1);
    backend = new EmbeddedSmtpServer("b", null).start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO);
    cert = dir.resolve("cert.pem");
    key = dir.resolve("key.pem");
    TestCertificates.selfSigned("mx.first.test", Instant.now().minusSeconds(60), Instant.now().plusSeconds(86_400))
        .writePem(cert, key);
  }

  @AfterEach
  void tearDown() {
    if (sluice != null) {
      sluice.close();
    }
    backend.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  InetSocketAddress start(boolean implicit) throws Exception {
    return start("implicit: " + implicit);
  }

  /** A listener with {@code tls: { cert, key, <tlsOptions> }}. */
  InetSocketAddress start(String tlsOptions) throws Exception {
    sluice = SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ "127.0.0.1:%d" ] } }
        listeners:
          l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, hostname: mx.test,
               tls: { cert: "%s", key: "%s", %s } }
        """.formatted(backend.port(), cert, key, tlsOptions));
    return sluice.address("l");
  }

  static SSLContext trustAll() throws Exception {
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, new TrustManager[] {new X509TrustManager() {
      @Override
      public void checkClientTrusted(X509Certificate[] chain, String authType) {}

      @Override
      public void checkServerTrusted(X509Certificate[] chain, String authType) {}

      @Override
      public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
      }
    }}, null);
    return ctx;
  }

  @Test
  void starttlsProtectsTheSessionAndThePlaintextPipelinedAfterItIsDiscarded() throws Exception {
    InetSocketAddress at = start(false);
    try (RawSmtpClient c = new RawSmtpClient(new Socket(at.getAddress(), at.getPort()))) {
      assertThat(c.replyLines()).startsWith("220 mx.test");
      c.send("EHLO client.test\r\n");
      assertThat(c.replyLines()).contains("250-STARTTLS");
      // An attacker's injection rides in the same packet as STARTTLS (CVE-2011-0411).
      c.send("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n");
      assertThat(c.replyLines()).startsWith("220 2.0.0");
      SSLSocket tls = c.upgrade(trustAll(), "mx.test");
      assertThat(tls.getSession().getProtocol()).isIn("TLSv1.3", "TLSv1.2");
      assertThat(((X509Certificate) tls.getSession().getPeerCertificates()[0]).getSubjectX500Principal().getName())
          .isEqualTo("CN=mx.first.test");
      // The injected MAIL was dropped: the session starts afresh and must greet first.
      c.send("MAIL FROM:<a@b.example>\r\n");
      assertThat(c.replyLines()).startsWith("503");
      c.send("EHLO client.test\r\n");
      assertThat(c.replyLines()).doesNotContain("STARTTLS");
      c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
      assertThat(c.replyLines()).startsWith("250");
      assertThat(c.replyLines()).startsWith("250");
      assertThat(c.replyLines()).startsWith("354");
      c.send("Subject: over TLS\r\n\r\nhello\r\n.\r\nQUIT\r\n");
      assertThat(c.replyLines()).startsWith("250 2.0.0 Ok: queued");
      assertThat(c.replyLines()).startsWith("221");
    }
    assertThat(backend.messages()).isEqualTo(1);
  }

  @Test
  void implicitTlsListenerGreetsOnlyAfterTheHandshake() throws Exception {
    InetSocketAddress at = start(true);
    try (RawSmtpClient c = new RawSmtpClient(trustAll().getSocketFactory().createSocket(at.getAddress(), at.getPort()))) {
      assertThat(c.replyLines()).startsWith("220 mx.test");
      c.send("EHLO client.test\r\n");
      assertThat(c.replyLines()).doesNotContain("STARTTLS");
    }
    assertThat(tlsSessions("implicit")).isEqualTo(1);
  }

  @Test
  void renewedCertificateIsUsedWithoutARestart() throws Exception {
    InetSocketAddress at = start(true);
    TestCertificates.selfSigned("mx.second.test", Instant.now().minusSeconds(60), Instant.now().plusSeconds(86_400))
        .writePem(cert, key);
    Files.setLastModifiedTime(cert, FileTime.from(Instant.now().plusSeconds(5)));
    Files.setLastModifiedTime(key, FileTime.from(Instant.now().plusSeconds(5)));
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      try (SSLSocket s = (SSLSocket) trustAll().getSocketFactory().createSocket(at.getAddress(), at.getPort())) {
        s.startHandshake();
        return ((X509Certificate) s.getSession().getPeerCertificates()[0]).getSubjectX500Principal().getName()
            .equals("CN=mx.second.test");
      }
    });
  }

  @Test
  void pythonSmtplibSendsOverStarttls() throws Exception {
    InetSocketAddress at = start(false);
    String script = String.join("\n",
        "import smtplib, ssl, sys",
        "s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)",
        "s.starttls(context=ssl._create_unverified_context())",
        "s.sendmail('a@corp.example', ['b@example.test'], b'Subject: smtplib tls\\r\\n\\r\\nhello\\r\\n')",
        "print('TLS', s.sock.version())",
        "s.quit()");
    var r = dev.sluice.lab.ExternalCommand.run(Duration.ofSeconds(60), java.util.List.of("python3", "-c", script,
        Integer.toString(at.getPort())));
    assertThat(r.exitCode()).as(r.output()).isZero();
    assertThat(r.output()).contains("TLS TLSv1.");
    assertThat(backend.messages()).isEqualTo(1);
  }

  @Test
  void swaksSendsOverStarttls() throws Exception {
    InetSocketAddress at = start(false);
    SmtpClients.SwaksResult r = SmtpClients.swaks("127.0.0.1", at.getPort(), "a@corp.example", "b@example.test", "127.0.0.70",
        "--tls");
    assertThat(r.succeeded()).as(r.transcript()).isTrue();
    assertThat(r.transcript()).contains("TLS started");
    assertThat(backend.messages()).isEqualTo(1);
  }

  @Test
  void aListenerThatRequiresTlsRefusesMailInPlainTextAndTakesItAfterStarttls() throws Exception {
    InetSocketAddress at = start("required: true");
    SmtpClients.SwaksResult plain = SmtpClients.swaks("127.0.0.1", at.getPort(), "a@corp.example", "b@example.test",
        "127.0.0.71");
    assertThat(plain.succeeded()).isFalse();
    assertThat(plain.serverReplies()).contains("530 5.7.0 Must issue a STARTTLS command first");
    assertThat(backend.messages()).isZero();

    SmtpClients.SwaksResult tls = SmtpClients.swaks("127.0.0.1", at.getPort(), "a@corp.example", "b@example.test",
        "127.0.0.71", "--tls");
    assertThat(tls.succeeded()).as(tls.transcript()).isTrue();
    assertThat(backend.messages()).isEqualTo(1);
    assertThat(tlsSessions("starttls")).isEqualTo(1);
    assertThat(tlsSessions("implicit")).isZero();
  }

  /** {@code sluice_client_tls_total} of listener l for {@code how}. */
  double tlsSessions(String how) throws Exception {
    return sluice.metrics().sum("sluice_client_tls_total", "listener", "l", "how", how);
  }
}
