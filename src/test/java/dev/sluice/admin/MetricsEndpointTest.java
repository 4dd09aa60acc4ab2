package dev.sluice.admin;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.AdminClient;
import dev.sluice.testing.PrometheusText;
import dev.sluice.testing.SluiceFixture;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** GET /metrics over real HTTP: valid Prometheus text whose counters match the traffic sent. */
class MetricsEndpointTest extends AdminTestBase {
  static final Duration TIMEOUT = Duration.ofSeconds(10);

  @Test
  void countersMatchTheTrafficSent() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER + TCP_LISTENER, a, b));
    for (int c = 0; c < 2; c++) {
      try (LabSmtpClient client = LabSmtpClient.connect(f.address("l"), client(60 + c), TIMEOUT)) {
        client.command("EHLO c" + c);
        for (int m = 0; m < 3; m++) {
          assertThat(client.send("x@internet.example", "y@corp.example", "Subject: m" + m + "\r\n\r\nhello").code())
              .isEqualTo(250);
        }
      }
    }
    try (LabSmtpClient client = LabSmtpClient.connect(f.address("t"), client(70), TIMEOUT)) {
      client.command("EHLO tcp");
      assertThat(client.send("x@corp.example", "y@corp.example", "hello").code()).isEqualTo(250);
    }
    try (LabSmtpClient refused = LabSmtpClient.connect(f.address("l"), client(71), TIMEOUT)) {
      assertThat(refused.command("RCPT TO:<y@corp.example>").code()).isEqualTo(503); // out of sequence
    }
    AdminClient admin = admin(f);
    await().atMost(TIMEOUT).untilAsserted(() -> {
      PrometheusText m = PrometheusText.parse(admin.get("/metrics").body());
      assertThat(m.sum("sluice_sessions_active")).isZero();
      assertThat(m.sum("sluice_bytes_total", "listener", "t", "direction", "to_client")).isPositive();
    });
    HttpResponse<String> resp = admin.get("/metrics");
    assertThat(resp.statusCode()).isEqualTo(200);
    assertThat(resp.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/plain"));
    PrometheusText m = PrometheusText.parse(resp.body());

    assertThat(m.type("sluice_sessions_total")).isEqualTo("counter");
    assertThat(m.sum("sluice_sessions_total", "listener", "l")).isEqualTo(3);
    assertThat(m.sum("sluice_sessions_total", "listener", "t")).isEqualTo(1);
    assertThat(m.sum("sluice_transactions_total", "listener", "l", "outcome", "accepted")).isEqualTo(6);
    assertThat(m.sum("sluice_transactions_total", "listener", "l", "pool", "p", "backend", "a")
        + m.sum("sluice_transactions_total", "listener", "l", "pool", "p", "backend", "b")).isEqualTo(6);
    assertThat(m.sum("sluice_backend_selections_total", "listener", "l")).isEqualTo(6);
    assertThat(m.sum("sluice_backend_selections_total", "listener", "t")).isEqualTo(1);
    assertThat(m.sum("sluice_replies_total", "listener", "l", "stage", "end_of_data", "class", "2xx")).isEqualTo(6);
    assertThat(m.sum("sluice_replies_total", "listener", "l", "class", "5xx")).isEqualTo(1);
    assertThat(m.sum("sluice_bytes_total", "listener", "l", "direction", "from_client")).isPositive();
    assertThat(m.sum("sluice_backend_up", "pool", "p", "backend", "a", "profile", "deep")).isEqualTo(1);
    assertThat(m.sum("sluice_backend_state", "backend", "b", "state", "up")).isEqualTo(1);
    assertThat(m.sum("sluice_backend_admin_state", "backend", "a", "state", "enabled")).isEqualTo(1);
    assertThat(m.sum("sluice_backend_weight", "backend", "a")).isEqualTo(1);
    assertThat(m.type("sluice_probe_duration_seconds")).isEqualTo("histogram");
    assertThat(m.sum("sluice_probe_duration_seconds_count", "backend", "a", "outcome", "ok")).isGreaterThanOrEqualTo(1);
    assertThat(m.sum("sluice_protocol_log_dropped_total")).isZero();
    assertThat(a.messages() + b.messages()).isEqualTo(7);
  }

  @Test
  void rejectionsAndRetriesAreCountedByReason() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER.replace("hostname: mx.test", "hostname: mx.test\n    allow: [127.0.0.1/32]"),
        a));
    try (java.net.Socket s = new java.net.Socket()) {
      s.bind(new java.net.InetSocketAddress(client(80), 0));
      s.connect(f.address("l"));
      s.getInputStream().read(); // the 554 refusal
    }
    AdminClient admin = admin(f);
    await().atMost(TIMEOUT).untilAsserted(() ->
        assertThat(PrometheusText.parse(admin.get("/metrics").body()).sum("sluice_rejections_total", "listener", "l",
            "reason", "acl")).isEqualTo(1));
  }

  /**
   * A retry counts when another backend is tried; the failure of the last one left shows as the
   * transaction's outcome at that backend, not as a retry that never happened.
   */
  @Test
  void aRetryCountsOnlyWhenAnotherBackendIsTried() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER, a));
    a.setBackPressure(true); // after the first probe: a is UP, and refuses internet senders with 452
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(81), TIMEOUT)) {
      c.command("EHLO c81");
      assertThat(c.send("x@internet.example", "y@corp.example", "hello").code()).isEqualTo(452);
    }
    AdminClient admin = admin(f);
    await().atMost(TIMEOUT).untilAsserted(() -> {
      PrometheusText m = PrometheusText.parse(admin.get("/metrics").body());
      assertThat(m.sum("sluice_transactions_total", "listener", "l", "backend", "a", "outcome", "deferred")).isEqualTo(1);
      assertThat(m.sum("sluice_retries_total")).isZero();
    });
  }

  @Test
  void aRetryOnAnotherBackendIsCountedWithItsReason() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER, a, b));
    a.setBackPressure(true);
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(82), TIMEOUT)) {
      c.command("EHLO c82");
      for (int i = 0; i < 4; i++) {
        assertThat(c.send("x@internet.example", "y@corp.example", "hello").code()).isEqualTo(250);
      }
    }
    AdminClient admin = admin(f);
    await().atMost(TIMEOUT).untilAsserted(() -> {
      PrometheusText m = PrometheusText.parse(admin.get("/metrics").body());
      assertThat(m.sum("sluice_transactions_total", "backend", "b", "outcome", "accepted")).isEqualTo(4);
      assertThat(m.sum("sluice_retries_total", "backend", "a", "reason", "reply_4xx")).isPositive()
          .isEqualTo(a.refusedAtMailFrom());
    });
  }
}
