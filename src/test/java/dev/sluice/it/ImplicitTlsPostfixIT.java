package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.health.ProbeTarget;
import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.PostfixPair;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SwaksResult;
import dev.sluice.testing.TestCertificates;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Port 465 through tcp mode: two real Postfix instances with an smtpd in wrapper mode (TLS from
 * the first byte, their own certificates) behind a PROXY v2 header, swaks connecting with
 * {@code --tls-on-connect}. TLS passes through Sluice to Postfix, Postfix learns the real client
 * address, probes shake hands before the banner, and every message swaks was told is accepted is
 * delivered.
 */
@Tag("integration")
class ImplicitTlsPostfixIT {
  static PostfixPair pair;
  static final int[] SMTPS_PORTS = new int[2];

  @BeforeAll
  static void startPostfix() throws Exception {
    Path certs = Files.createTempDirectory("sluice-smtps-");
    List<UnaryOperator<PostfixInstance.Builder>> builders = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      String name = (i == 0 ? "a" : "b") + ".smtps.test";
      TestCertificates.Issued cert = TestCertificates.selfSigned(name, Instant.now().minus(Duration.ofDays(1)),
          Instant.now().plus(Duration.ofDays(90)));
      Path pem = certs.resolve(name + ".pem");
      Path key = certs.resolve(name + ".key");
      cert.writePem(pem, key);
      SMTPS_PORTS[i] = Loopback.freePort();
      int port = SMTPS_PORTS[i];
      builders.add(b -> b.additionalListener(port, Map.of(
          "smtpd_tls_wrappermode", "yes",
          "smtpd_tls_security_level", "encrypt",
          "smtpd_tls_cert_file", pem.toString(),
          "smtpd_tls_key_file", key.toString(),
          "smtpd_upstream_proxy_protocol", "haproxy")));
    }
    pair = PostfixPair.start("smtps", builders.get(0), builders.get(1));
  }

  @AfterAll
  static void stopPostfix() {
    if (pair != null) {
      pair.close();
    }
  }

  @Test
  void tlsPassesThroughToPostfixWhichSeesTheRealClientAndNothingIsLost() throws Exception {
    PostfixInstance a = pair.a();
    PostfixInstance b = pair.b();
    pair.mark();
    try (SluiceFixture sluice = SluiceFixture.start("""
        health:
          smtps:
            steps: [connect, tls, banner, ehlo, mail_from, quit]
            mail_from: probe@internet.example
            interval: 60s
            timeout: 5s
        pools:
          submission:
            backends:
              - { name: a, address: "%s:%d" }
              - { name: b, address: "%s:%d" }
        listeners:
          smtps:
            listen: 127.0.0.1:0
            mode: tcp
            pool: submission
            health: smtps
            implicit_tls: true
            client_identity: proxy_v2
        """.formatted(a.address(), SMTPS_PORTS[0], b.address(), SMTPS_PORTS[1]))) {
      for (ProbeTarget t : sluice.server().health().all()) {
        assertThat(t.state().name()).as("%s%n%s", t.lastResult().transcript(), String.join("\n", a.maillog()))
            .isEqualTo("UP");
        assertThat(t.lastResult().certificate().subject()).isEqualTo("CN=" + t.backend().name() + ".smtps.test");
      }
      int port = sluice.address("smtps").getPort();
      for (int i = 0; i < 6; i++) {
        SwaksResult r = SmtpClients.swaks("127.0.0.1", port, "app@internet.example", "user@example.test", "127.0.0.83",
            "--tls-on-connect");
        assertThat(r.succeeded()).as(r.transcript()).isTrue();
        assertThat(r.transcript()).contains("TLS started");
      }
      pair.assertNothingLost(6);
      assertThat(pair.deliveredA()).isEqualTo(3);
      assertThat(pair.deliveredB()).isEqualTo(3);
      a.awaitMaillog("connect from unknown[127.0.0.83]");
      b.awaitMaillog("connect from unknown[127.0.0.83]");
    }
  }
}
