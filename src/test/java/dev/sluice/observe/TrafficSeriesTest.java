package dev.sluice.observe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Backend;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver.Outcome;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class TrafficSeriesTest {
  final AtomicLong millis = new AtomicLong(1_000 * 60_000L);
  final TrafficSeries series = new TrafficSeries(millis::get);
  final SessionInfo smtp = new SessionInfo("l", new InetSocketAddress("127.0.0.1", 25), new InetSocketAddress("127.0.0.2", 4000));
  final Backend a = ProtocolLogTest.backend("a");
  final TrafficSeries.Key key = new TrafficSeries.Key("l", "hub", "a");

  @Test
  void countsAcceptedMessagesAndTcpSessionsPerMinuteAndForgetsAfterAnHour() {
    series.transaction(smtp, a, Outcome.ACCEPTED, 100);
    series.transaction(smtp, a, Outcome.DEFERRED, 0); // not given to the backend
    series.transaction(smtp, null, Outcome.REJECTED, 0);
    millis.addAndGet(60_000);
    series.bytes(smtp, a, 10, 20);
    series.bytes(smtp, a, 10, 20);
    long[] v = series.perMinute(key);
    assertThat(v).hasSize(TrafficSeries.MINUTES);
    assertThat(v[TrafficSeries.MINUTES - 2]).isEqualTo(1);
    assertThat(v[TrafficSeries.MINUTES - 1]).isEqualTo(2);
    assertThat(series.total("hub", "a")).isEqualTo(3);

    millis.addAndGet(59 * 60_000L); // the first minute has left the window
    assertThat(series.perMinute(key)[0]).isEqualTo(2);
    assertThat(java.util.Arrays.stream(series.perMinute(key)).sum()).isEqualTo(2);
    series.transaction(smtp, a, Outcome.ACCEPTED, 1); // reuses the slot of the first minute
    assertThat(series.perMinute(key)[TrafficSeries.MINUTES - 1]).isEqualTo(1);
    millis.addAndGet(60 * 60_000L);
    assertThat(java.util.Arrays.stream(series.perMinute(key)).sum()).isZero();
    assertThat(series.total("hub", "a")).isEqualTo(4);
  }

  @Test
  void retryReasonsFoldIntoAFewLabels() {
    assertThat(Metrics.retryReason("connect failed: connection refused")).isEqualTo("connect");
    assertThat(Metrics.retryReason("no reply to MAIL within 30s")).isEqualTo("timeout");
    assertThat(Metrics.retryReason("timeout waiting for banner reply")).isEqualTo("timeout");
    assertThat(Metrics.retryReason("banner 554 go away")).isEqualTo("banner");
    assertThat(Metrics.retryReason("MAIL FROM answered 452 4.3.1 Insufficient system resources")).isEqualTo("reply_4xx");
    assertThat(Metrics.retryReason("backend closed the connection")).isEqualTo("closed");
    assertThat(Metrics.retryReason("session setup: connect failed: connection refused")).isEqualTo("connect");
    assertThat(Metrics.retryReason("session setup: XCLIENT refused: 550 5.7.0 Error: insufficient authorization"))
        .isEqualTo("identity");
    assertThat(Metrics.retryReason("session setup: backend does not offer XCLIENT to Sluice (Postfix: ...)"))
        .isEqualTo("identity");
    assertThat(Metrics.retryReason("session setup: STARTTLS refused: 454 4.7.0 TLS not available")).isEqualTo("tls");
    assertThat(Metrics.retryReason("session setup: TLS handshake failed: No subject alternative names")).isEqualTo("tls");
    assertThat(Metrics.retryReason("session setup: EHLO refused: 554 5.7.1 no")).isEqualTo("reply_5xx");
    assertThat(Metrics.retryReason("session setup: backend closed the connection")).isEqualTo("closed");
    assertThat(Metrics.retryReason("AUTH: does not offer AUTH to Sluice (Postfix: ... set backend_tls)")).isEqualTo("auth");
    assertThat(Metrics.retryReason("AUTH answered 454 4.7.0 Temporary authentication failure")).isEqualTo("reply_4xx");
  }
}
