package dev.sluice.proxy.tcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.TestCertificates;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * tcp mode with {@code implicit_tls} (port 465): the client's TLS handshake passes through to the
 * servers, which greet only inside it, so Sluice joins the client without reading a banner; the
 * probes shake hands first.
 */
class TcpImplicitTlsTest {
  final LoopbackLab lab = new LoopbackLab();
  final TestCertificates.Issued certA = cert("a.smtps.test");
  final TestCertificates.Issued certB = cert("b.smtps.test");

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  static TestCertificates.Issued cert(String name) {
    return TestCertificates.selfSigned(name, Instant.now().minus(Duration.ofDays(1)), Instant.now().plus(Duration.ofDays(60)));
  }

  SluiceFixture sluice(ScriptedPeer... backends) throws Exception {
    StringBuilder y = new StringBuilder();
    y.append("health:\n  smtps:\n    steps: [connect, tls, banner, ehlo, quit]\n    interval: 60s\n    timeout: 5s\n");
    y.append("pools:\n  p:\n    backends:\n");
    char name = 'a';
    for (ScriptedPeer b : backends) {
      y.append("      - { name: ").append(name++).append(", address: 127.0.0.1:").append(b.port()).append(" }\n");
    }
    y.append("listeners:\n  subm:\n    listen: 127.0.0.1:0\n    mode: tcp\n    pool: p\n    health: smtps\n"
        + "    implicit_tls: true\n");
    SluiceFixture f = SluiceFixture.start(y.toString());
    lab.add(f);
    return f;
  }

  /** A client that trusts the two servers' certificates (not Sluice's: it has none on this port). */
  SSLContext clientTls() throws Exception {
    KeyStore trusted = KeyStore.getInstance(KeyStore.getDefaultType());
    trusted.load(null, null);
    trusted.setCertificateEntry("a", certA.certificate());
    trusted.setCertificateEntry("b", certB.certificate());
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trusted);
    SSLContext c = SSLContext.getInstance("TLS");
    c.init(null, tmf.getTrustManagers(), null);
    return c;
  }

  /** One session over TLS through Sluice: the server's certificate subject, and its banner. */
  List<String> session(InetSocketAddress at) throws Exception {
    try (SSLSocket s = (SSLSocket) clientTls().getSocketFactory().createSocket(at.getAddress(), at.getPort())) {
      s.setSoTimeout(10_000);
      s.startHandshake(); // the client speaks first: its ClientHello reaches the server through Sluice
      String subject = ((X509Certificate) s.getSession().getPeerCertificates()[0]).getSubjectX500Principal().getName();
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
      OutputStream out = s.getOutputStream();
      String banner = in.readLine();
      out.write("EHLO client.test\r\nQUIT\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      List<String> replies = new ArrayList<>(List.of(subject, banner));
      for (String line; (line = in.readLine()) != null; ) {
        replies.add(line);
      }
      return replies;
    }
  }

  static boolean refuses(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
      return false;
    } catch (java.io.IOException e) {
      return true;
    }
  }

  @Test
  void theClientsTlsReachesTheServersAndSessionsAreSpread() throws Exception {
    ScriptedPeer a = lab.add(new ScriptedPeer(ScriptedPeer.implicitTlsServer(certA.serverContext())));
    ScriptedPeer b = lab.add(new ScriptedPeer(ScriptedPeer.implicitTlsServer(certB.serverContext())));
    SluiceFixture f = sluice(a, b);
    assertThat(f.server().health().all()).allSatisfy(t -> {
      assertThat(t.state().name()).isEqualTo("UP");
      assertThat(t.lastResult().certificate()).as("the probe saw the server's certificate").isNotNull();
    });
    List<String> subjects = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      List<String> s = session(f.address("subm"));
      assertThat(s.subList(1, s.size())).containsExactly("220 smtps.scripted ESMTP", "250-scripted", "250 PIPELINING",
          "221 2.0.0 Bye");
      subjects.add(s.get(0));
    }
    // The certificates are the servers' own: TLS ends there, not at Sluice.
    assertThat(subjects).containsExactlyInAnyOrder("CN=a.smtps.test", "CN=a.smtps.test", "CN=b.smtps.test", "CN=b.smtps.test");
  }

  @Test
  void aServerThatCannotBeReachedIsPassedOverBeforeTheClientSeesIt() throws Exception {
    ScriptedPeer a = lab.add(new ScriptedPeer(ScriptedPeer.implicitTlsServer(certA.serverContext())));
    ScriptedPeer b = lab.add(new ScriptedPeer(ScriptedPeer.implicitTlsServer(certB.serverContext())));
    SluiceFixture f = sluice(a, b);
    a.close(); // faster than the next probe (60 s) can notice
    await().atMost(Duration.ofSeconds(10)).until(() -> refuses(a.port()));
    for (int i = 0; i < 4; i++) {
      assertThat(session(f.address("subm"))).startsWith("CN=b.smtps.test", "220 smtps.scripted ESMTP");
    }
  }
}
